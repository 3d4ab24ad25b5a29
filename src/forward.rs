//! The CAMoE forward pass over a batch of candidates (scalar reference kernels).
//!
//! Request-side precompute: every linear layer that reads x0 (the first cross or MLP
//! layer of each expert, each group's gate) is split by columns into a request part,
//! computed once per request into a per-output partial (bias included), and a
//! candidate part computed per candidate. int8 quantizes the two parts separately.

use crate::kernels::{Finish, Kernels, RowView, Scaled};
use crate::model::{Mat, Mode, Model, PackedFloatLayer, Part};

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
    pub fn new(cfg: &crate::spec::ModelConfig) -> Plan {
        let a = &cfg.arch;
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
        for _ in 0..cfg.groups.len() {
            plan.gate.push(take());
            plan.tower
                .push((0..=a.tower.len()).map(|_| take()).collect());
        }
        plan
    }

    /// Layers that read x0 (split into request and candidate columns).
    pub fn reads_x0(&self, layer: usize) -> bool {
        self.gate.contains(&layer)
            || (0..self.cross.len()).any(|e| self.first_of_expert(e) == layer)
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
    let (c0, cols) = model.columns(layer, part);
    let x = match input {
        Input::Float(x) => x,
        Input::X0Candidate { rows, .. } => rows,
    };
    debug_assert_eq!(cols, x.cols);
    let (n_in, n_out) = (lin.inputs, lin.outputs);
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
                    (k.quantize.0)(xr, cols, &mut qs.q, kp, &mut qs.scales);
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
                            let span = o * n_in + c0..o * n_in + c0 + cols;
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

/// Rows per pass through the experts and heads: activations of one chunk stay in the
/// L1/L2 caches, and the layer buffers do not grow with the session's capacity.
pub(crate) const CHUNK: usize = 48;

/// Per-session buffers, all sized at session creation: nothing here grows later.
/// Per-row state (O(max_rows)) is small: x0's candidate part and its int8 form, gate
/// weights, logits. Everything per layer is per chunk.
pub(crate) struct Scratch {
    pub max_rows: usize,
    pub x_req: Vec<f32>,
    /// Per expert: partial of its first layer; per group: partial of its gate.
    pub expert_partial: Vec<Vec<f32>>,
    pub gate_partial: Vec<Vec<f32>>,
    /// `[rows][Dc]`: x0's candidate part of every batch row.
    pub xc: Vec<f32>,
    /// The same, quantized once per `rank` and shared by every int8 layer that reads it
    /// (each expert's first layer, each gate), with one scale per row.
    pub q0: Vec<i8>,
    pub s0: Vec<f32>,
    /// `[CHUNK][D]`: full x0 rows of the chunk (or of the rows one expert runs on when
    /// top-k masking drops it for the others), their int8 candidate parts and scales.
    pub x0c: Vec<f32>,
    pub q0g: Vec<i8>,
    pub s0g: Vec<f32>,
    pub selected: Vec<u32>,
    /// Layer buffers of one chunk (int8: rows padded to a multiple of 16 values).
    pub a: Vec<f32>,
    pub b: Vec<f32>,
    pub low: Vec<f32>,
    /// int8 experts: the quantized activations passed from layer to layer, and the
    /// scales of the layer's input and output rows.
    pub qx: Vec<i8>,
    pub sx: [Vec<f32>; 2],
    /// `[CHUNK][H]`: the gate-weighted mixture of the experts.
    pub mix: Vec<f32>,
    /// `[rows][E]`: every batch row's gate weights for its own group.
    pub gates: Vec<f32>,
    pub logits: Vec<f32>,
    pub qs: QuantScratch,
}

impl Scratch {
    pub fn new(model: &Model, max_rows: usize, kernels: &'static Kernels) -> Scratch {
        let cfg = model.config();
        let plan = &model.plan;
        let a = &cfg.arch;
        let d = model.x0_width();
        let widest = [d, a.cross_rank as usize, cfg.expert_width()]
            .into_iter()
            .chain(a.expert_mlp.iter().chain(&a.tower).map(|&w| w as usize))
            .max()
            .unwrap_or(d);
        // Kernel buffers: inputs padded to 4, outputs to 16 (see PackedI8).
        let (kpad, opad) = (widest.div_ceil(4) * 4, widest.div_ceil(16) * 16);
        let (dc, kc) = (d - model.request_width(), x0_candidate_stride(model));
        let e = a.experts as usize;
        let ch = CHUNK.min(max_rows);
        Scratch {
            max_rows,
            x_req: vec![0.0; model.request_width()],
            // Padded like the int8 epilogue's rows (the padding stays zero).
            expert_partial: (0..e)
                .map(|i| vec![0.0; pad16(model.linear(plan.first_of_expert(i)).outputs)])
                .collect(),
            gate_partial: (0..cfg.groups.len()).map(|_| vec![0.0; e]).collect(),
            xc: vec![0.0; max_rows * dc],
            q0: vec![0; max_rows * kc],
            s0: vec![0.0; max_rows],
            x0c: vec![0.0; ch * pad16(d)],
            q0g: vec![0; ch * kc],
            s0g: vec![0.0; ch],
            selected: vec![0; ch],
            a: vec![0.0; ch * opad],
            b: vec![0.0; ch * opad],
            low: vec![0.0; ch * pad16(a.cross_rank as usize)],
            qx: vec![0; ch * opad],
            sx: [vec![0.0; ch], vec![0.0; ch]],
            mix: vec![0.0; ch * pad16(cfg.expert_width())],
            gates: vec![0.0; max_rows * e],
            logits: vec![0.0; max_rows],
            qs: QuantScratch {
                kernels,
                zeros: vec![0.0; opad],
                q: vec![0; ch * kpad],
                scales: vec![0.0; ch],
                acc: vec![0; ch * opad],
            },
        }
    }
}

fn pad16(n: usize) -> usize {
    n.div_ceil(16) * 16
}

/// Whether the experts run the fused int8 path (every linear layer int8).
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
        (s.qs.kernels.quantize.0)(xc, dc, &mut s.q0, kc, &mut s.s0);
    }
    // Gates first: with top-k masking they decide which experts each row needs.
    for g in 0..model.plan.gate.len() {
        gate(model, s, g, group_start[g], group_start[g + 1], top_k);
    }
    for (c0, c1) in chunks(0, rows) {
        mixture(model, s, c0, c1);
        for g in 0..model.plan.gate.len() {
            let (r0, r1) = (group_start[g].max(c0), group_start[g + 1].min(c1));
            if r0 < r1 {
                tower(model, s, g, c0, r0, r1);
            }
        }
    }
}

/// Gate weights of group `g` for batch rows `r0..r1` into `s.gates`: softmax over the
/// experts, or over the `top_k` largest logits only (the others get weight 0).
fn gate(model: &Model, s: &mut Scratch, g: usize, r0: usize, r1: usize, top_k: usize) {
    let e = model.plan.cross.len();
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

/// The gate-weighted mixture of the experts for batch rows `c0..c1` (one chunk) into
/// `s.mix`. An expert whose gate weight is 0 for some rows (top-k masking) runs only on
/// the rows that need it, and not at all if none does.
fn mixture(model: &Model, s: &mut Scratch, c0: usize, c1: usize) {
    let (d, dr, h) = (
        model.x0_width(),
        model.request_width(),
        model.config().expert_width(),
    );
    let (dc, kc) = (d - dr, x0_candidate_stride(model));
    let e_count = model.plan.cross.len();
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
        if let (true, Some(q0)) = (fused, quantized) {
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
    let plan = &model.plan;
    let ExpertBuffers {
        a,
        b,
        low,
        q,
        scales,
        acc,
    } = buf;
    // Every layer of the expert in order, with how its epilogue finishes it (Linear: the
    // inner product V x of a low-rank cross layer).
    #[derive(Clone, Copy, PartialEq)]
    enum Step {
        Linear,
        Cross,
        Relu,
    }
    let mut steps = plan.cross[e]
        .iter()
        .flat_map(|&(first, second)| match second {
            None => [Some((first, Step::Cross)), None],
            Some(u) => [Some((first, Step::Linear)), Some((u, Step::Cross))],
        })
        .flatten()
        .chain(plan.mlp[e].iter().map(|&l| (l, Step::Relu)))
        .peekable();
    // `a` holds x_l (the residual of the next cross layer), x0 itself before any layer;
    // the int8 input of the next layer is in `q` (x0's candidate part for the first).
    let mut first_layer = true;
    let mut x_is_x0 = true;
    let mut x_stride = 0;
    while let Some((layer, step)) = steps.next() {
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
        let next = steps.peek().is_some().then(|| (&mut q[..], &mut s_out[..]));
        // A low-rank cross layer's inner product (V x) only feeds U: it goes to `low`.
        let out: &mut [f32] = if step == Step::Linear {
            &mut low[..rows * n]
        } else {
            &mut b[..rows * n]
        };
        let finish = match step {
            Step::Linear => Finish::Linear,
            Step::Relu => Finish::Relu,
            Step::Cross => Finish::Cross {
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
        if step != Step::Linear {
            core::mem::swap(a, b);
            x_is_x0 = false;
        }
        core::mem::swap(s_in, s_out);
        first_layer = false;
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
    let plan = &model.plan;
    let d = model.x0_width();
    // `a` holds the current activation (width `w`); x0 itself before any layer.
    let mut w = d;
    for (l, &(first, second)) in plan.cross[e].iter().enumerate() {
        let input: &[f32] = if l == 0 { x0 } else { a };
        let y = &mut b[..rows * d];
        // y = W x_l + b (low rank: U (V x_l) + b); layer 0 reads x0 through the split.
        let (t, up): (&mut [f32], _) = match second {
            None => (y, None),
            Some(u) => (&mut low[..rows * model.linear(first).outputs], Some(u)),
        };
        if l == 0 {
            matmul(
                model,
                first,
                Part::Candidate,
                first_in,
                rows,
                Init::Partial(partial),
                false,
                t,
                qs,
            );
        } else {
            matmul(
                model,
                first,
                Part::All,
                Input::Float(Rows::dense(input, d)),
                rows,
                Init::Bias,
                false,
                t,
                qs,
            );
        }
        if let Some(u) = up {
            let r = model.linear(first).outputs;
            matmul(
                model,
                u,
                Part::All,
                Input::Float(Rows::dense(&low[..rows * r], r)),
                rows,
                Init::Bias,
                false,
                &mut b[..rows * d],
                qs,
            );
        }
        // x_{l+1} = x0 ⊙ y + x_l
        let y = &mut b[..rows * d];
        for i in 0..rows * d {
            y[i] = x0[i] * y[i] + input[i];
        }
        core::mem::swap(a, b);
    }
    for (k, &layer) in plan.mlp[e].iter().enumerate() {
        let outputs = model.linear(layer).outputs;
        let y = &mut b[..rows * outputs];
        if k == 0 && plan.cross[e].is_empty() {
            matmul(
                model,
                layer,
                Part::Candidate,
                first_in,
                rows,
                Init::Partial(partial),
                true,
                y,
                qs,
            );
        } else {
            matmul(
                model,
                layer,
                Part::All,
                Input::Float(Rows::dense(a, w)),
                rows,
                Init::Bias,
                true,
                y,
                qs,
            );
        }
        w = outputs;
        core::mem::swap(a, b);
    }
    debug_assert_eq!(w, model.config().expert_width());
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
