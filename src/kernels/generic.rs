//! Scalar reference kernels: the definition every SIMD kernel is tested against.

use super::PackedI8;
use crate::quant::{f16_bits_to_f32, quantize_row, row_scale};

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

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub fn dot_f16(a: &[u16], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(&x, y)| f16_bits_to_f32(x) * y).sum()
}

/// The quantize body; SIMD tiers compile this same code with their target features.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) fn quantize_rows_body(
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
        quantize_row(xr, s, &mut qr[..cols]);
        qr[cols..].fill(0);
    }
}

/// The dequantize body (the int8 epilogue), shared by every tier like
/// `quantize_rows_body`.
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
    quantize_rows_body(x, x_stride, x_offset, cols, rows, q, q_stride, scales)
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
