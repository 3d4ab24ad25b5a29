//! The check of every stored value of a parsed file: finite floats, positive scales, and
//! int8 values in −127..=127.

use super::{bad, DType, Layout, TensorName, TensorRef};
use crate::error::Error;
use crate::quant;

/// Refuses stored values the runtime cannot use, naming the tensor and the position: a
/// non-finite f32 or f16 value anywhere (weights, embedding rows, scales, biases; NaN
/// scores would be indistinguishable from the "not eligible" NaN of the C ABI), a scale
/// that is not positive, and an int8 value of −128 (the AVX2 kernel's
/// `maddubs(|x|, sign(w, x))` needs |w| ≤ 127). Part of [`parse`](fn@super::parse), so
/// every load pays it: one branch-free pass over each tensor, on bytes the checksum has
/// just read (`load_cost` in `tests/demo_model.rs` measures it).
pub fn check_values(bytes: &[u8], layout: &Layout) -> Result<(), Error> {
    for (f, t) in layout.config.fields.iter().zip(&layout.embeddings) {
        if let Some(t) = t {
            let name = &f.name;
            tensor_values(bytes, t, TensorName::Embedding(name))?;
        }
    }
    for (i, l) in layout.linears.iter().enumerate() {
        tensor_values(bytes, &l.weight, TensorName::Weight(i))?;
        if let Some(b) = l.bias {
            let raw = &bytes[b..b + 4 * l.weight.rows];
            f32_values(raw, 1, TensorName::Bias(i), false)?;
        }
    }
    Ok(())
}

fn tensor_values(bytes: &[u8], t: &TensorRef, name: TensorName) -> Result<(), Error> {
    let raw = &bytes[t.offset..t.offset + t.rows * t.cols * t.dtype.size()];
    match t.dtype {
        DType::F32 => f32_values(raw, t.cols, name, false)?,
        DType::F16 => {
            let non_finite = |b: [u8; 2]| u16::from_le_bytes(b) & 0x7c00 == 0x7c00;
            let value = |b: [u8; 2]| quant::f16_bits_to_f32(u16::from_le_bytes(b));
            refuse(raw, t.cols, name, "is not finite", non_finite, value)?
        }
        DType::I8 => {
            let is_min = |b: [u8; 1]| b[0] == i8::MIN as u8;
            let value = |b: [u8; 1]| f32::from(b[0] as i8);
            refuse(raw, t.cols, name, "is outside -127..=127", is_min, value)?
        }
    }
    match t.scales {
        Some(s) => f32_values(&bytes[s..s + 4 * t.rows], 1, name.scales(), true),
        None => Ok(()),
    }
}

/// Refuses a non-finite value of an f32 tensor, or one not above 0 where `positive`.
fn f32_values(raw: &[u8], cols: usize, name: TensorName, positive: bool) -> Result<(), Error> {
    let value = f32::from_le_bytes;
    if positive {
        let bad = |b: [u8; 4]| !(value(b) > 0.0 && value(b).is_finite());
        refuse(
            raw,
            cols,
            name,
            "is not a finite positive scale",
            bad,
            value,
        )
    } else {
        // The exponent bits all set: ±inf or NaN.
        let bad = |b: [u8; 4]| u32::from_le_bytes(b) & 0x7f80_0000 == 0x7f80_0000;
        refuse(raw, cols, name, "is not finite", bad, value)
    }
}

/// Refuses `raw`, a row-major `[..][cols]` tensor of `W`-byte values, if `bad` holds for
/// any value, naming the first one. Each block is scanned with a branch-free OR so that
/// the scan vectorizes; only a block that holds a bad value is searched again.
fn refuse<const W: usize>(
    raw: &[u8],
    cols: usize,
    name: TensorName,
    rule: &str,
    bad_value: impl Fn([u8; W]) -> bool + Copy,
    value: impl Fn([u8; W]) -> f32,
) -> Result<(), Error> {
    const BLOCK: usize = 4096;
    let word = |c: &[u8]| -> [u8; W] { c.try_into().expect("chunks_exact(W)") };
    for (k, block) in raw.chunks(BLOCK * W).enumerate() {
        let any = block
            .chunks_exact(W)
            .fold(false, |acc, c| acc | bad_value(word(c)));
        if !any {
            continue;
        }
        if let Some((i, c)) = block
            .chunks_exact(W)
            .enumerate()
            .find(|&(_, c)| bad_value(word(c)))
        {
            let at = k * BLOCK + i;
            return Err(bad(format_args!(
                "{name}: value {} at [{}][{}] {rule}",
                value(word(c)),
                at / cols,
                at % cols
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_bad_value_is_named_past_block_boundaries() {
        let cols = 100;
        let mut v = vec![0.25f32; 10_000];
        let raw = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        assert!(f32_values(&raw(&v), cols, TensorName::Weight(2), false).is_ok());
        v[9_001] = f32::NEG_INFINITY;
        v[9_950] = f32::NAN;
        let e = f32_values(&raw(&v), cols, TensorName::Weight(2), false).unwrap_err();
        assert_eq!(
            e.message(),
            "weight of linear layer 2: value -inf at [90][1] is not finite"
        );
        v[9_001] = 0.0;
        v[9_950] = 1.0;
        let e = f32_values(&raw(&v), 1, TensorName::WeightScales(0), true).unwrap_err();
        assert_eq!(
            e.message(),
            "scales of linear layer 0: value 0 at [9001][0] is not a finite positive scale"
        );
    }
}
