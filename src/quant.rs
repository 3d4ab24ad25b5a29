//! Quantization references: int8 symmetric per row (weights per output channel,
//! embedding rows, activations per row or with a calibrated fixed scale) and f16. The
//! kernels must agree with these.

use half::f16;

/// Scale for symmetric int8 of a row: `max|x| / 127`, or 1 for an all-zero row.
/// Written in 16 independent lanes so it vectorizes at every SIMD width.
#[inline(always)]
pub fn row_scale(row: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 16];
    let mut chunks = row.chunks_exact(16);
    for c in &mut chunks {
        for (m, &v) in lanes.iter_mut().zip(c) {
            let a = v.abs();
            *m = if a > *m { a } else { *m };
        }
    }
    for (m, &v) in lanes.iter_mut().zip(chunks.remainder()) {
        let a = v.abs();
        *m = if a > *m { a } else { *m };
    }
    // Tree reduction (halving), which vectorizes, instead of a serial fold.
    let mut width = 8;
    while width > 0 {
        for i in 0..width {
            let (a, b) = (lanes[i], lanes[i + width]);
            lanes[i] = if b > a { b } else { a };
        }
        width /= 2;
    }
    let m = lanes[0];
    if m > 0.0 && m.is_finite() {
        m / 127.0
    } else {
        1.0
    }
}

/// `out[i] = one(row[i])`, 16 values at a time through i32 so that the compiler uses
/// packed conversions.
#[inline(always)]
fn map_row(row: &[f32], out: &mut [i8], one: impl Fn(f32) -> i8) {
    let mut src = row.chunks_exact(16);
    let mut dst = out.chunks_exact_mut(16);
    for (s, d) in (&mut src).zip(&mut dst) {
        let mut t = [0i32; 16];
        for (ti, &v) in t.iter_mut().zip(s) {
            *ti = one(v) as i32;
        }
        for (di, &ti) in d.iter_mut().zip(&t) {
            *di = ti as i8;
        }
    }
    for (q, &v) in dst.into_remainder().iter_mut().zip(src.remainder()) {
        *q = one(v);
    }
}

/// Quantizes one row of weights to int8 with `scale` (the writer's rounding): `q =
/// trunc(x/scale + ½·sign(x))` clamped to ±127 (round half away from zero, computed
/// without a libm call so it vectorizes).
#[inline(always)]
pub fn quantize_row(row: &[f32], scale: f32, out: &mut [i8]) {
    let inv = 1.0 / scale;
    let one = |v: f32| {
        let t = v * inv;
        // In range after the clamp, so the i32 conversion is exact and the i8 narrowing
        // lossless.
        (t + 0.5f32.copysign(t)).clamp(-127.0, 127.0) as i32 as i8
    };
    map_row(row, out, one)
}

/// `1.5·2²³`: adding and subtracting it rounds an f32 of magnitude < 2²² to an integer,
/// ties to even (the IEEE default), in two plain operations.
const ROUND_MAGIC: f32 = 12_582_912.0;

/// Quantizes one row of activations to int8 with `scale` (the runtime's rounding, used by
/// every kernel tier): `t = x · (1/scale)`, clamped to ±127 in the form of x86's
/// `maxps(t, -127)` then `minps(·, 127)` (so NaN gives -127), rounded to nearest, ties to
/// even. Four vector operations per value on x86 (`mul`, `max`, `min`, a rounding
/// conversion) against eight for [`quantize_row`]'s rounding; SIMD tiers produce the same
/// bytes.
#[inline(always)]
pub fn quantize_activations(row: &[f32], scale: f32, out: &mut [i8]) {
    let inv = 1.0 / scale;
    map_row(row, out, |v| quantize_activation(v, inv))
}

/// One value of [`quantize_activations`], `inv` being 1/scale (the static int8 layers'
/// epilogue quantizes value by value with the next layer's fixed scale).
#[inline(always)]
pub fn quantize_activation(v: f32, inv: f32) -> i8 {
    let t = v * inv;
    let c = if t > -127.0 { t } else { -127.0 };
    let c = if c < 127.0 { c } else { 127.0 };
    // |c| ≤ 127: the magic add/sub rounds exactly, and the conversions are lossless.
    ((c + ROUND_MAGIC) - ROUND_MAGIC) as i32 as i8
}

/// Quantizes a `[rows][cols]` matrix per row; returns (values, scales).
pub fn quantize_rows(m: &[f32], cols: usize) -> (Vec<i8>, Vec<f32>) {
    if cols == 0 {
        return (Vec::new(), vec![1.0; 0]);
    }
    let mut q = vec![0i8; m.len()];
    let mut scales = Vec::with_capacity(m.len() / cols);
    for (row, out) in m.chunks_exact(cols).zip(q.chunks_exact_mut(cols)) {
        let s = row_scale(row);
        quantize_row(row, s, out);
        scales.push(s);
    }
    (q, scales)
}

/// Quantizes a `[rows][cols]` matrix of activations per row, as the runtime does
/// ([`quantize_activations`]); returns (values, scales).
pub fn quantize_activation_rows(m: &[f32], cols: usize) -> (Vec<i8>, Vec<f32>) {
    let mut q = vec![0i8; m.len()];
    let mut scales = Vec::new();
    if cols > 0 {
        for (row, out) in m.chunks_exact(cols).zip(q.chunks_exact_mut(cols)) {
            let s = row_scale(row);
            quantize_activations(row, s, out);
            scales.push(s);
        }
    }
    (q, scales)
}

pub fn to_f16_bits(m: &[f32]) -> Vec<u16> {
    m.iter().map(|&v| f16::from_f32(v).to_bits()).collect()
}

#[inline]
pub fn f16_bits_to_f32(b: u16) -> f32 {
    f16::from_bits(b).to_f32()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_round_trip_within_half_step() {
        let row = [0.5f32, -1.27, 0.0, 0.003, 1.0];
        let s = row_scale(&row);
        assert!((s - 1.27 / 127.0).abs() < 1e-7);
        let mut q = [0i8; 5];
        quantize_row(&row, s, &mut q);
        assert_eq!(q[1], -127);
        for (&v, &qv) in row.iter().zip(&q) {
            assert!((v - qv as f32 * s).abs() <= s * 0.5 + 1e-7);
        }
        assert_eq!(row_scale(&[0.0; 3]), 1.0);
    }

    #[test]
    fn activations_round_half_to_even_and_clamp() {
        // Scale 1: q = round-half-even(x), clamped to ±127; NaN → -127.
        let row = [
            0.5f32,
            1.5,
            2.5,
            -0.5,
            -1.5,
            -2.5,
            126.5,
            200.0,
            -1e9,
            f32::NAN,
            -0.0,
            3.49,
        ];
        let mut q = [0i8; 12];
        quantize_activations(&row, 1.0, &mut q);
        assert_eq!(q, [0, 2, 2, 0, -2, -2, 126, 127, -127, -127, 0, 3]);
        // The writer's rounding is half away from zero.
        let mut w = [0i8; 3];
        quantize_row(&row[..3], 1.0, &mut w);
        assert_eq!(w, [1, 2, 3]);
    }

    #[test]
    fn weights_never_quantize_to_minus_128() {
        // The parser refuses -128 in a file (FORMAT.md, "Stored values"): the writer's
        // rounding must never produce it, whatever the row.
        let mut rng = crate::hash::SplitMix(3);
        for n in [1, 15, 16, 17, 100] {
            for _ in 0..200 {
                let row: Vec<f32> = (0..n).map(|_| rng.normal() * 1e3).collect();
                let (q, _) = quantize_rows(&row, n);
                assert!(q.iter().all(|&v| v != i8::MIN), "{row:?}");
            }
        }
        let (q, _) = quantize_rows(&[-f32::MAX, f32::MIN_POSITIVE, -1e-30], 3);
        assert_eq!(q, [-127, 0, 0]);
    }

    #[test]
    fn f16_round_trip() {
        for v in [0.0f32, 1.0, -2.5, 65504.0, 1e-3] {
            let b = to_f16_bits(&[v])[0];
            assert!((f16_bits_to_f32(b) - v).abs() <= v.abs() * 1e-3);
        }
    }
}
