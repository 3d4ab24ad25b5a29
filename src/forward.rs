//! The CAMoE forward pass over a batch of candidates (scalar reference kernels).
//!
//! Request-side precompute: every linear layer that reads x0 (the first cross or MLP
//! layer of each expert, each group's gate) is split by columns into a request part,
//! computed once per request into a per-output partial (bias included), and a
//! candidate part computed per candidate. int8 quantizes the two parts separately.

use crate::model::{Linear, Mat, Model};
use crate::quant::{f16_bits_to_f32, quantize_row, row_scale};

/// Which linear layers make up each expert and each group head.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Per expert: cross layers, each `(w, None)` full rank or `(v, Some(u))` low rank.
    pub cross: Vec<Vec<(usize, Option<usize>)>>,
    pub mlp: Vec<Vec<usize>>,
    pub gate: Vec<usize>,
    /// Per group: tower hidden layers then the final 1-output layer.
    pub tower: Vec<Vec<usize>>,
}

impl Plan {
    pub fn new(model: &Model) -> Plan {
        let a = &model.config().arch;
        let mut next = 0..;
        let mut take = || next.next().unwrap_or(0);
        let mut plan = Plan {
            cross: vec![],
            mlp: vec![],
            gate: vec![],
            tower: vec![],
        };
        for _ in 0..a.experts {
            let cross = (0..a.cross_layers)
                .map(|_| {
                    if a.cross_rank == 0 {
                        (take(), None)
                    } else {
                        (take(), Some(take()))
                    }
                })
                .collect();
            plan.cross.push(cross);
            plan.mlp.push(a.expert_mlp.iter().map(|_| take()).collect());
        }
        for _ in 0..model.config().groups.len() {
            plan.gate.push(take());
            plan.tower
                .push((0..=a.tower.len()).map(|_| take()).collect());
        }
        plan
    }

    /// The layer of expert `e` that reads x0 first.
    pub fn first_of_expert(&self, e: usize) -> usize {
        self.cross[e]
            .first()
            .map_or_else(|| self.mlp[e][0], |&(w, _)| w)
    }
}

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

/// `out[r][o] = init[o] + Σ_c W[o][col0 + c] · x[r][c]` for `rows` rows.
/// int8 weights quantize each x row with its own scale into `q` (i32 accumulation,
/// f32 epilogue); f16 weights are widened on the fly.
pub(crate) fn matmul(
    lin: &Linear<'_>,
    col0: usize,
    x: Rows<'_>,
    rows: usize,
    init: Init<'_>,
    out: &mut [f32],
    q: &mut [i8],
) {
    let (n_in, n_out, cols) = (lin.inputs, lin.outputs, x.cols);
    debug_assert!(col0 + cols <= n_in);
    for r in 0..rows {
        let xr = x.row(r);
        let o_row = &mut out[r * n_out..(r + 1) * n_out];
        match init {
            Init::Bias => match lin.bias {
                Some(b) => o_row.copy_from_slice(b),
                None => o_row.fill(0.0),
            },
            Init::Partial(p) => o_row.copy_from_slice(p),
        }
        match lin.w {
            Mat::F32(w) => {
                for (o, y) in o_row.iter_mut().enumerate() {
                    let wr = &w[o * n_in + col0..o * n_in + col0 + cols];
                    *y += wr.iter().zip(xr).map(|(a, b)| a * b).sum::<f32>();
                }
            }
            Mat::F16(w) => {
                for (o, y) in o_row.iter_mut().enumerate() {
                    let wr = &w[o * n_in + col0..o * n_in + col0 + cols];
                    *y += wr
                        .iter()
                        .zip(xr)
                        .map(|(&a, b)| f16_bits_to_f32(a) * b)
                        .sum::<f32>();
                }
            }
            Mat::I8(w, scales) => {
                let sx = row_scale(xr);
                let qx = &mut q[..cols];
                quantize_row(xr, sx, qx);
                for (o, y) in o_row.iter_mut().enumerate() {
                    let wr = &w[o * n_in + col0..o * n_in + col0 + cols];
                    let acc: i32 = wr
                        .iter()
                        .zip(qx.iter())
                        .map(|(&a, &b)| a as i32 * b as i32)
                        .sum();
                    *y += acc as f32 * (scales[o] * sx);
                }
            }
        }
    }
}

pub(crate) fn relu(v: &mut [f32]) {
    v.iter_mut().for_each(|x| *x = x.max(0.0));
}

/// Numerically stable logistic function.
pub(crate) fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// In-place softmax of one row.
pub(crate) fn softmax(v: &mut [f32]) {
    let m = v.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
    let mut sum = 0.0;
    for x in v.iter_mut() {
        *x = (*x - m).exp();
        sum += *x;
    }
    v.iter_mut().for_each(|x| *x /= sum);
}

/// Per-session buffers, all sized at session creation: nothing here grows later.
pub(crate) struct Scratch {
    pub max_rows: usize,
    pub x_req: Vec<f32>,
    /// Per expert: partial of its first layer; per group: partial of its gate.
    pub expert_partial: Vec<Vec<f32>>,
    pub gate_partial: Vec<Vec<f32>>,
    /// `[rows][D]`: full x0 of every batch row.
    pub x0: Vec<f32>,
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    pub low: Vec<f32>,
    /// `[E][rows][H]`.
    pub expert_out: Vec<f32>,
    pub gates: Vec<f32>,
    pub logits: Vec<f32>,
    pub q: Vec<i8>,
}

impl Scratch {
    pub fn new(model: &Model, plan: &Plan, max_rows: usize) -> Scratch {
        let cfg = model.config();
        let a = &cfg.arch;
        let d = model.x0_width();
        let widest = [d, a.cross_rank as usize, cfg.expert_width()]
            .into_iter()
            .chain(a.expert_mlp.iter().chain(&a.tower).map(|&w| w as usize))
            .max()
            .unwrap_or(d);
        let e = a.experts as usize;
        Scratch {
            max_rows,
            x_req: vec![0.0; model.request_width()],
            expert_partial: (0..e)
                .map(|i| vec![0.0; model.linear(plan.first_of_expert(i)).outputs])
                .collect(),
            gate_partial: (0..cfg.groups.len()).map(|_| vec![0.0; e]).collect(),
            x0: vec![0.0; max_rows * d],
            a: vec![0.0; max_rows * widest],
            b: vec![0.0; max_rows * widest],
            low: vec![0.0; max_rows * a.cross_rank as usize],
            expert_out: vec![0.0; e * max_rows * cfg.expert_width()],
            gates: vec![0.0; max_rows * e],
            logits: vec![0.0; max_rows],
            q: vec![0; widest],
        }
    }
}

/// Request side: the partials of every layer that reads x0, from `s.x_req`.
pub(crate) fn request_partials(model: &Model, plan: &Plan, s: &mut Scratch) {
    let dr = model.request_width();
    let x = Rows::dense(&s.x_req, dr);
    for (e, p) in s.expert_partial.iter_mut().enumerate() {
        matmul(
            &model.linear(plan.first_of_expert(e)),
            0,
            x,
            1,
            Init::Bias,
            p,
            &mut s.q,
        );
    }
    for (g, p) in s.gate_partial.iter_mut().enumerate() {
        matmul(
            &model.linear(plan.gate[g]),
            0,
            x,
            1,
            Init::Bias,
            p,
            &mut s.q,
        );
    }
}

/// The candidate part of a layer that reads x0: `partial + W[:, Dr..] · x0[r][Dr..]`.
fn from_x0(
    model: &Model,
    layer: usize,
    partial: &[f32],
    x0: &[f32],
    rows: usize,
    out: &mut [f32],
    q: &mut [i8],
) {
    let (d, dr) = (model.x0_width(), model.request_width());
    let x = Rows {
        data: x0,
        stride: d,
        offset: dr,
        cols: d - dr,
    };
    matmul(
        &model.linear(layer),
        dr,
        x,
        rows,
        Init::Partial(partial),
        out,
        q,
    );
}

/// Every expert over the first `rows` rows of `s.x0`, into `s.expert_out`.
pub(crate) fn experts(model: &Model, plan: &Plan, s: &mut Scratch, rows: usize) {
    let d = model.x0_width();
    let h = model.config().expert_width();
    let Scratch {
        x0,
        a,
        b,
        low,
        expert_out,
        expert_partial,
        q,
        max_rows,
        ..
    } = s;
    for e in 0..plan.cross.len() {
        // `a` holds the current activation (width `w`); x0 itself before any layer.
        let mut w = d;
        for (l, &(first, second)) in plan.cross[e].iter().enumerate() {
            let input: &[f32] = if l == 0 { x0 } else { a };
            let y = &mut b[..rows * d];
            match second {
                None if l == 0 => from_x0(model, first, &expert_partial[e], x0, rows, y, q),
                None => matmul(
                    &model.linear(first),
                    0,
                    Rows::dense(input, d),
                    rows,
                    Init::Bias,
                    y,
                    q,
                ),
                Some(u) => {
                    let r = model.linear(first).outputs;
                    let t = &mut low[..rows * r];
                    if l == 0 {
                        from_x0(model, first, &expert_partial[e], x0, rows, t, q);
                    } else {
                        matmul(
                            &model.linear(first),
                            0,
                            Rows::dense(input, d),
                            rows,
                            Init::Bias,
                            t,
                            q,
                        );
                    }
                    matmul(
                        &model.linear(u),
                        0,
                        Rows::dense(t, r),
                        rows,
                        Init::Bias,
                        y,
                        q,
                    );
                }
            }
            // x_{l+1} = x0 ⊙ y + x_l
            for i in 0..rows * d {
                y[i] = x0[i] * y[i] + input[i];
            }
            core::mem::swap(a, b);
        }
        for (k, &layer) in plan.mlp[e].iter().enumerate() {
            let lin = model.linear(layer);
            let y = &mut b[..rows * lin.outputs];
            if k == 0 && plan.cross[e].is_empty() {
                from_x0(model, layer, &expert_partial[e], x0, rows, y, q);
            } else {
                matmul(&lin, 0, Rows::dense(a, w), rows, Init::Bias, y, q);
            }
            relu(y);
            w = lin.outputs;
            core::mem::swap(a, b);
        }
        debug_assert_eq!(w, h);
        let dst = &mut expert_out[e * *max_rows * h..][..rows * h];
        dst.copy_from_slice(&a[..rows * h]);
    }
}

/// Group `g`'s head over batch rows `r0..r1`: gate, mixture, tower; logits into `s.logits`.
pub(crate) fn head(model: &Model, plan: &Plan, s: &mut Scratch, g: usize, r0: usize, r1: usize) {
    let rows = r1 - r0;
    if rows == 0 {
        return;
    }
    let d = model.x0_width();
    let h = model.config().expert_width();
    let e_count = plan.cross.len();
    let Scratch {
        x0,
        a,
        b,
        expert_out,
        gates,
        gate_partial,
        logits,
        q,
        max_rows,
        ..
    } = s;
    let gates = &mut gates[..rows * e_count];
    from_x0(
        model,
        plan.gate[g],
        &gate_partial[g],
        &x0[r0 * d..r1 * d],
        rows,
        gates,
        q,
    );
    gates.chunks_exact_mut(e_count).for_each(softmax);
    let mix = &mut a[..rows * h];
    mix.fill(0.0);
    for e in 0..e_count {
        let out = &expert_out[e * *max_rows * h + r0 * h..][..rows * h];
        for r in 0..rows {
            let gw = gates[r * e_count + e];
            for (m, &v) in mix[r * h..(r + 1) * h]
                .iter_mut()
                .zip(&out[r * h..(r + 1) * h])
            {
                *m += gw * v;
            }
        }
    }
    let mut w = h;
    let last = plan.tower[g].len() - 1;
    for (k, &layer) in plan.tower[g].iter().enumerate() {
        let lin = model.linear(layer);
        let y = &mut b[..rows * lin.outputs];
        matmul(&lin, 0, Rows::dense(a, w), rows, Init::Bias, y, q);
        if k < last {
            relu(y);
        }
        w = lin.outputs;
        core::mem::swap(a, b);
    }
    logits[r0..r1].copy_from_slice(&a[..rows]);
}
