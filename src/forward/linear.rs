//! One linear layer over rows of activations (`matmul`) and the types it takes.
//!
//! It runs the int8 or float kernels over all of a layer's columns or over x0's request
//! or candidate part.

use super::observe::record;
use crate::kernels::{Kernels, RowView, Scaled};
use crate::model::{Mat, Model, PackedFloatLayer, Part};

/// How the output of a matrix product starts.
#[derive(Clone, Copy)]
pub(crate) enum Init<'a> {
    /// The layer's bias (or zero).
    Bias,
    /// A per-output vector broadcast over rows (a request-side partial).
    Partial(&'a [f32]),
}

/// Rows of activations: `rows` rows of `cols` values starting at `offset`, `stride` apart.
#[derive(Clone, Copy)]
pub(crate) struct Rows<'a> {
    pub data: &'a [f32],
    pub stride: usize,
    pub offset: usize,
    pub cols: usize,
}

impl<'a> Rows<'a> {
    pub fn dense(data: &'a [f32], cols: usize) -> Self {
        Rows {
            data,
            stride: cols,
            offset: 0,
            cols,
        }
    }
    fn row(&self, r: usize) -> &'a [f32] {
        let s = r * self.stride + self.offset;
        &self.data[s..s + self.cols]
    }
}

/// Activation buffers of the int8 path: quantized rows, their scales, i32 results.
pub(crate) struct QuantScratch {
    pub kernels: &'static Kernels,
    /// Zeros, the "bias" of a layer without one.
    pub zeros: Vec<f32>,
    pub q: Vec<i8>,
    pub scales: Vec<f32>,
    pub acc: Vec<i32>,
}

/// Activations of a product: float rows, or rows of x0's candidate part with their
/// int8 form when it was computed already (once per `rank`).
#[derive(Clone, Copy)]
pub(crate) enum Input<'a> {
    Float(Rows<'a>),
    X0Candidate {
        rows: Rows<'a>,
        quantized: Option<(&'a [i8], &'a [f32])>,
    },
}

/// `out[r][o] = init[o] + Σ_c W[o][c0 + c] · x[r][c]` over `part`'s columns of layer
/// `layer`, for `rows` rows. int8 weights: each x row is quantized with its own scale,
/// the kernel accumulates exactly in i32, and the f32 epilogue applies both scales.
/// Float layers run the packed float GEMM (f16 weights widened as loaded); a part without a
/// packed copy (the request side, once per request) runs dot products.
#[allow(clippy::too_many_arguments)]
pub(crate) fn matmul(
    model: &Model,
    layer: usize,
    part: Part,
    input: Input<'_>,
    rows: usize,
    init: Init<'_>,
    relu: bool,
    out: &mut [f32],
    qs: &mut QuantScratch,
) {
    let lin = model.linear(layer);
    let (_, cols) = model.columns(layer, part);
    let x = match input {
        Input::Float(x) => x,
        Input::X0Candidate { rows, .. } => rows,
    };
    debug_assert_eq!(cols, x.cols);
    record(layer, part, x.data, rows, (x.stride, x.offset, cols));
    let n_out = lin.outputs;
    let k = qs.kernels;
    let init: &[f32] = match init {
        Init::Bias => lin.bias.unwrap_or(&qs.zeros[..n_out]),
        Init::Partial(p) => p,
    };
    match lin.w {
        Mat::I8(_, wscale) => {
            let pack = model.packed(layer, part);
            let (kp, op) = (pack.k4, pack.out_pad);
            let (q, scales) = match input {
                Input::X0Candidate {
                    quantized: Some(qx),
                    ..
                } => qx,
                _ => {
                    let xr = RowView::new(&x.data[x.offset..], x.stride, rows);
                    match &model.fixed {
                        // Static int8: the calibrated scale of these columns.
                        Some(fx) => {
                            let sc = fx.input_scale(layer, part);
                            (k.quantize_fixed.0)(xr, cols, &mut qs.q, kp, sc);
                            qs.scales[..rows].fill(sc);
                        }
                        None => (k.quantize.0)(xr, cols, &mut qs.q, kp, &mut qs.scales),
                    }
                    (&qs.q[..], &qs.scales[..])
                }
            };
            (k.gemm_i8.0)(pack, RowView::new(q, kp, rows), &mut qs.acc, op);
            // The epilogue writes init + scaled products (and ReLU) in one pass.
            let y = Scaled {
                acc: RowView::new(&qs.acc, op, rows),
                cols: n_out,
                w_scale: wscale,
                x_scale: scales,
                init,
            };
            (k.dequantize.0)(y, relu, &mut out[..rows * n_out]);
        }
        Mat::F32(_) | Mat::F16(_) => {
            let (xs, y) = (
                RowView::new(&x.data[x.offset..], x.stride, rows),
                &mut out[..rows * n_out],
            );
            match model.packed_f32(layer, part) {
                Some(PackedFloatLayer::F32(p)) => (k.gemm_f32.0)(p, xs, init, y, n_out),
                Some(PackedFloatLayer::F16(p)) => (k.gemm_f16.0)(p, xs, init, y, n_out),
                // No packed copy (the request side, once per request): a dot per output.
                None => {
                    for (r, o_row) in y.chunks_exact_mut(n_out).enumerate() {
                        let xr = x.row(r);
                        for (o, v) in o_row.iter_mut().enumerate() {
                            // The row-major request part, `[out][cols]`.
                            let span = o * cols..(o + 1) * cols;
                            let dot = match lin.w {
                                Mat::F32(w) => (k.dot_f32.0)(&w[span], xr),
                                Mat::F16(w) => (k.dot_f16.0)(&w[span], xr),
                                Mat::I8(..) => unreachable!(),
                            };
                            *v = init[o] + dot;
                        }
                    }
                }
            }
            if relu {
                self::relu(y);
            }
        }
    }
}

pub(crate) fn relu(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = crate::kernels::relu(*x));
}
