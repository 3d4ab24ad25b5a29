//! Per-session buffers of the forward pass, all sized when the session is created.

use super::linear::QuantScratch;
use super::x0_candidate_stride;
use crate::kernels::Kernels;
use crate::model::Model;

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
    /// int8-static experts and towers: the second activation buffer, and a low-rank
    /// cross layer's V x.
    pub qy: Vec<i8>,
    pub qlow: Vec<i8>,
    /// int8-static cross layers: the second f32 buffer of x_l (the residual).
    pub xres: Vec<f32>,
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
            qy: vec![0; ch * opad],
            qlow: vec![0; ch * pad16(a.cross_rank as usize)],
            xres: vec![0.0; ch * opad],
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

impl Scratch {
    /// Takes the request's state (x_req and its partials) from `other`, a scratch of
    /// the same model: a session's threads share one request, computed once.
    pub fn copy_request(&mut self, other: &Scratch) {
        self.x_req.copy_from_slice(&other.x_req);
        for (d, s) in self.expert_partial.iter_mut().zip(&other.expert_partial) {
            d.copy_from_slice(s);
        }
        for (d, s) in self.gate_partial.iter_mut().zip(&other.gate_partial) {
            d.copy_from_slice(s);
        }
    }
}

pub(super) fn pad16(n: usize) -> usize {
    n.div_ceil(16) * 16
}
