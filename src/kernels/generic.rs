//! Scalar reference kernels: the definition every SIMD kernel is tested against.

use super::{Finish, FloatWeight, PackedFloat, PackedI8};
use crate::quant::{f16_bits_to_f32, quantize_activations, row_scale};

pub fn gemm_i8(
    w: &PackedI8,
    x: &[i8],
    x_stride: usize,
    rows: usize,
    acc: &mut [i32],
    acc_stride: usize,
) {
    let d = w.data();
    for r in 0..rows {
        let xr = &x[r * x_stride..r * x_stride + w.k4];
        let out = &mut acc[r * acc_stride..r * acc_stride + w.out_pad];
        out.fill(0);
        for (kb, xs) in xr.chunks_exact(4).enumerate() {
            let block = &d[kb * w.out_pad * 4..(kb + 1) * w.out_pad * 4];
            for (o, ws) in block.chunks_exact(4).enumerate() {
                out[o] += (0..4).map(|i| xs[i] as i32 * ws[i] as i32).sum::<i32>();
            }
        }
    }
}

/// The float GEMM reference (`gemm_float::<f32>`, `gemm_float::<u16>` for f16 bits).
pub fn gemm_float<T: FloatWeight>(
    w: &PackedFloat<T>,
    x: &[f32],
    x_stride: usize,
    rows: usize,
    init: &[f32],
    out: &mut [f32],
    out_stride: usize,
) {
    super::tiled_f32::check(w, x, x_stride, rows, init, out, out_stride);
    let d = w.data();
    for r in 0..rows {
        let xr = &x[r * x_stride..r * x_stride + w.k];
        let y = &mut out[r * out_stride..r * out_stride + w.out];
        y.copy_from_slice(&init[..w.out]);
        // One input at a time over all outputs (vectorizes along the outputs); each
        // output's sum runs over the inputs in order, as in the SIMD tiles.
        for (c, &xv) in xr.iter().enumerate() {
            for (y, &wv) in y.iter_mut().zip(&d[c * w.out_pad..c * w.out_pad + w.out]) {
                *y += xv * wv.widen();
            }
        }
    }
}

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn dot_f16(a: &[u16], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(&x, y)| f16_bits_to_f32(x) * y).sum()
}

/// The activation quantizer ([`super::QuantizeRows`]).
#[allow(clippy::too_many_arguments)]
pub fn quantize_rows(
    x: &[f32],
    x_stride: usize,
    x_offset: usize,
    cols: usize,
    rows: usize,
    q: &mut [i8],
    q_stride: usize,
    scales: &mut [f32],
) {
    for r in 0..rows {
        let xr = &x[r * x_stride + x_offset..r * x_stride + x_offset + cols];
        let s = row_scale(xr);
        scales[r] = s;
        let qr = &mut q[r * q_stride..(r + 1) * q_stride];
        quantize_activations(xr, s, &mut qr[..cols]);
        qr[cols..].fill(0);
    }
}

/// The dequantize body (the int8 epilogue), shared by every tier: the SIMD tiers compile
/// this same code with their target features.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn dequantize_body(
    acc: &[i32],
    acc_stride: usize,
    rows: usize,
    w_scale: &[f32],
    x_scale: &[f32],
    init: &[f32],
    relu: bool,
    out: &mut [f32],
) {
    let n = w_scale.len();
    for r in 0..rows {
        let sx = x_scale[r];
        let a = &acc[r * acc_stride..r * acc_stride + n];
        let y = &mut out[r * n..(r + 1) * n];
        for (((y, &v), &sw), &b) in y.iter_mut().zip(a).zip(w_scale).zip(init) {
            *y = b + v as f32 * (sw * sx);
        }
        if relu {
            y.iter_mut().for_each(|v| *v = v.max(0.0));
        }
    }
}

/// The fused epilogue ([`super::Requantize`]), for the tiers without their own. Its float
/// operations are the ones `dequantize_body` and `quantize_rows` do, in the same order,
/// so the SIMD versions (x86_64 AVX2, AVX-512) give the same bits.
#[allow(clippy::too_many_arguments)]
pub fn requantize(
    acc: &[i32],
    n: usize,
    rows: usize,
    w_scale: &[f32],
    x_scale: &[f32],
    init: &[f32],
    finish: Finish<'_>,
    out: &mut [f32],
    mut q: Option<(&mut [i8], &mut [f32])>,
) {
    let (w_scale, init) = (&w_scale[..n], &init[..n]);
    for r in 0..rows {
        let sx = x_scale[r];
        let span = r * n..(r + 1) * n;
        let y = &mut out[span.clone()];
        for (((y, &v), &sw), &b) in y.iter_mut().zip(&acc[span.clone()]).zip(w_scale).zip(init) {
            *y = b + v as f32 * (sw * sx);
        }
        match finish {
            Finish::Linear => {}
            Finish::Relu => y
                .iter_mut()
                .for_each(|v| *v = if *v > 0.0 { *v } else { 0.0 }),
            Finish::Cross { x0, x } => {
                for ((y, &a), &b) in y.iter_mut().zip(&x0[span.clone()]).zip(&x[span.clone()]) {
                    *y = a * *y + b;
                }
            }
        }
        if let Some((q, scales)) = q.as_mut() {
            let s = row_scale(y);
            scales[r] = s;
            quantize_activations(y, s, &mut q[span]);
        }
    }
}

#[allow(clippy::too_many_arguments)]
pub fn dequantize(
    acc: &[i32],
    acc_stride: usize,
    rows: usize,
    w_scale: &[f32],
    x_scale: &[f32],
    init: &[f32],
    relu: bool,
    out: &mut [f32],
) {
    dequantize_body(acc, acc_stride, rows, w_scale, x_scale, init, relu, out)
}

/// `e^x` for `x` in [-87.3, 88]: Cody–Waite range reduction `x = n·ln2 + r` and a
/// degree-6 polynomial for `e^r` (the classic single-precision minimax coefficients),
/// then `2^n` through the exponent bits. Within 2 ulp of the exact value on that range;
/// inputs below it give ~1.2e-38, above it ~1.6e38; NaN stays NaN. Plain IEEE
/// operations in a fixed order with no fused multiply-add, so every tier that compiles
/// this body gets the same bits.
#[inline(always)]
pub(crate) fn exp_one(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    let c = x.clamp(-87.3, 88.0);
    let n = (c * LOG2E + 0.5).floor();
    let r = (c - n * LN2_HI) - n * LN2_LO;
    let mut p = 1.987_569_1e-4;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 1.666_666_5e-1;
    p = p * r + 5.000_000_1e-1;
    let y = p * (r * r) + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x.is_nan() {
        x
    } else {
        y * scale
    }
}

/// The exp body; SIMD tiers compile this same code with their target features.
#[inline(always)]
pub(crate) fn exp_body(v: &mut [f32]) {
    for x in v.iter_mut() {
        *x = exp_one(*x);
    }
}

/// The logistic body: `1 / (1 + e^-z)` for `z ≥ 0`, `e^z / (1 + e^z)` otherwise (no
/// overflow either way); NaN stays NaN.
#[inline(always)]
pub(crate) fn sigmoid_body(v: &mut [f32]) {
    for z in v.iter_mut() {
        let e = exp_one(-z.abs());
        let p = 1.0 / (1.0 + e);
        *z = if *z >= 0.0 { p } else { e * p };
    }
}

/// `v[i] = e^v[i]` (see [`exp_one`] for range and accuracy).
pub fn exp(v: &mut [f32]) {
    exp_body(v)
}

/// `v[i] = 1 / (1 + e^-v[i])`.
pub fn sigmoid(v: &mut [f32]) {
    sigmoid_body(v)
}
