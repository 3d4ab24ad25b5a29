//! Each group's gate: per-expert logits, then a softmax over all or the `top_k` largest.

use super::linear::{matmul, Init, Input, Rows};
use super::scratch::{Scratch, CHUNK};
use super::{chunks, is_float, x0_candidate_stride};
use crate::kernels::Kernels;
use crate::model::{Model, Part};

/// Gate weights of group `g` for batch rows `r0..r1` into `s.gates`: softmax over the
/// experts, or over the `top_k` largest logits only (the others get weight 0).
pub(super) fn gate(model: &Model, s: &mut Scratch, g: usize, r0: usize, r1: usize, top_k: usize) {
    let e = model.plan.experts.len();
    let dc = model.x0_width() - model.request_width();
    let kc = x0_candidate_stride(model);
    let float = is_float(model);
    let Scratch {
        xc,
        q0,
        s0,
        gates,
        gate_partial,
        qs,
        ..
    } = s;
    for (c0, c1) in chunks(r0, r1) {
        let quantized = (!float).then(|| (&q0[c0 * kc..], &s0[c0..]));
        let input = Input::X0Candidate {
            rows: Rows {
                data: &xc[c0 * dc..],
                stride: dc,
                offset: 0,
                cols: dc,
            },
            quantized,
        };
        let out = &mut gates[c0 * e..c1 * e];
        matmul(
            model,
            model.plan.gate[g],
            Part::Candidate,
            input,
            c1 - c0,
            Init::Partial(&gate_partial[g]),
            false,
            out,
            qs,
        );
        softmax_rows(out, e, top_k, qs.kernels);
    }
}

/// Softmax of each `e`-wide row of `out` (at most [`CHUNK`] rows), or over each row's
/// `top_k` largest entries only (the others get weight 0); one exp pass over all rows.
fn softmax_rows(out: &mut [f32], e: usize, top_k: usize, k: &Kernels) {
    debug_assert!(out.len() <= CHUNK * e && e <= 64);
    let masked = top_k > 0 && top_k < e;
    let mut kept = [u64::MAX; CHUNK];
    for (row, kept) in out.chunks_exact_mut(e).zip(kept.iter_mut()) {
        if masked {
            *kept = top_k_mask(row, top_k);
        }
        // The row's largest entry is always kept, so it is the max of the kept ones.
        let m = row.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        row.iter_mut().for_each(|x| *x -= m);
    }
    (k.exp.0)(out);
    for (row, &kept) in out.chunks_exact_mut(e).zip(kept.iter()) {
        let mut sum = 0.0;
        for (i, x) in row.iter_mut().enumerate() {
            if kept & (1 << i) == 0 {
                *x = 0.0;
            }
            sum += *x;
        }
        row.iter_mut().for_each(|x| *x /= sum);
    }
}

/// The `k` largest entries of `v` as a bit mask (ties: lower index).
fn top_k_mask(v: &[f32], k: usize) -> u64 {
    let mut kept = 0u64;
    for _ in 0..k {
        let best = (0..v.len()).filter(|&i| kept & (1 << i) == 0).fold(
            None,
            |b: Option<usize>, i| match b {
                Some(j) if v[j] >= v[i] => Some(j),
                _ => Some(i),
            },
        );
        if let Some(i) = best {
            kept |= 1 << i;
        }
    }
    kept
}
