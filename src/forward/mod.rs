//! The CAMoE forward pass over a batch of candidates: request partials, scoring, towers.
//!
//! Every product runs on the kernels chosen at run time (`crate::kernels`).
//!
//! Request-side precompute: every linear layer that reads x0 (the first cross or MLP
//! layer of each expert, each group's gate) is split by columns into a request part,
//! computed once per request into a per-output partial (bias included), and a
//! candidate part computed per candidate. int8 quantizes the two parts separately.

mod expert;
mod fixed;
mod gate;
mod linear;
mod observe;
mod scratch;

use crate::kernels::RowView;
use crate::model::{Mode, Model, Part};
pub(crate) use fixed::Fixed;
use linear::{matmul, Init, Input, Rows};
pub use observe::{max_abs_scales, observe_inputs, InputPart, Observer};
pub(crate) use scratch::Scratch;
pub(crate) use scratch::CHUNK;

/// Whether the experts run a fused int8 path (every linear layer int8: per-row scales,
/// or the static path when the model has calibrated scales).
fn fused_int8(model: &Model) -> bool {
    model.mode() == Mode::Int8
}

/// Bytes per quantized row of x0's candidate part (the packed candidate parts' k4).
fn x0_candidate_stride(model: &Model) -> usize {
    (model.x0_width() - model.request_width()).div_ceil(4) * 4
}

fn is_float(model: &Model) -> bool {
    matches!(model.mode(), Mode::F32 | Mode::F16)
}

/// `(start, end)` of each chunk of rows `r0..r1`.
fn chunks(r0: usize, r1: usize) -> impl Iterator<Item = (usize, usize)> {
    (r0..r1)
        .step_by(CHUNK)
        .map(move |c| (c, (c + CHUNK).min(r1)))
}

/// Request side: the partials of every layer that reads x0, from `s.x_req`.
pub(crate) fn request_partials(model: &Model, s: &mut Scratch) {
    let plan = &model.plan;
    let x = Rows::dense(&s.x_req, model.request_width());
    for (e, p) in s.expert_partial.iter_mut().enumerate() {
        matmul(
            model,
            plan.first_of_expert(e),
            Part::Request,
            Input::Float(x),
            1,
            Init::Bias,
            false,
            p,
            &mut s.qs,
        );
    }
    for (g, p) in s.gate_partial.iter_mut().enumerate() {
        matmul(
            model,
            plan.gate[g],
            Part::Request,
            Input::Float(x),
            1,
            Init::Bias,
            false,
            p,
            &mut s.qs,
        );
    }
}

/// Scores the first `rows` batch rows (their candidate parts are in `s.xc`; rows of
/// group g are `group_start[g]..group_start[g+1]`): logits into `s.logits`.
pub(crate) fn score(
    model: &Model,
    s: &mut Scratch,
    rows: usize,
    group_start: &[usize],
    top_k: usize,
) {
    let (d, dr) = (model.x0_width(), model.request_width());
    let (dc, kc) = (d - dr, x0_candidate_stride(model));
    if !is_float(model) {
        // Once per rank; the quantize kernel needs no layer buffer, so all rows at once.
        let xc = RowView::new(&s.xc, dc, rows);
        match &model.fixed {
            Some(fx) => {
                let sc = fx.scales.candidate;
                (s.qs.kernels.quantize_fixed.0)(xc, dc, &mut s.q0, kc, sc);
                s.s0[..rows].fill(sc);
            }
            None => (s.qs.kernels.quantize.0)(xc, dc, &mut s.q0, kc, &mut s.s0),
        }
    }
    // Gates first: with top-k masking they decide which experts each row needs.
    for g in 0..model.plan.gate.len() {
        gate::gate(model, s, g, group_start[g], group_start[g + 1], top_k);
    }
    for (c0, c1) in chunks(0, rows) {
        expert::mixture(model, s, c0, c1);
        for g in 0..model.plan.gate.len() {
            let (r0, r1) = (group_start[g].max(c0), group_start[g + 1].min(c1));
            if r0 < r1 {
                match &model.fixed {
                    Some(fx) => fixed::tower(model, fx, s, g, c0, r0, r1),
                    None => tower(model, s, g, c0, r0, r1),
                }
            }
        }
    }
}

/// Group `g`'s tower over batch rows `r0..r1` of the chunk starting at `c0` (whose
/// mixture is in `s.mix`); logits into `s.logits`.
fn tower(model: &Model, s: &mut Scratch, g: usize, c0: usize, r0: usize, r1: usize) {
    let plan = &model.plan;
    let h = model.config().expert_width();
    let last = plan.tower[g].len() - 1;
    let Scratch {
        a,
        b,
        mix,
        logits,
        qs,
        ..
    } = s;
    let rows = r1 - r0;
    let mut w = h;
    for (k, &layer) in plan.tower[g].iter().enumerate() {
        let outputs = model.linear(layer).outputs;
        let y = &mut b[..rows * outputs];
        let x = if k == 0 {
            Rows::dense(&mix[(r0 - c0) * h..(r1 - c0) * h], h)
        } else {
            Rows::dense(a, w)
        };
        matmul(
            model,
            layer,
            Part::All,
            Input::Float(x),
            rows,
            Init::Bias,
            k < last,
            y,
            qs,
        );
        w = outputs;
        core::mem::swap(a, b);
    }
    logits[r0..r1].copy_from_slice(&a[..rows]);
}
