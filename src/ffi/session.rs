//! The C ABI of a session: open, free, set the request, rank (and its options).

use super::boundary::{
    boundary, c_slice, clone_arc, free_box, or_fail, or_null, read_sized, to_box, try_mut, try_out,
    try_slice, try_slice_mut, write_sized, Castable, OwnedByBox,
};
use super::model::camoe_model;
use super::types::*;
use crate::columns::CandidateColumns;
use crate::error::{Error, Status};
use crate::rank::{RankOptions, Session, SessionOptions};

/// A ranking session: scratch for one model, and with `threads > 1` the worker
/// threads it owns. Owned by the caller from `camoe_session_new` until
/// `camoe_session_free`. Not thread-safe: use one session per calling thread (or lock
/// around it).
pub struct camoe_session {
    _private: [u8; 0],
}

impl Castable for camoe_session {
    type Ownership = OwnedByBox;
    type RustType = Session;
}

/// Opens a session for up to `max_candidates` candidates per `camoe_session_rank`;
/// `max_candidates` must be in 1..=1048576 (else `CAMOE_STATUS_INVALID_ARGUMENT`).
/// It ranks on the calling thread only (`camoe_session_new_with_options` with
/// `threads = 1`). All its memory is allocated here.
#[no_mangle]
pub extern "C" fn camoe_session_new(
    model: *const camoe_model,
    max_candidates: usize,
    out: *mut *mut camoe_session,
) -> Status {
    boundary(|| {
        let model = or_null!(clone_arc(model), "model");
        let out = try_out!(out);
        out.write(to_box(or_fail!(Session::new(model, max_candidates))));
        Status::Ok
    })
}

/// Fills `*out` with the default session options (256 candidates, 1 thread). Set
/// `out->struct_size = sizeof(camoe_session_options)` first: only that many bytes are
/// written, and `struct_size` itself is kept.
#[no_mangle]
pub extern "C" fn camoe_session_options_default(out: *mut camoe_session_options) -> Status {
    boundary(|| {
        or_fail!(write_sized(
            out,
            camoe_session_options::from_rust(&SessionOptions::default())
        ));
        Status::Ok
    })
}

/// Opens a session as `options` say (NULL: the defaults). With `threads > 1` it starts
/// `threads - 1` worker threads, which each `camoe_session_rank` call splits its
/// candidates with (the calling thread takes a share too) and which sleep between
/// calls; `camoe_session_free` joins them. Scores and order are the same bits for
/// every thread count. All memory and every thread are made here; a system that
/// refuses a thread is `CAMOE_STATUS_CAPACITY`.
#[no_mangle]
pub extern "C" fn camoe_session_new_with_options(
    model: *const camoe_model,
    options: *const camoe_session_options,
    out: *mut *mut camoe_session,
) -> Status {
    boundary(|| {
        let model = or_null!(clone_arc(model), "model");
        let out = try_out!(out);
        let defaults = camoe_session_options::from_rust(&SessionOptions::default());
        let options = if options.is_null() {
            defaults
        } else {
            or_fail!(read_sized(options, defaults))
        };
        let session = or_fail!(Session::with_options(model, options.to_rust()));
        out.write(to_box(session));
        Status::Ok
    })
}

/// Frees a session and sets `*session` to NULL, after joining its worker threads
/// (they are idle between calls, so this returns at once). NULL or
/// `*session == NULL` is a no-op.
#[no_mangle]
pub extern "C" fn camoe_session_free(session: *mut *mut camoe_session) {
    boundary(|| free_box(session))
}

/// Sets the request's (user and context) features; computes what depends only on them.
/// Each request-side field may be given once (twice is `CAMOE_STATUS_BAD_FEATURE`); a
/// field not given follows its missing policy. On failure nothing changes: the previous
/// request, if any, stays in effect.
#[no_mangle]
pub extern "C" fn camoe_session_set_request(
    session: *mut camoe_session,
    features: *const camoe_feature,
    n_features: usize,
) -> Status {
    boundary(|| {
        let s = try_mut!(session);
        let f = try_slice!(features, n_features);
        // `&f`: the same `encode::<&[camoe_feature]>` as the candidates' rows (one copy).
        or_fail!(s.set_request_from(&f));
        Status::Ok
    })
}

/// Fills `*out` with the default options (all candidates, by pCTR, every format, all
/// experts). Set `out->struct_size = sizeof(camoe_rank_options)` first: only that many
/// bytes are written, and `struct_size` itself is kept.
#[no_mangle]
pub extern "C" fn camoe_rank_options_default(out: *mut camoe_rank_options) -> Status {
    boundary(|| {
        or_fail!(write_sized(
            out,
            camoe_rank_options::from_rust(&RankOptions::default())
        ));
        Status::Ok
    })
}

/// The caller's options, or the defaults when `options` is NULL.
fn rank_options(options: *const camoe_rank_options) -> Result<RankOptions, Error> {
    let defaults = RankOptions::default();
    if options.is_null() {
        return Ok(defaults);
    }
    read_sized(options, camoe_rank_options::from_rust(&defaults))?.to_rust()
}

/// Scores `n` candidates against the session's request. `options` may be NULL
/// (defaults). On success `scores[0..n]` get each candidate's pCTR (NaN when its
/// format is not eligible), `order[0..*order_len]` the indices of the best candidates,
/// best first, at most `order_cap` of them. `n` above the session's `max_candidates`
/// is `CAMOE_STATUS_CAPACITY`; ranking before a request is set is
/// `CAMOE_STATUS_BAD_FEATURE`. No heap allocation happens here.
#[no_mangle]
pub extern "C" fn camoe_session_rank(
    session: *mut camoe_session,
    candidates: *const camoe_candidate,
    n: usize,
    options: *const camoe_rank_options,
    scores: *mut f32,
    order: *mut u32,
    order_cap: usize,
    order_len: *mut usize,
) -> Status {
    boundary(|| {
        let cands = try_slice!(candidates, n);
        let out = Outputs::new(n, scores, order, order_cap, order_len);
        rank_into(session, options, out, |s, o, sc, or| {
            s.rank_from(cands, o, sc, or)
        })
    })
}

/// `camoe_session_rank` for a columnar batch (`camoe_candidate_columns`): the same
/// options, outputs and rules, and the same scores bit for bit. A batch of the wrong
/// shape (offsets that decrease or run past the text, an unknown column kind) is
/// `CAMOE_STATUS_INVALID_ARGUMENT`; bad values are `CAMOE_STATUS_BAD_FEATURE` naming
/// the candidate. No heap allocation happens here.
#[no_mangle]
pub extern "C" fn camoe_session_rank_columns(
    session: *mut camoe_session,
    batch: *const camoe_candidate_columns,
    options: *const camoe_rank_options,
    scores: *mut f32,
    order: *mut u32,
    order_cap: usize,
    order_len: *mut usize,
) -> Status {
    boundary(|| {
        let b = or_fail!(read_sized(batch, empty_batch()));
        let (tasks, columns) = (b.tasks, b.columns);
        let tasks = try_slice!(tasks, b.n);
        let bids = (!b.bids.is_null()).then(|| c_slice(b.bids, b.n)).flatten();
        let columns = try_slice!(columns, b.n_columns);
        let batch = or_fail!(CandidateColumns::new(tasks, bids, columns));
        let out = Outputs::new(b.n, scores, order, order_cap, order_len);
        rank_into(session, options, out, |s, o, sc, or| {
            s.rank_columns(&batch, o, sc, or)
        })
    })
}

/// The output pointers of a rank call, for `n` candidates.
struct Outputs {
    n: usize,
    scores: *mut f32,
    order: *mut u32,
    order_cap: usize,
    order_len: *mut usize,
}

impl Outputs {
    fn new(n: usize, scores: *mut f32, order: *mut u32, cap: usize, len: *mut usize) -> Self {
        Outputs {
            n,
            scores,
            order,
            order_cap: cap,
            order_len: len,
        }
    }
}

/// Checks the session, options and outputs shared by both rank calls, then ranks.
fn rank_into(
    session: *mut camoe_session,
    options: *const camoe_rank_options,
    out: Outputs,
    rank: impl FnOnce(&mut Session, &RankOptions, &mut [f32], &mut [u32]) -> Result<usize, Error>,
) -> Status {
    let s = try_mut!(session);
    let Outputs {
        n,
        scores,
        order,
        order_cap,
        order_len,
    } = out;
    let order_len = try_out!(order_len);
    let scores = try_slice_mut!(scores, n);
    let order = try_slice_mut!(order, order_cap);
    let opts = or_fail!(rank_options(options));
    order_len.write(or_fail!(rank(s, &opts, scores, order)));
    Status::Ok
}

/// Defaults for `read_sized`: every field of the first layout is the caller's, so
/// these are never used.
fn empty_batch() -> camoe_candidate_columns {
    camoe_candidate_columns {
        struct_size: core::mem::size_of::<camoe_candidate_columns>() as u32,
        n: 0,
        tasks: core::ptr::null(),
        bids: core::ptr::null(),
        columns: core::ptr::null(),
        n_columns: 0,
    }
}
