//! Sessions and ranking: score a request's candidates and order them.

use std::sync::Arc;

use crate::columns::{CandidateColumns, ColumnList};
use crate::err;
use crate::error::{Error, Status};
use crate::features::{encode, Feature, FeatureList};
use crate::forward::{request_partials, score, Scratch};
use crate::kernels::Kernels;
use crate::model::Model;
use crate::spec::Side;

/// One cached ad to score: its task (placement/format, from [`Model::task_index`]),
/// its bid (used by [`Objective::ExpectedValue`]) and its candidate-side features.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    pub task: u32,
    pub bid: f32,
    pub features: &'a [Feature<'a>],
}

/// Candidates read by index: the Rust slice, the C ABI's array, or a columnar batch
/// ([`crate::columns::CandidateColumns`]); every one is ranked by the same code.
pub trait CandidateList {
    /// One candidate's features.
    type Row<'r>: FeatureList
    where
        Self: 'r;
    fn count(&self) -> usize;
    fn task(&self, i: usize) -> u32;
    fn bid(&self, i: usize) -> f32;
    fn features(&self, i: usize) -> Result<Self::Row<'_>, Error>;
}

impl<'a> CandidateList for [Candidate<'a>] {
    type Row<'r>
        = &'r [Feature<'a>]
    where
        Self: 'r;
    fn count(&self) -> usize {
        self.len()
    }
    fn task(&self, i: usize) -> u32 {
        self[i].task
    }
    fn bid(&self, i: usize) -> f32 {
        self[i].bid
    }
    fn features(&self, i: usize) -> Result<&[Feature<'a>], Error> {
        Ok(self[i].features)
    }
}

/// What the order sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Objective {
    /// Calibrated click probability.
    Pctr = 0,
    /// `bid × pCTR` (expected value).
    ExpectedValue = 1,
}

/// How a ranking is done. [`Session::rank`] refuses options it cannot honour with
/// [`Status::InvalidArgument`] (see [`RankOptions::check`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RankOptions {
    /// Keep only the best `top_k` (0 = every eligible candidate).
    pub top_k: usize,
    pub objective: Objective,
    /// Bit `f` set = format `f` is eligible (e.g. only audio while the screen is off).
    /// Bits past the model's formats are ignored, so `u32::MAX` means every format; at
    /// least one of the model's own formats must be set.
    pub eligible_formats: u32,
    /// Inference-time expert masking: each candidate mixes only the `expert_top_k`
    /// experts its gate weighs most (renormalized), and experts no candidate needs are
    /// not computed. 0 = all experts (the trained model's exact output), and so is any
    /// value at or above the model's expert count (the top k of E ≤ k experts are all
    /// of them), so one setting serves models of any size.
    pub expert_top_k: usize,
}

impl RankOptions {
    /// Whether `model` can rank with these options: `eligible_formats` must select at
    /// least one of its formats (a mask selecting none is a caller's mistake, not an
    /// empty ranking).
    pub fn check(&self, model: &Model) -> Result<(), Error> {
        let cfg = model.config();
        let n = cfg.formats.len();
        let own = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
        if self.eligible_formats & own == 0 {
            return Err(err!(
                Status::InvalidArgument,
                "eligible_formats {:#x} selects none of the model's {n} formats (bits 0..{n})",
                self.eligible_formats
            ));
        }
        Ok(())
    }
}

impl Default for RankOptions {
    fn default() -> Self {
        RankOptions {
            top_k: 0,
            objective: Objective::Pctr,
            eligible_formats: u32::MAX,
            expert_top_k: 0,
        }
    }
}

/// Per-thread ranking state for one model, sized once for at most `max_candidates`:
/// [`Session::rank`] allocates nothing.
pub struct Session {
    model: Arc<Model>,
    s: Scratch,
    has_request: bool,
    /// A request is encoded here and swapped into `s.x_req` only once it is valid,
    /// so a failed `set_request` leaves the previous request in effect.
    next_request: Vec<f32>,
    seen: Vec<bool>,
    /// Batch row → candidate index (eligible candidates, grouped by head).
    perm: Vec<u32>,
    group_start: Vec<usize>,
    keys: Vec<(f32, u32)>,
}

impl Session {
    pub fn new(model: Arc<Model>, max_candidates: usize) -> Result<Session, Error> {
        // A misspelt CAMOE_KERNEL_TIER is an InvalidArgument error naming the valid values.
        Session::with_kernels(model, max_candidates, crate::kernels::try_kernels()?)
    }

    /// A session running a given kernel table (see [`crate::kernels::kernels_for`]).
    pub fn with_kernels(
        model: Arc<Model>,
        max_candidates: usize,
        kernels: &'static Kernels,
    ) -> Result<Session, Error> {
        if max_candidates == 0 || max_candidates > 1 << 20 {
            return Err(err!(
                Status::InvalidArgument,
                "max_candidates {max_candidates} must be in 1..=1048576"
            ));
        }
        let s = Scratch::new(&model, max_candidates, kernels);
        let groups = model.config().groups.len();
        Ok(Session {
            seen: vec![false; model.config().fields.len()],
            perm: vec![0; max_candidates],
            group_start: vec![0; groups + 1],
            keys: vec![(0.0, 0); max_candidates],
            has_request: false,
            next_request: vec![0.0; model.request_width()],
            s,
            model,
        })
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The kernel table this session runs.
    pub fn kernels(&self) -> &'static Kernels {
        self.s.qs.kernels
    }

    pub fn max_candidates(&self) -> usize {
        self.s.max_rows
    }

    /// Sets the request's (user and context) features and precomputes everything that
    /// depends only on them. On error nothing changes: the previous request, if any,
    /// stays in effect.
    pub fn set_request(&mut self, features: &[Feature<'_>]) -> Result<(), Error> {
        self.set_request_from(features)
    }

    pub(crate) fn set_request_from<F: FeatureList + ?Sized>(
        &mut self,
        features: &F,
    ) -> Result<(), Error> {
        encode(
            &self.model,
            Side::Request,
            features,
            &mut self.seen,
            &mut self.next_request,
            format_args!("request"),
        )?;
        core::mem::swap(&mut self.s.x_req, &mut self.next_request);
        request_partials(&self.model, &mut self.s);
        self.has_request = true;
        Ok(())
    }

    /// Scores `candidates` against the current request. On success `scores[i]` is the
    /// pCTR of candidate `i` (NaN when its format is not eligible), `order` holds the
    /// indices of the best `min(top_k or eligible, order.len())` candidates, best first
    /// (ties: lower index first), and the count written to `order` is returned.
    /// On error nothing is written.
    pub fn rank(
        &mut self,
        candidates: &[Candidate<'_>],
        opts: &RankOptions,
        scores: &mut [f32],
        order: &mut [u32],
    ) -> Result<usize, Error> {
        self.rank_from(candidates, opts, scores, order)
    }

    /// [`Session::rank`] for a columnar batch: the same rules, the same scores bit for
    /// bit. The expected-value objective needs the batch's bids.
    pub fn rank_columns<L: ColumnList + ?Sized>(
        &mut self,
        batch: &CandidateColumns<'_, L>,
        opts: &RankOptions,
        scores: &mut [f32],
        order: &mut [u32],
    ) -> Result<usize, Error> {
        if opts.objective == Objective::ExpectedValue && !batch.has_bids() {
            return Err(err!(
                Status::InvalidArgument,
                "the expected-value objective needs the batch's bids"
            ));
        }
        self.rank_from(batch, opts, scores, order)
    }

    pub(crate) fn rank_from<C: CandidateList + ?Sized>(
        &mut self,
        candidates: &C,
        opts: &RankOptions,
        scores: &mut [f32],
        order: &mut [u32],
    ) -> Result<usize, Error> {
        let n = candidates.count();
        if n > self.s.max_rows {
            return Err(err!(
                Status::Capacity,
                "{n} candidates, the session holds at most {}",
                self.s.max_rows
            ));
        }
        if scores.len() < n {
            return Err(err!(
                Status::Capacity,
                "scores holds {} values for {n} candidates",
                scores.len()
            ));
        }
        if !self.has_request {
            return Err(err!(
                Status::BadFeature,
                "no request set: call set_request first"
            ));
        }
        let model = &*self.model;
        let cfg = model.config();
        opts.check(model)?;

        // Eligible candidates, grouped by head (counting sort keeps index order).
        self.group_start.fill(0);
        for i in 0..n {
            let (t, bid) = (candidates.task(i), candidates.bid(i));
            let Some(task) = cfg.tasks.get(t as usize) else {
                return Err(err!(
                    Status::BadFeature,
                    "candidate {i}: task {t} does not exist (model has {})",
                    cfg.tasks.len()
                ));
            };
            // Checked under every objective: a bad bid is a caller's bug either way.
            if !(bid.is_finite() && bid >= 0.0) {
                return Err(err!(
                    Status::BadFeature,
                    "candidate {i}: bid {bid} is not a finite non-negative number"
                ));
            }
            if eligible(opts, task.format) {
                self.group_start[task.group as usize + 1] += 1;
            }
        }
        for g in 0..cfg.groups.len() {
            self.group_start[g + 1] += self.group_start[g];
        }
        let rows = self.group_start[cfg.groups.len()];
        let mut fill = [0usize; crate::format::limits::GROUPS as usize];
        fill[..cfg.groups.len()].copy_from_slice(&self.group_start[..cfg.groups.len()]);
        for i in 0..n {
            let task = &cfg.tasks[candidates.task(i) as usize];
            if eligible(opts, task.format) {
                let g = task.group as usize;
                self.perm[fill[g]] = i as u32;
                fill[g] += 1;
            }
        }

        // Each row's candidate part of x0 (the request part is shared, in x_req).
        let dc = model.x0_width() - model.request_width();
        for r in 0..rows {
            let i = self.perm[r] as usize;
            let row = &mut self.s.xc[r * dc..(r + 1) * dc];
            encode(
                model,
                Side::Candidate,
                &candidates.features(i)?,
                &mut self.seen,
                row,
                format_args!("candidate {i}"),
            )?;
        }
        score(
            model,
            &mut self.s,
            rows,
            &self.group_start,
            opts.expert_top_k,
        );

        // Calibrate (one vectorized sigmoid pass), then order by the objective.
        for r in 0..rows {
            let t = &cfg.tasks[candidates.task(self.perm[r] as usize) as usize];
            self.s.logits[r] = t.calib_a * self.s.logits[r] + t.calib_b;
        }
        (self.s.qs.kernels.sigmoid.0)(&mut self.s.logits[..rows]);
        for r in 0..rows {
            let i = self.perm[r] as usize;
            let p = self.s.logits[r];
            let key = match opts.objective {
                Objective::Pctr => p,
                Objective::ExpectedValue => candidates.bid(i) * p,
            };
            self.keys[r] = (key, i as u32);
        }
        scores[..n].fill(f32::NAN);
        for r in 0..rows {
            scores[self.perm[r] as usize] = self.s.logits[r];
        }
        let want = if opts.top_k == 0 {
            rows
        } else {
            opts.top_k.min(rows)
        }
        .min(order.len());
        let keys = &mut self.keys[..rows];
        let better = |a: &(f32, u32), b: &(f32, u32)| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1));
        if want > 0 && want < rows {
            keys.select_nth_unstable_by(want - 1, better);
        }
        keys[..want].sort_unstable_by(better);
        for (o, k) in order.iter_mut().zip(&keys[..want]) {
            *o = k.1;
        }
        Ok(want)
    }
}

fn eligible(opts: &RankOptions, format: u32) -> bool {
    format < 32 && opts.eligible_formats & (1 << format) != 0
}
