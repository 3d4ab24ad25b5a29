//! The int8-static forward pass: calibrated activation scales instead of one scale per
//! row, and every int8 layer of an expert or tower finished inside its GEMM tile
//! (`gemm_i8_fused`): scale, bias, ReLU or the cross product, then int8 for the next
//! layer with that layer's fixed scale, or f32 where a float operation follows (the
//! mixture, a logit).

use super::scratch::Scratch;
use crate::format::ActivationScales;
use crate::kernels::{Fused, FusedFinish, FusedOut, Kernels, Residual, RowView};
use crate::layers::StepKind;
use crate::model::{Model, Part};

/// A static int8 model's scales as the forward pass uses them, built once at load.
pub(crate) struct Fixed {
    pub scales: ActivationScales,
    /// Per layer: weight scale × input scale (the candidate part's for a layer that
    /// reads x0), zero-padded to the packed out_pad.
    combined: Vec<Vec<f32>>,
}

impl Fixed {
    /// `None` unless the model has activation scales (the parser has checked them).
    pub fn new(model: &Model) -> Option<Fixed> {
        let scales = model.activation_scales()?;
        let combined = scales
            .layers
            .iter()
            .enumerate()
            .map(|(i, &s)| model.padded(i).0.iter().map(|&w| w * s).collect())
            .collect();
        Some(Fixed { scales, combined })
    }

    /// The fixed scale of `part`'s input columns of layer `layer`.
    pub fn input_scale(&self, layer: usize, part: Part) -> f32 {
        match part {
            Part::Request => self.scales.request,
            Part::Candidate => self.scales.candidate,
            Part::All => self.scales.layers[layer],
        }
    }
}

/// The buffers a static expert works in (all of one chunk): int8 activations, f32 x_l
/// for the cross layers' residual, and its f32 output.
pub(super) struct Buffers<'a> {
    pub a: &'a mut [i8],
    pub b: &'a mut [i8],
    pub low: &'a mut [i8],
    pub xa: &'a mut [f32],
    pub xb: &'a mut [f32],
    pub out: &'a mut [f32],
}

/// Expert `e` over `x0` (f32 rows `pad16(D)` apart, for the cross products) and `q0`
/// (x0's candidate part in int8, with the candidate scale); `partial` is its first layer's
/// request part. Output (f32) rows `pad16(H)` apart in `buf.out`. int8 activations go
/// from layer to layer: `a` holds x_l (or the MLP's input), `low` a low-rank layer's V x.
/// A cross layer that another follows also writes x_{l+1} in f32 (`xa`), the next one's
/// residual: quantizing the residual stream too cost top-10 overlap on the demo model.
#[allow(clippy::too_many_arguments)]
pub(super) fn expert(
    model: &Model,
    fx: &Fixed,
    e: usize,
    x0: RowView<'_, f32>,
    q0: RowView<'_, i8>,
    partial: &[f32],
    buf: Buffers<'_>,
    k: &Kernels,
) {
    let steps = &model.plan.experts[e];
    let rows = q0.rows;
    let Buffers {
        mut a,
        mut b,
        low,
        mut xa,
        mut xb,
        out,
    } = buf;
    // x_l in `a` (int8) and `xa` (f32) is valid once a layer has run (x0 before).
    let (mut a_stride, mut x_is_x0) = (0, true);
    let (mut low_stride, mut after_v) = (0, false);
    for (i, step) in steps.iter().enumerate() {
        let layer = step.layer;
        let (part, init) = if i == 0 {
            (Part::Candidate, partial)
        } else {
            (Part::All, model.padded(layer).1)
        };
        let pack = model.packed(layer, part);
        let n = pack.out_pad;
        let linear = step.kind == StepKind::Linear;
        // The input, and the int8 buffer this layer writes (V x to `low`, else `b`).
        let (x, dst): (RowView<'_, i8>, &mut [i8]) = match (i == 0, after_v, linear) {
            (true, _, true) => (q0, &mut *low),
            (true, _, false) => (q0, &mut *b),
            (false, true, _) => (RowView::new(&*low, low_stride, rows), &mut *b),
            (false, false, true) => (RowView::new(&*a, a_stride, rows), &mut *low),
            (false, false, false) => (RowView::new(&*a, a_stride, rows), &mut *b),
        };
        let residual = if x_is_x0 {
            x0
        } else {
            RowView::new(&*xa, a_stride, rows)
        };
        let finish = match step.kind {
            StepKind::Linear => FusedFinish::Linear,
            StepKind::Relu => FusedFinish::Relu,
            StepKind::Cross => FusedFinish::Cross {
                x0,
                x: Residual::F32(residual),
            },
        };
        let epilogue = Fused {
            scale: &fx.combined[layer],
            init,
            finish,
        };
        let keep_f32 = step.kind == StepKind::Cross
            && steps[i + 1..].iter().any(|s| s.kind == StepKind::Cross);
        let next_scale = steps.get(i + 1).map(|s| fx.scales.layers[s.layer]);
        let target = match next_scale {
            Some(scale) if keep_f32 => FusedOut::Both {
                q: dst,
                y: &mut *xb,
                stride: n,
                scale,
            },
            Some(scale) => FusedOut::I8 {
                q: dst,
                stride: n,
                scale,
            },
            // The last layer feeds the mixture: f32.
            None => FusedOut::F32 {
                y: &mut *out,
                stride: n,
            },
        };
        (k.gemm_i8_fused.0)(pack, x, epilogue, target);
        if linear {
            (low_stride, after_v) = (n, true);
        } else {
            core::mem::swap(&mut a, &mut b);
            if keep_f32 {
                core::mem::swap(&mut xa, &mut xb);
            }
            (a_stride, x_is_x0, after_v) = (n, false, false);
        }
    }
}

/// Group `g`'s tower over batch rows `r0..r1` of the chunk starting at `c0` (whose
/// mixture is in `s.mix`, rows `H` apart): the mixture quantized with the first layer's
/// scale, hidden layers finished with ReLU into int8, the last one's logit in f32; logits
/// into `s.logits`.
pub(super) fn tower(
    model: &Model,
    fx: &Fixed,
    s: &mut Scratch,
    g: usize,
    c0: usize,
    r0: usize,
    r1: usize,
) {
    let layers = &model.plan.tower[g];
    let h = model.config().expert_width();
    let rows = r1 - r0;
    let Scratch {
        qx,
        qy,
        b,
        mix,
        logits,
        qs,
        ..
    } = s;
    let k = qs.kernels;
    let (mut a, mut q) = (&mut qx[..], &mut qy[..]);
    let stride0 = model.packed(layers[0], Part::All).k4;
    let m = RowView::new(&mix[(r0 - c0) * h..], h, rows);
    (k.quantize_fixed.0)(m, h, a, stride0, fx.scales.layers[layers[0]]);
    let mut stride = stride0;
    for (i, &layer) in layers.iter().enumerate() {
        let pack = model.packed(layer, Part::All);
        let n = pack.out_pad;
        let last = i + 1 == layers.len();
        let epilogue = Fused {
            scale: &fx.combined[layer],
            init: model.padded(layer).1,
            finish: if last {
                FusedFinish::Linear
            } else {
                FusedFinish::Relu
            },
        };
        let target = match layers.get(i + 1) {
            Some(&next) => FusedOut::I8 {
                q: &mut *q,
                stride: n,
                scale: fx.scales.layers[next],
            },
            None => FusedOut::F32 {
                y: &mut b[..],
                stride: n,
            },
        };
        (k.gemm_i8_fused.0)(pack, RowView::new(&*a, stride, rows), epilogue, target);
        core::mem::swap(&mut a, &mut q);
        stride = n;
    }
    // The output layer has one real output per row.
    for (r, l) in logits[r0..r1].iter_mut().enumerate() {
        *l = b[r * stride];
    }
}
