//! The experts and their gate-weighted mixture over a chunk of rows.
//!
//! `expert_i8` (the fused int8 path) and `expert` (every other mode) walk the same
//! steps of the plan (`crate::layers::Plan`).

use super::linear::{matmul, Init, Input, QuantScratch, Rows};
use super::scratch::{pad16, Scratch};
use super::{fixed, fused_int8, is_float, x0_candidate_stride};
use crate::kernels::{Finish, Kernels, RowView, Scaled};
use crate::layers::StepKind;
use crate::model::{Model, Part};

/// The gate-weighted mixture of the experts for batch rows `c0..c1` (one chunk) into
/// `s.mix`. An expert whose gate weight is 0 for some rows (top-k masking) runs only on
/// the rows that need it, and not at all if none does.
pub(super) fn mixture(model: &Model, s: &mut Scratch, c0: usize, c1: usize) {
    let (d, dr, h) = (
        model.x0_width(),
        model.request_width(),
        model.config().expert_width(),
    );
    let (dc, kc) = (d - dr, x0_candidate_stride(model));
    let e_count = model.plan.experts.len();
    let float = is_float(model);
    let fused = fused_int8(model);
    // Rows of x0 and of the experts' outputs: padded to 16 values on the fused int8 path.
    let (dx, hx) = if fused { (pad16(d), pad16(h)) } else { (d, h) };
    s.mix[..(c1 - c0) * h].fill(0.0);
    // Whether x0c holds every row of the chunk (then it serves every expert that runs
    // on all of them).
    let mut x0c_all = false;
    for e in 0..e_count {
        let mut n = 0;
        for r in c0..c1 {
            if s.gates[r * e_count + e] != 0.0 {
                s.selected[n] = r as u32;
                n += 1;
            }
        }
        if n == 0 {
            continue;
        }
        let Scratch {
            x_req,
            xc,
            q0,
            s0,
            x0c,
            q0g,
            s0g,
            selected,
            a,
            b,
            low,
            qx,
            sx,
            qy,
            qlow,
            xres,
            mix,
            gates,
            expert_partial,
            qs,
            ..
        } = s;
        let sel = &selected[..n];
        let all = n == c1 - c0;
        // Full x0 rows of the selected rows; their quantized candidate parts too.
        if !(all && x0c_all) {
            for (i, &r) in sel.iter().enumerate() {
                let (r, row) = (r as usize, &mut x0c[i * dx..(i + 1) * dx]);
                row[..dr].copy_from_slice(x_req);
                row[dr..d].copy_from_slice(&xc[r * dc..(r + 1) * dc]);
                row[d..].fill(0.0);
            }
            x0c_all = all;
        }
        let quantized = if float {
            None
        } else if all {
            Some((&q0[c0 * kc..], &s0[c0..]))
        } else {
            for (i, &r) in sel.iter().enumerate() {
                let r = r as usize;
                q0g[i * kc..(i + 1) * kc].copy_from_slice(&q0[r * kc..(r + 1) * kc]);
                s0g[i] = s0[r];
            }
            Some((&q0g[..], &s0g[..]))
        };
        if let (Some(fx), Some((q0, _))) = (&model.fixed, quantized) {
            let buffers = fixed::Buffers {
                a: qx,
                b: &mut qy[..],
                low: &mut qlow[..],
                xa: &mut b[..],
                xb: &mut xres[..],
                out: &mut a[..],
            };
            let x0 = RowView::new(&x0c[..n * dx], dx, n);
            let q0 = RowView::new(q0, kc, n);
            fixed::expert(
                model,
                fx,
                e,
                x0,
                q0,
                &expert_partial[e],
                buffers,
                qs.kernels,
            );
        } else if let (true, Some(q0)) = (fused, quantized) {
            expert_i8(
                model,
                e,
                &x0c[..n * dx],
                q0,
                n,
                &expert_partial[e],
                ExpertBuffers {
                    a,
                    b,
                    low,
                    q: qx,
                    scales: sx,
                    acc: &mut qs.acc,
                },
                qs.kernels,
            );
        } else {
            let first_in = Input::X0Candidate {
                rows: Rows {
                    data: x0c,
                    stride: d,
                    offset: dr,
                    cols: dc,
                },
                quantized,
            };
            expert(
                model,
                e,
                &x0c[..n * d],
                first_in,
                n,
                &expert_partial[e],
                a,
                b,
                low,
                qs,
            );
        }
        for (i, &r) in sel.iter().enumerate() {
            let (r, gw) = (r as usize, gates[r as usize * e_count + e]);
            let m = &mut mix[(r - c0) * h..(r - c0 + 1) * h];
            for (m, &v) in m.iter_mut().zip(&a[i * hx..i * hx + h]) {
                *m += gw * v;
            }
        }
    }
}

/// The buffers an int8 expert works in (all of one chunk).
struct ExpertBuffers<'a> {
    a: &'a mut Vec<f32>,
    b: &'a mut Vec<f32>,
    low: &'a mut [f32],
    q: &'a mut [i8],
    scales: &'a mut [Vec<f32>; 2],
    acc: &'a mut [i32],
}

/// Expert `e` of an int8 model over `rows` rows: x0 rows (`pad16(D)` apart) and the int8
/// candidate part of x0 with its row scales (`q0`). Every layer's GEMM is followed by
/// the fused epilogue, which finishes the layer (bias, ReLU or cross product) and
/// quantizes its output for the next layer in one pass, so int8 activations go from
/// layer to layer; f32 rows are `out_pad` apart. Output (f32) in `buf.a`.
#[allow(clippy::too_many_arguments)]
fn expert_i8(
    model: &Model,
    e: usize,
    x0: &[f32],
    q0: (&[i8], &[f32]),
    rows: usize,
    partial: &[f32],
    buf: ExpertBuffers<'_>,
    k: &Kernels,
) {
    let steps = &model.plan.experts[e];
    let ExpertBuffers {
        a,
        b,
        low,
        q,
        scales,
        acc,
    } = buf;
    // `a` holds x_l (the residual of the next cross layer), x0 itself before any layer;
    // the int8 input of the next layer is in `q` (x0's candidate part for the first).
    let mut x_is_x0 = true;
    let mut x_stride = 0;
    for (i, step) in steps.iter().enumerate() {
        let (layer, first_layer) = (step.layer, i == 0);
        let (part, init) = if first_layer {
            (Part::Candidate, partial)
        } else {
            (Part::All, model.padded(layer).1)
        };
        let pack = model.packed(layer, part);
        let n = pack.out_pad;
        let w_scale = model.padded(layer).0;
        let [s_in, s_out] = scales;
        let x_scale: &[f32] = if first_layer {
            let (q0, s0) = q0;
            (k.gemm_i8.0)(pack, RowView::new(q0, pack.k4, rows), acc, n);
            s0
        } else {
            (k.gemm_i8.0)(pack, RowView::new(q, x_stride, rows), acc, n);
            s_in
        };
        // The expert's output is needed in f32 only.
        let next = (i + 1 < steps.len()).then(|| (&mut q[..], &mut s_out[..]));
        // A low-rank cross layer's inner product (V x) only feeds U: it goes to `low`.
        let out: &mut [f32] = if step.kind == StepKind::Linear {
            &mut low[..rows * n]
        } else {
            &mut b[..rows * n]
        };
        let finish = match step.kind {
            StepKind::Linear => Finish::Linear,
            StepKind::Relu => Finish::Relu,
            StepKind::Cross => Finish::Cross {
                x0,
                x: if x_is_x0 { x0 } else { &a[..rows * n] },
            },
        };
        let y = Scaled {
            acc: RowView::new(acc, n, rows),
            cols: n,
            w_scale,
            x_scale,
            init,
        };
        (k.requantize.0)(y, finish, out, next);
        if step.kind != StepKind::Linear {
            core::mem::swap(a, b);
            x_is_x0 = false;
        }
        core::mem::swap(s_in, s_out);
        x_stride = n;
    }
}

/// Expert `e` over `rows` rows of `x0` (its first layer reads `first_in`); output in `a`.
#[allow(clippy::too_many_arguments)]
fn expert(
    model: &Model,
    e: usize,
    x0: &[f32],
    first_in: Input<'_>,
    rows: usize,
    partial: &[f32],
    a: &mut Vec<f32>,
    b: &mut Vec<f32>,
    low: &mut [f32],
    qs: &mut QuantScratch,
) {
    let d = model.x0_width();
    // `a` holds x_l (width `w`), x0 itself before any layer; after a low-rank cross
    // layer's V, `low` holds V x_l (width `v`, else 0) for its U.
    let (mut w, mut v, mut x_is_x0) = (d, 0, true);
    for (i, step) in model.plan.experts[e].iter().enumerate() {
        let outputs = model.linear(step.layer).outputs;
        let (part, init) = if i == 0 {
            (Part::Candidate, Init::Partial(partial))
        } else {
            (Part::All, Init::Bias)
        };
        // The first layer reads x0 through the request/candidate split.
        let (input, y): (_, &mut [f32]) = match (i, step.kind) {
            (0, StepKind::Linear) => (first_in, &mut low[..rows * outputs]),
            (0, _) => (first_in, &mut b[..rows * outputs]),
            (_, StepKind::Linear) => (Input::Float(Rows::dense(a, w)), &mut low[..rows * outputs]),
            _ if v > 0 => (
                Input::Float(Rows::dense(&low[..rows * v], v)),
                &mut b[..rows * outputs],
            ),
            _ => (Input::Float(Rows::dense(a, w)), &mut b[..rows * outputs]),
        };
        let relu = step.kind == StepKind::Relu;
        matmul(model, step.layer, part, input, rows, init, relu, y, qs);
        if step.kind == StepKind::Linear {
            v = outputs;
            continue;
        }
        if step.kind == StepKind::Cross {
            // x_{l+1} = x0 ⊙ y + x_l
            let x: &[f32] = if x_is_x0 { x0 } else { a };
            for ((y, &x0), &x) in y.iter_mut().zip(x0).zip(x) {
                *y = x0 * *y + x;
            }
        }
        core::mem::swap(a, b);
        (w, v, x_is_x0) = (outputs, 0, false);
    }
    debug_assert_eq!(w, model.config().expert_width());
}
