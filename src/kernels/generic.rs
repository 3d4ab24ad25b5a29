//! Scalar reference kernels: the definition every SIMD kernel is tested against.

use super::registry::lines;
use super::{
    relu, Finish, FloatWeight, Fused, FusedFinish, FusedOut, PackedFloat, PackedI8, Residual,
    RowView, Scaled,
};
use crate::quant::{f16_bits_to_f32, quantize_activation, quantize_activations, row_scale};

lines! {
    gemm_i8 "generic_gemm_i8" => gemm_i8;
    gemm_f32 "generic_gemm_f32" => gemm_float::<f32>;
    gemm_f16 "generic_gemm_f16" => gemm_float::<u16>;
    quantize "generic_quantize_rows" => quantize_rows;
    dequantize "generic_dequantize" => dequantize;
    requantize "generic_requantize" => requantize;
    gemm_i8_fused "generic_gemm_i8_fused" => gemm_i8_fused;
    quantize_fixed "generic_quantize_fixed" => quantize_fixed;
    exp "generic_exp" => exp;
    sigmoid "generic_sigmoid" => sigmoid;
    dot_f32 "generic_dot_f32" => dot_f32;
    dot_f16 "generic_dot_f16" => dot_f16;
}

pub fn gemm_i8(w: &PackedI8, x: RowView<'_, i8>, acc: &mut [i32], acc_stride: usize) {
    let d = w.data();
    for r in 0..x.rows {
        let out = &mut acc[r * acc_stride..r * acc_stride + w.out_pad];
        out.fill(0);
        for (kb, xs) in x.row(r, w.k4).chunks_exact(4).enumerate() {
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
    x: RowView<'_, f32>,
    init: &[f32],
    out: &mut [f32],
    out_stride: usize,
) {
    super::tiled_f32::check(w, x, init, out, out_stride);
    let d = w.data();
    for r in 0..x.rows {
        let y = &mut out[r * out_stride..r * out_stride + w.out];
        y.copy_from_slice(&init[..w.out]);
        // One input at a time over all outputs (vectorizes along the outputs); each
        // output's sum runs over the inputs in order, as in the SIMD tiles.
        for (c, &xv) in x.row(r, w.k).iter().enumerate() {
            for (y, &wv) in y.iter_mut().zip(&d[c * w.out_pad..c * w.out_pad + w.out]) {
                *y += xv * wv.widen();
            }
        }
    }
}

/// The static int8 layer ([`super::GemmI8Fused`]) by its definition: each output's exact
/// sum, then [`fused_value`], then the store.
pub fn gemm_i8_fused(w: &PackedI8, x: RowView<'_, i8>, e: Fused<'_>, mut out: FusedOut<'_>) {
    super::tiled::check_fused(w, x, &e, &out);
    let d = w.data();
    for r in 0..x.rows {
        let xr = x.row(r, w.k4);
        for o in 0..w.out_pad {
            let acc: i32 = xr
                .chunks_exact(4)
                .enumerate()
                .map(|(kb, xs)| {
                    let ws = &d[(kb * w.out_pad + o) * 4..][..4];
                    (0..4).map(|i| xs[i] as i32 * ws[i] as i32).sum::<i32>()
                })
                .sum();
            let y = fused_value(&e, r, o, acc);
            match &mut out {
                FusedOut::I8 { q, stride, scale } => {
                    q[r * *stride + o] = quantize_activation(y, 1.0 / *scale)
                }
                FusedOut::F32 { y: dst, stride } => dst[r * *stride + o] = y,
                FusedOut::Both {
                    q,
                    y: dst,
                    stride,
                    scale,
                } => {
                    q[r * *stride + o] = quantize_activation(y, 1.0 / *scale);
                    dst[r * *stride + o] = y;
                }
            }
        }
    }
}

/// Output `o` of row `r` of a static layer from its exact sum `acc`: `init + acc · scale`,
/// then the finish.
#[inline(always)]
pub(crate) fn fused_value(e: &Fused<'_>, r: usize, o: usize, acc: i32) -> f32 {
    let y = e.init[o] + acc as f32 * e.scale[o];
    match e.finish {
        FusedFinish::Linear => y,
        FusedFinish::Relu => relu(y),
        FusedFinish::Cross { x0, x } => {
            let res = match x {
                Residual::F32(v) => v.data[r * v.stride + o],
                Residual::I8(v, s) => v.data[r * v.stride + o] as f32 * s,
            };
            x0.data[r * x0.stride + o] * y + res
        }
    }
}

/// The fixed-scale activation quantizer ([`super::QuantizeFixed`]).
pub fn quantize_fixed(x: RowView<'_, f32>, cols: usize, q: &mut [i8], q_stride: usize, scale: f32) {
    for r in 0..x.rows {
        let qr = &mut q[r * q_stride..(r + 1) * q_stride];
        quantize_activations(x.row(r, cols), scale, &mut qr[..cols]);
        qr[cols..].fill(0);
    }
}

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn dot_f16(a: &[u16], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(&x, y)| f16_bits_to_f32(x) * y).sum()
}

/// The activation quantizer ([`super::QuantizeRows`]).
pub fn quantize_rows(
    x: RowView<'_, f32>,
    cols: usize,
    q: &mut [i8],
    q_stride: usize,
    scales: &mut [f32],
) {
    for r in 0..x.rows {
        let xr = x.row(r, cols);
        let s = row_scale(xr);
        scales[r] = s;
        let qr = &mut q[r * q_stride..(r + 1) * q_stride];
        quantize_activations(xr, s, &mut qr[..cols]);
        qr[cols..].fill(0);
    }
}

/// `y` ([`Scaled`]) of row `r` into `out` (`y.cols` values), each the same IEEE
/// operations in the same order on every tier.
#[inline(always)]
pub(crate) fn scaled_row(y: &Scaled<'_>, r: usize, out: &mut [f32]) {
    let sx = y.x_scale[r];
    let acc = y.acc.row(r, y.cols);
    let (w_scale, init) = (&y.w_scale[..y.cols], &y.init[..y.cols]);
    for (((o, &v), &sw), &b) in out.iter_mut().zip(acc).zip(w_scale).zip(init) {
        *o = b + v as f32 * (sw * sx);
    }
}

/// The dequantize body (the int8 epilogue), shared by every tier: the SIMD tiers compile
/// this same code with their target features.
#[inline(always)]
pub fn dequantize(y: Scaled<'_>, relu: bool, out: &mut [f32]) {
    let n = y.cols;
    for r in 0..y.acc.rows {
        let o = &mut out[r * n..(r + 1) * n];
        scaled_row(&y, r, o);
        if relu {
            o.iter_mut().for_each(|v| *v = super::relu(*v));
        }
    }
}

/// The fused epilogue ([`super::Requantize`]), for the tiers without their own. Its float
/// operations are the ones `dequantize` and `quantize_rows` do, in the same order, so the
/// SIMD versions (x86_64 AVX2, AVX-512) give the same bits.
pub fn requantize(
    y: Scaled<'_>,
    finish: Finish<'_>,
    out: &mut [f32],
    mut q: Option<(&mut [i8], &mut [f32])>,
) {
    let n = y.cols;
    assert_eq!(y.acc.stride, n, "requantize: acc rows are n apart");
    for r in 0..y.acc.rows {
        let span = r * n..(r + 1) * n;
        let o = &mut out[span.clone()];
        scaled_row(&y, r, o);
        match finish {
            Finish::Linear => {}
            Finish::Relu => o.iter_mut().for_each(|v| *v = relu(*v)),
            Finish::Cross { x0, x } => {
                for ((o, &a), &b) in o.iter_mut().zip(&x0[span.clone()]).zip(&x[span.clone()]) {
                    *o = a * *o + b;
                }
            }
        }
        if let Some((q, scales)) = q.as_mut() {
            let s = row_scale(o);
            scales[r] = s;
            quantize_activations(o, s, &mut q[span]);
        }
    }
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

/// `v[i] = e^v[i]` (see [`exp_one`] for range and accuracy); SIMD tiers compile this
/// same code with their target features.
#[inline(always)]
pub fn exp(v: &mut [f32]) {
    for x in v.iter_mut() {
        *x = exp_one(*x);
    }
}

/// The logistic function: `1 / (1 + e^-z)` for `z ≥ 0`, `e^z / (1 + e^z)` otherwise (no
/// overflow either way); NaN stays NaN.
#[inline(always)]
pub fn sigmoid(v: &mut [f32]) {
    for z in v.iter_mut() {
        let e = exp_one(-z.abs());
        let p = 1.0 / (1.0 + e);
        *z = if *z >= 0.0 { p } else { e * p };
    }
}
