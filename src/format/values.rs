//! The check of every stored value of a parsed file: finite floats, positive scales,
//! int8 values in −127..=127, zero padding and exact row sums in packed weights.

use super::{bad, DType, Layout, LinearRef, TensorName, TensorRef};
use crate::error::Error;
use crate::kernels::out_pad;
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
        linear_values(bytes, l, i)?;
    }
    Ok(())
}

/// A linear layer's weights (each part in its layout), scales and bias.
fn linear_values(bytes: &[u8], l: &LinearRef, i: usize) -> Result<(), Error> {
    let (out, pad) = (l.outputs, out_pad(l.outputs));
    for p in l.parts() {
        let name = match p.candidate {
            true => TensorName::CandidateWeight(i),
            false => TensorName::Weight(i),
        };
        if l.dtype == DType::I8 {
            packed_i8(bytes, p.offset, p.cols, out, p.first_col, name)?;
            continue;
        }
        // Row-major [out][k], or packed [k][out_pad]: `out` values then zero padding.
        let (rows, cols) = if p.row_major {
            (out, p.cols)
        } else {
            (p.cols, pad)
        };
        let t = TensorRef {
            dtype: l.dtype,
            rows,
            cols,
            offset: p.offset,
            scales: None,
        };
        tensor_values(bytes, &t, name)?;
        let raw = &bytes[p.offset..p.offset + rows * cols * l.dtype.size()];
        let used = if p.row_major { cols } else { out };
        zero_padding(raw, cols * l.dtype.size(), used * l.dtype.size(), name)?;
    }
    let vectors = [
        (l.scales, TensorName::WeightScales(i), true),
        (l.bias, TensorName::Bias(i), false),
    ];
    for (offset, name, positive) in vectors {
        if let Some(o) = offset {
            let raw = &bytes[o..o + 4 * pad];
            f32_values(&raw[..4 * out], 1, name, positive)?;
            zero_padding(raw, 4 * pad, 4 * out, name)?;
        }
    }
    Ok(())
}

/// Refuses a non-zero byte past `used` in any `row`-byte row of `raw`.
fn zero_padding(raw: &[u8], row: usize, used: usize, name: TensorName) -> Result<(), Error> {
    if row == used {
        return Ok(());
    }
    let any = raw
        .chunks_exact(row)
        .fold(0u8, |acc, r| r[used..].iter().fold(acc, |a, &b| a | b));
    match any {
        0 => Ok(()),
        _ => Err(bad(format_args!("{name}: padding is not zero"))),
    }
}

/// The packed int8 part at `offset` (`k` inputs from column `c0`, `out` outputs), in one
/// pass over its bytes: every value in −127..=127, the padding (outputs past `out`,
/// inputs past `k`) zero, and each stored row sum equal to its weights' sum.
fn packed_i8(
    bytes: &[u8],
    offset: usize,
    k: usize,
    out: usize,
    c0: usize,
    name: TensorName,
) -> Result<(), Error> {
    let (pad, k4) = (out_pad(out), k.div_ceil(4) * 4);
    let data = &bytes[offset..offset + k4 * pad];
    let stored = &bytes[offset + k4 * pad..offset + k4 * pad + 4 * pad];
    // Per byte position of a group's row (output o's 4 inputs at 4o..4o+4): the sum
    // and the OR of that byte over all groups, and whether any byte is 0x80. Taken 16
    // positions (4 outputs) at a time down all groups, so that the accumulators stay in
    // registers and the inner loop vectorizes; each byte is read once.
    let row = 4 * pad;
    let (mut acc, mut any) = (vec![0i32; row], vec![0u8; row]);
    let mut min = 0u8;
    for (j, (acc, any)) in acc
        .chunks_exact_mut(16)
        .zip(any.chunks_exact_mut(16))
        .enumerate()
    {
        let (mut a, mut o, mut m) = ([0i32; 16], [0u8; 16], [0u8; 16]);
        // i16 partial sums (half the widening work) over at most 256 groups: |Σ| ≤
        // 256 × 128 fits.
        for block in data.chunks(256 * row) {
            let mut h = [0i16; 16];
            for group in block.chunks_exact(row) {
                let w: &[u8; 16] = group[16 * j..16 * j + 16].try_into().expect("16 bytes");
                for t in 0..16 {
                    h[t] += i16::from(w[t] as i8);
                    o[t] |= w[t];
                    m[t] |= u8::from(w[t] == 0x80);
                }
            }
            for t in 0..16 {
                a[t] += i32::from(h[t]);
            }
        }
        acc.copy_from_slice(&a);
        any.copy_from_slice(&o);
        min |= m.iter().fold(0, |x, &y| x | y);
    }
    if min != 0 {
        let at = data.iter().position(|&b| b == 0x80).unwrap_or(0);
        let (g, o, c) = (at / row, at % row / 4, at % 4);
        return Err(bad(format_args!(
            "{name}: value -128 at [{o}][{}] is outside -127..=127",
            c0 + 4 * g + c
        )));
    }
    // Outputs past `out` in every group; inputs past `k` in the last group.
    let mut padding = any[4 * out..].iter().any(|&b| b != 0);
    if k % 4 != 0 {
        let last = &data[data.len() - row..];
        padding |= last[..4 * out]
            .chunks_exact(4)
            .any(|w| w[k % 4..].iter().any(|&b| b != 0));
    }
    if padding {
        return Err(bad(format_args!("{name}: padding is not zero")));
    }
    let sums = acc.chunks_exact(4).map(|a| a.iter().sum::<i32>());
    for (o, (sum, s)) in sums.zip(stored.chunks_exact(4)).enumerate() {
        let s = i32::from_le_bytes([s[0], s[1], s[2], s[3]]);
        if s != sum {
            return Err(bad(format_args!(
                "{name}: stored row sum {s} of output {o} is not its weights' sum {sum}"
            )));
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
