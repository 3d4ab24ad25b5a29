//! Sessions and ranking: score a request's candidates and order them.

mod workers;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::columns::{CandidateColumns, ColumnList};
use crate::err;
use crate::error::{Error, Status};
use crate::features::{encode, Feature, FeatureList};
use crate::forward::{request_partials, score, Scratch, CHUNK as PIECE};
use crate::kernels::Kernels;
use crate::model::Model;
use crate::spec::Side;
use workers::Workers;

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

/// How a session is sized and run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionOptions {
    /// The most candidates one rank call takes (1..=1048576).
    pub max_candidates: usize,
    /// Threads a rank call runs on: the calling thread and `threads - 1` workers the
    /// session starts and owns (1..=[`MAX_THREADS`]; 1, the default, starts none).
    pub threads: usize,
}

/// The most threads a session runs on.
pub const MAX_THREADS: usize = 64;

/// Fewest rows worth a thread of their own: below this many per thread, waking a
/// worker costs more than the rows it would score (~2 µs each for the demo model).
const MIN_ROWS_PER_THREAD: usize = 16;

impl Default for SessionOptions {
    fn default() -> Self {
        SessionOptions {
            max_candidates: 256,
            threads: 1,
        }
    }
}

/// One thread's share of a rank call: its own scratch, sized for its share of rows.
struct Lane {
    s: Scratch,
    /// Fields seen in the candidate being encoded.
    seen: Vec<bool>,
    /// `group_start` relative to the lane's first row.
    group_start: Vec<usize>,
}

impl Lane {
    /// Encodes and scores batch rows `r0..r0 + perm.len()` (candidates `perm`): their
    /// logits into `s.logits[..perm.len()]`. Every row is computed on its own (each
    /// kernel's result for a row depends on that row only: tests/intra_threads.rs
    /// checks it bit for bit), so how rows are split between lanes does not matter.
    fn score_rows<C: CandidateList + ?Sized>(
        &mut self,
        model: &Model,
        candidates: &C,
        perm: &[u32],
        (r0, group_start): (usize, &[usize]),
        top_k: usize,
    ) -> Result<(), Error> {
        let n = perm.len();
        debug_assert!(n <= self.s.max_rows);
        if n == 0 {
            return Ok(());
        }
        let dc = model.x0_width() - model.request_width();
        for (r, &i) in perm.iter().enumerate() {
            encode(
                model,
                Side::Candidate,
                &candidates.features(i as usize)?,
                &mut self.seen,
                &mut self.s.xc[r * dc..(r + 1) * dc],
                format_args!("candidate {i}"),
            )?;
        }
        for (l, &g) in self.group_start.iter_mut().zip(group_start) {
            *l = g.clamp(r0, r0 + n) - r0;
        }
        score(model, &mut self.s, n, &self.group_start, top_k);
        Ok(())
    }
}

/// A candidate list read by several threads at once.
struct ReadOnly<'a, C: ?Sized>(&'a C);

// SAFETY: a `CandidateList` is only read (`&self` methods, no interior mutability in
// any implementation), and the caller of a rank call keeps it alive and unchanged for
// the call (for the C ABI, the contract of every pointer it passes); `rank_from` waits
// for every thread before it returns.
unsafe impl<C: ?Sized> Sync for ReadOnly<'_, C> {}

impl<'a, C: ?Sized> ReadOnly<'a, C> {
    // A method, so closures capture the whole wrapper rather than its field.
    fn get(&self) -> &'a C {
        self.0
    }
}

fn lock(m: &Mutex<Lane>) -> MutexGuard<'_, Lane> {
    // A call rewrites a lane's rows before it reads them and never writes its request
    // state, so a panic midway leaves nothing a later call could read stale.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Ranking state for one model, sized once for at most `max_candidates`:
/// [`Session::rank`] allocates nothing. With `threads > 1` the session owns
/// `threads - 1` worker threads, started with it and joined when it is dropped; they
/// sleep between calls.
pub struct Session {
    model: Arc<Model>,
    kernels: &'static Kernels,
    max_candidates: usize,
    /// One per thread; lane 0 (run by the caller) holds the request's partials, which
    /// `set_request` copies to the others.
    lanes: Box<[Mutex<Lane>]>,
    workers: Option<Workers>,
    /// Per share of a threaded call: pieces claimed so far.
    claimed: Box<[AtomicUsize]>,
    has_request: bool,
    /// A request is encoded here and swapped into lane 0's `x_req` only once it is
    /// valid, so a failed `set_request` leaves the previous request in effect.
    next_request: Vec<f32>,
    seen: Vec<bool>,
    /// Batch row → candidate index (eligible candidates, grouped by head).
    perm: Vec<u32>,
    group_start: Vec<usize>,
    logits: Vec<f32>,
    keys: Vec<(f32, u32)>,
}

impl Session {
    pub fn new(model: Arc<Model>, max_candidates: usize) -> Result<Session, Error> {
        Session::with_options(
            model,
            SessionOptions {
                max_candidates,
                threads: 1,
            },
        )
    }

    /// A session for `options.max_candidates` candidates ranked on `options.threads`
    /// threads; either out of range is [`Status::InvalidArgument`]. Scores are the same
    /// bits for every thread count.
    pub fn with_options(model: Arc<Model>, options: SessionOptions) -> Result<Session, Error> {
        // A misspelt CAMOE_KERNEL_TIER is an InvalidArgument error naming the valid values.
        Session::open(model, options, crate::kernels::try_kernels()?)
    }

    /// A session running a given kernel table (see [`crate::kernels::kernels_for`]).
    pub fn with_kernels(
        model: Arc<Model>,
        max_candidates: usize,
        kernels: &'static Kernels,
    ) -> Result<Session, Error> {
        let options = SessionOptions {
            max_candidates,
            threads: 1,
        };
        Session::open(model, options, kernels)
    }

    fn open(
        model: Arc<Model>,
        options: SessionOptions,
        kernels: &'static Kernels,
    ) -> Result<Session, Error> {
        let SessionOptions {
            max_candidates,
            threads,
        } = options;
        if max_candidates == 0 || max_candidates > 1 << 20 {
            return Err(err!(
                Status::InvalidArgument,
                "max_candidates {max_candidates} must be in 1..=1048576"
            ));
        }
        if !(1..=MAX_THREADS).contains(&threads) {
            return Err(err!(
                Status::InvalidArgument,
                "threads {threads} must be in 1..={MAX_THREADS}"
            ));
        }
        let cfg = model.config();
        let (fields, groups) = (cfg.fields.len(), cfg.groups.len());
        // One thread scores the whole batch; several score a piece at a time.
        let share = if threads == 1 {
            max_candidates
        } else {
            // A batch runs on one thread only below 2 · MIN_ROWS_PER_THREAD rows.
            max_candidates.min(PIECE.max(2 * MIN_ROWS_PER_THREAD))
        };
        let lanes = (0..threads)
            .map(|_| {
                Mutex::new(Lane {
                    s: Scratch::new(&model, share, kernels),
                    seen: vec![false; fields],
                    group_start: vec![0; groups + 1],
                })
            })
            .collect();
        Ok(Session {
            workers: (threads > 1)
                .then(|| Workers::new(threads - 1))
                .transpose()?,
            lanes,
            claimed: (0..threads).map(|_| AtomicUsize::new(0)).collect(),
            kernels,
            max_candidates,
            seen: vec![false; fields],
            perm: vec![0; max_candidates],
            group_start: vec![0; groups + 1],
            logits: vec![0.0; max_candidates],
            keys: vec![(0.0, 0); max_candidates],
            has_request: false,
            next_request: vec![0.0; model.request_width()],
            model,
        })
    }

    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The kernel table this session runs.
    pub fn kernels(&self) -> &'static Kernels {
        self.kernels
    }

    pub fn max_candidates(&self) -> usize {
        self.max_candidates
    }

    /// The threads a rank call runs on (the caller's included).
    pub fn threads(&self) -> usize {
        self.lanes.len()
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
        let (first, rest) = self.lanes.split_at(1);
        let mut first = lock(&first[0]);
        core::mem::swap(&mut first.s.x_req, &mut self.next_request);
        request_partials(&self.model, &mut first.s);
        for lane in rest {
            lock(lane).s.copy_request(&first.s);
        }
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
        if n > self.max_candidates {
            return Err(err!(
                Status::Capacity,
                "{n} candidates, the session holds at most {}",
                self.max_candidates
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

        // A small batch takes fewer threads, each with at least MIN_ROWS_PER_THREAD rows.
        let active = self.lanes.len().min((rows / MIN_ROWS_PER_THREAD).max(1));
        match &self.workers {
            Some(w) if active > 1 => {
                let parts = Parts {
                    model,
                    lanes: &self.lanes,
                    claimed: &self.claimed[..active],
                    perm: &self.perm,
                    group_start: &self.group_start,
                };
                score_shared(w, parts, candidates, &mut self.logits[..rows], opts)?
            }
            _ => {
                let mut lane = lock(&self.lanes[0]);
                let perm = &self.perm[..rows];
                let top_k = opts.expert_top_k;
                lane.score_rows(model, candidates, perm, (0, &self.group_start), top_k)?;
                self.logits[..rows].copy_from_slice(&lane.s.logits[..rows]);
            }
        }

        // Calibrate (one vectorized sigmoid pass), then order by the objective.
        for r in 0..rows {
            let t = &cfg.tasks[candidates.task(self.perm[r] as usize) as usize];
            self.logits[r] = t.calib_a * self.logits[r] + t.calib_b;
        }
        (self.kernels.sigmoid.0)(&mut self.logits[..rows]);
        for r in 0..rows {
            let i = self.perm[r] as usize;
            let p = self.logits[r];
            let key = match opts.objective {
                Objective::Pctr => p,
                Objective::ExpectedValue => candidates.bid(i) * p,
            };
            self.keys[r] = (key, i as u32);
        }
        scores[..n].fill(f32::NAN);
        for r in 0..rows {
            scores[self.perm[r] as usize] = self.logits[r];
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

/// What the threads of a call read: the model, their lanes, per share the pieces
/// claimed so far, and the batch rows (`perm`, `group_start`).
struct Parts<'a> {
    model: &'a Model,
    lanes: &'a [Mutex<Lane>],
    claimed: &'a [AtomicUsize],
    perm: &'a [u32],
    group_start: &'a [usize],
}

/// Scores batch rows `0..logits.len()` into `logits` on `parts.claimed.len()` threads.
/// Thread `t` starts on share `t` of an even split, one piece (a forward chunk of
/// rows) at a time, then helps with the pieces left in the other shares: a thread the
/// system runs late (a busy or a slower core) holds up no more than one piece. The
/// first error in row order is returned, as one thread would meet it.
fn score_shared<C: CandidateList + ?Sized>(
    workers: &Workers,
    parts: Parts<'_>,
    candidates: &C,
    logits: &mut [f32],
    opts: &RankOptions,
) -> Result<(), Error> {
    let (rows, active) = (logits.len(), parts.claimed.len());
    let share = |j: usize| (rows * j / active, rows * (j + 1) / active);
    for c in parts.claimed {
        c.store(0, Ordering::Relaxed);
    }
    let Parts {
        model,
        lanes,
        claimed,
        perm,
        group_start,
    } = parts;
    let list = ReadOnly(candidates);
    // The logits and the first error (by row), written as pieces finish.
    let out = Mutex::new((logits, None::<(usize, Error)>));
    let work = |t: usize| {
        if t >= active {
            return;
        }
        let mut lane = lock(&lanes[t]);
        for j in (0..active).map(|k| (t + k) % active) {
            let (a, b) = share(j);
            loop {
                let r0 = a + claimed[j].fetch_add(1, Ordering::Relaxed) * PIECE;
                if r0 >= b {
                    break;
                }
                let r1 = (r0 + PIECE).min(b);
                let r = lane.score_rows(
                    model,
                    list.get(),
                    &perm[r0..r1],
                    (r0, group_start),
                    opts.expert_top_k,
                );
                let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
                match r {
                    Ok(()) => out.0[r0..r1].copy_from_slice(&lane.s.logits[..r1 - r0]),
                    Err(e) if out.1.as_ref().is_none_or(|f| r0 < f.0) => out.1 = Some((r0, e)),
                    Err(_) => {}
                }
            }
        }
    };
    workers.run(&work).map_err(|()| {
        err!(
            Status::Panic,
            "a ranking thread panicked (a bug in camoe: please report it)"
        )
    })?;
    match out.into_inner().unwrap_or_else(PoisonError::into_inner).1 {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

fn eligible(opts: &RankOptions, format: u32) -> bool {
    format < 32 && opts.eligible_formats & (1 << format) != 0
}
