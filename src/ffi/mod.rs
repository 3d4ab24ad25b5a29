//! The C ABI (`include/camoe.h` is generated from this file by cbindgen).
//!
//! Conventions, repeated at the top of the header: every fallible function returns a
//! `camoe_status`; outputs go through pointers placed last and are written only on
//! success; `_free(NULL)` is a no-op; a failed call leaves a message for
//! `camoe_last_error()` on the calling thread; no function lets a panic escape.

#![allow(non_camel_case_types)]

mod boundary;

use core::ffi::{c_char, CStr};
use std::sync::Arc;

use boundary::{fail, ffi_boundary, set_last_error, try_mut, try_ref, try_slice, try_slice_mut};

use crate::err;
use crate::error::{Error, Status};
use crate::features::{Feature, FeatureList, Value};
use crate::model::Model;
use crate::rank::{CandidateList, Objective, RankOptions, Session};
use crate::spec::{FieldKind, Side};

/// Status of a call: 0 is success, negative numbers are errors (stable, never reused).
pub type camoe_status = i32;
pub const CAMOE_STATUS_OK: camoe_status = 0;
pub const CAMOE_STATUS_NULL_ARGUMENT: camoe_status = -1;
pub const CAMOE_STATUS_IO: camoe_status = -2;
pub const CAMOE_STATUS_BAD_MODEL: camoe_status = -3;
pub const CAMOE_STATUS_VERSION: camoe_status = -4;
pub const CAMOE_STATUS_CHECKSUM: camoe_status = -5;
pub const CAMOE_STATUS_CAPACITY: camoe_status = -6;
pub const CAMOE_STATUS_BAD_FEATURE: camoe_status = -7;
pub const CAMOE_STATUS_PANIC: camoe_status = -8;
pub const CAMOE_STATUS_INVALID_ARGUMENT: camoe_status = -9;

/// `camoe_feature.kind`: no value (the field's missing policy applies).
pub const CAMOE_VALUE_MISSING: u32 = 0;
/// `camoe_feature.kind`: categorical value in `id`.
pub const CAMOE_VALUE_ID: u32 = 1;
/// `camoe_feature.kind`: categorical value as text in `text` / `text_len` (not NUL-terminated).
pub const CAMOE_VALUE_STR: u32 = 2;
/// `camoe_feature.kind`: dense value in `dense`.
pub const CAMOE_VALUE_DENSE: u32 = 3;

/// `camoe_rank_options.objective`: sort by pCTR.
pub const CAMOE_OBJECTIVE_PCTR: i32 = 0;
/// `camoe_rank_options.objective`: sort by bid × pCTR.
pub const CAMOE_OBJECTIVE_EXPECTED_VALUE: i32 = 1;

/// `camoe_field_info.side`.
pub const CAMOE_SIDE_REQUEST: i32 = 0;
pub const CAMOE_SIDE_CANDIDATE: i32 = 1;
/// `camoe_field_info.kind`.
pub const CAMOE_FIELD_CATEGORICAL: i32 = 0;
pub const CAMOE_FIELD_DENSE: i32 = 1;

/// A loaded model. Owned by the caller from `camoe_model_load_*` until
/// `camoe_model_free`; immutable and thread-safe: any number of threads and sessions
/// may use one model at once. Sessions keep it alive, so it may be freed before them.
pub struct camoe_model {
    _private: [u8; 0],
}

/// A ranking session: per-thread scratch for one model. Owned by the caller from
/// `camoe_session_new` until `camoe_session_free`. Not thread-safe: use one session per
/// thread (or lock around it).
pub struct camoe_session {
    _private: [u8; 0],
}

/// One feature of a request or a candidate.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct camoe_feature {
    /// Text of a `CAMOE_VALUE_STR` value (need not be NUL-terminated; NULL if `text_len` is 0).
    pub text: *const c_char,
    pub text_len: usize,
    /// A `CAMOE_VALUE_ID` value.
    pub id: u64,
    /// Field index from `camoe_model_field_index`.
    pub field: u32,
    /// One of `CAMOE_VALUE_*`.
    pub kind: u32,
    /// A `CAMOE_VALUE_DENSE` value.
    pub dense: f32,
}

/// One candidate ad.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct camoe_candidate {
    /// Its candidate-side features (NULL allowed when `n_features` is 0).
    pub features: *const camoe_feature,
    pub n_features: usize,
    /// Task index from `camoe_model_task_index`: selects the scoring head and the format.
    pub task: u32,
    /// Bid, for `CAMOE_OBJECTIVE_EXPECTED_VALUE`.
    pub bid: f32,
}

/// Options of `camoe_session_rank`; `camoe_rank_options_default` fills the defaults.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct camoe_rank_options {
    /// Keep the best `top_k` (0 = all eligible).
    pub top_k: u32,
    /// One of `CAMOE_OBJECTIVE_*`.
    pub objective: i32,
    /// Bit f set = format f eligible (`camoe_model_format_index`); default all bits.
    pub eligible_formats: u32,
    /// Inference-time expert masking: mix only each candidate's `expert_top_k` highest
    /// gated experts and skip experts no candidate needs (0 = all experts, the default).
    pub expert_top_k: u32,
}

/// Sizes and shape of a model.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct camoe_model_info {
    pub n_fields: u32,
    pub n_request_fields: u32,
    pub n_candidate_fields: u32,
    pub n_tasks: u32,
    pub n_groups: u32,
    pub n_formats: u32,
    pub n_experts: u32,
    pub n_cross_layers: u32,
    /// 0 = full-rank cross layers.
    pub cross_rank: u32,
    /// 0 f32, 1 f16, 2 int8, 3 mixed (type of the linear layers).
    pub mode: i32,
    pub x0_width: u32,
    pub request_width: u32,
    pub file_size: u64,
    pub parameter_count: u64,
    /// Multiply-accumulates per candidate, before request-side precompute.
    pub macs_per_candidate: u64,
    /// 1 when the tensors are read in place (mmap or the caller's buffer).
    pub zero_copy: u32,
}

/// One field of the schema. `name` points into the model (valid while it lives) and is
/// not NUL-terminated.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct camoe_field_info {
    pub name: *const c_char,
    pub name_len: usize,
    /// `CAMOE_SIDE_*`.
    pub side: i32,
    /// `CAMOE_FIELD_*`.
    pub kind: i32,
    /// Categorical: embedding rows (row 0 = missing); dense: 0.
    pub vocab: u32,
    /// Width in x0.
    pub dim: u32,
    /// 0 = a missing value uses the default, 1 = a missing value is an error.
    pub missing: i32,
}

/// One task (placement). `name` as in `camoe_field_info`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct camoe_task_info {
    pub name: *const c_char,
    pub name_len: usize,
    pub format: u32,
    pub group: u32,
}

/// `(MAJOR << 16) | (MINOR << 8) | PATCH` of this library; equals `CAMOE_VERSION_NUMBER`.
#[no_mangle]
pub extern "C" fn camoe_abi_version() -> u32 {
    (crate::VERSION_MAJOR << 16) | (crate::VERSION_MINOR << 8) | crate::VERSION_PATCH
}

/// Name of a status (`"BAD_MODEL"`…), a static NUL-terminated string; `"UNKNOWN"` otherwise.
#[no_mangle]
pub extern "C" fn camoe_status_name(status: camoe_status) -> *const c_char {
    let s: &'static CStr = match status {
        CAMOE_STATUS_OK => c"OK",
        CAMOE_STATUS_NULL_ARGUMENT => c"NULL_ARGUMENT",
        CAMOE_STATUS_IO => c"IO",
        CAMOE_STATUS_BAD_MODEL => c"BAD_MODEL",
        CAMOE_STATUS_VERSION => c"VERSION",
        CAMOE_STATUS_CHECKSUM => c"CHECKSUM",
        CAMOE_STATUS_CAPACITY => c"CAPACITY",
        CAMOE_STATUS_BAD_FEATURE => c"BAD_FEATURE",
        CAMOE_STATUS_PANIC => c"PANIC",
        CAMOE_STATUS_INVALID_ARGUMENT => c"INVALID_ARGUMENT",
        _ => c"UNKNOWN",
    };
    s.as_ptr()
}

/// Which kernel each slot uses on this CPU, e.g.
/// `"tier=avx512vnni gemm_i8=x86_64_avx512vnni_gemm_i8_4x64 dot_f32=… dot_f16=…"`
/// (static, NUL-terminated). `CAMOE_KERNEL_TIER=scalar|avx2|avxvnni|avx512vnni|neon|dotprod|i8mm`
/// in the environment caps the tier; it is read once, on first use.
#[no_mangle]
pub extern "C" fn camoe_kernel_info() -> *const c_char {
    static INFO: std::sync::OnceLock<std::ffi::CString> = std::sync::OnceLock::new();
    let r = std::panic::catch_unwind(|| {
        INFO.get_or_init(|| {
            std::ffi::CString::new(crate::kernels::kernels().describe()).unwrap_or_default()
        })
        .as_ptr()
    });
    r.unwrap_or(c"unknown".as_ptr())
}

/// Message of the last failed call on this thread (NUL-terminated, never NULL; empty if
/// none failed). Valid until the next camoe call on this thread.
#[no_mangle]
pub extern "C" fn camoe_last_error() -> *const c_char {
    boundary::last_error_ptr()
}

fn put<T>(out: *mut T, v: T) {
    // SAFETY: every caller checked `out` for NULL with try_mut before computing `v`.
    unsafe { out.write(v) }
}

fn give_model(model: Arc<Model>, out: *mut *mut camoe_model) -> camoe_status {
    put(out, Arc::into_raw(model) as *mut camoe_model);
    CAMOE_STATUS_OK
}

/// Loads a model file (memory-mapped). `path` is NUL-terminated UTF-8.
#[no_mangle]
pub extern "C" fn camoe_model_load_file(
    path: *const c_char,
    out: *mut *mut camoe_model,
) -> camoe_status {
    ffi_boundary!({
        let path = try_ref!(path);
        try_mut!(out);
        // SAFETY: `path` is non-NULL and the caller promises a NUL-terminated string.
        let path = unsafe { CStr::from_ptr(path) };
        let Ok(path) = path.to_str() else {
            return fail(err!(Status::InvalidArgument, "path is not valid UTF-8"));
        };
        match Model::load(path) {
            Ok(m) => give_model(m, out),
            Err(e) => fail(e),
        }
    })
}

/// Loads a model from `data[0..len]`. When `data` is 16-byte aligned the tensors are
/// read in place and the buffer must stay valid and unchanged until the model is freed
/// (and every session of it); otherwise it is copied and may be released on return.
#[no_mangle]
pub extern "C" fn camoe_model_load_bytes(
    data: *const u8,
    len: usize,
    out: *mut *mut camoe_model,
) -> camoe_status {
    ffi_boundary!({
        try_mut!(out);
        if data.is_null() {
            if len == 0 {
                return fail(err!(Status::BadModel, "an empty buffer is not a model"));
            }
            return fail(err!(Status::NullArgument, "data is NULL"));
        }
        // SAFETY: data is non-NULL; the caller promises data[..len] is readable and
        // outlives the model (documented above).
        match unsafe { Model::from_raw(data, len) } {
            Ok(m) => give_model(m, out),
            Err(e) => fail(e),
        }
    })
}

/// Frees a model and sets `*model` to NULL. NULL or `*model == NULL` is a no-op.
#[no_mangle]
pub extern "C" fn camoe_model_free(model: *mut *mut camoe_model) {
    let _ = ffi_boundary!({
        if !model.is_null() {
            // SAFETY: non-NULL pointer to the caller's handle variable.
            let m = unsafe { core::mem::replace(&mut *model, core::ptr::null_mut()) };
            if !m.is_null() {
                // SAFETY: `m` came from Arc::into_raw in give_model and is released once
                // (the caller's variable is now NULL).
                drop(unsafe { Arc::from_raw(m as *const Model) });
            }
        }
        CAMOE_STATUS_OK
    });
}

fn model_ref<'a>(m: *const camoe_model) -> &'a Model {
    // SAFETY: callers check for NULL first; a non-NULL handle came from give_model and
    // the caller promises it has not been freed.
    unsafe { &*(m as *const Model) }
}

/// Fills `*out` with the model's sizes and shape.
#[no_mangle]
pub extern "C" fn camoe_model_get_info(
    model: *const camoe_model,
    out: *mut camoe_model_info,
) -> camoe_status {
    ffi_boundary!({
        let m = model_ref(try_ref!(model));
        try_mut!(out);
        let c = m.config();
        let count = |s| c.fields.iter().filter(|f| f.side == s).count() as u32;
        put(
            out,
            camoe_model_info {
                n_fields: c.fields.len() as u32,
                n_request_fields: count(Side::Request),
                n_candidate_fields: count(Side::Candidate),
                n_tasks: c.tasks.len() as u32,
                n_groups: c.groups.len() as u32,
                n_formats: c.formats.len() as u32,
                n_experts: c.arch.experts,
                n_cross_layers: c.arch.cross_layers,
                cross_rank: c.arch.cross_rank,
                mode: m.mode() as i32,
                x0_width: m.x0_width() as u32,
                request_width: m.request_width() as u32,
                file_size: m.file_size() as u64,
                parameter_count: m.parameter_count(),
                macs_per_candidate: c.macs_per_candidate(),
                zero_copy: m.is_zero_copy() as u32,
            },
        );
        CAMOE_STATUS_OK
    })
}

fn name_parts(s: &str) -> (*const c_char, usize) {
    (s.as_ptr() as *const c_char, s.len())
}

fn index_err(what: &str, i: u32, n: usize) -> camoe_status {
    fail(err!(
        Status::InvalidArgument,
        "{what} index {i} out of range (model has {n})"
    ))
}

/// Describes field `index`.
#[no_mangle]
pub extern "C" fn camoe_model_field(
    model: *const camoe_model,
    index: u32,
    out: *mut camoe_field_info,
) -> camoe_status {
    ffi_boundary!({
        let m = model_ref(try_ref!(model));
        try_mut!(out);
        let Some(f) = m.config().fields.get(index as usize) else {
            return index_err("field", index, m.config().fields.len());
        };
        let (name, name_len) = name_parts(&f.name);
        let (kind, vocab) = match f.kind {
            FieldKind::Categorical { vocab, .. } => (CAMOE_FIELD_CATEGORICAL, vocab),
            FieldKind::Dense { .. } => (CAMOE_FIELD_DENSE, 0),
        };
        put(
            out,
            camoe_field_info {
                name,
                name_len,
                side: f.side as i32,
                kind,
                vocab,
                dim: f.width() as u32,
                missing: f.missing as i32,
            },
        );
        CAMOE_STATUS_OK
    })
}

/// Describes task `index`.
#[no_mangle]
pub extern "C" fn camoe_model_task(
    model: *const camoe_model,
    index: u32,
    out: *mut camoe_task_info,
) -> camoe_status {
    ffi_boundary!({
        let m = model_ref(try_ref!(model));
        try_mut!(out);
        let Some(t) = m.config().tasks.get(index as usize) else {
            return index_err("task", index, m.config().tasks.len());
        };
        let (name, name_len) = name_parts(&t.name);
        put(
            out,
            camoe_task_info {
                name,
                name_len,
                format: t.format,
                group: t.group,
            },
        );
        CAMOE_STATUS_OK
    })
}

/// Name of format `index` (points into the model, not NUL-terminated).
#[no_mangle]
pub extern "C" fn camoe_model_format_name(
    model: *const camoe_model,
    index: u32,
    name: *mut *const c_char,
    name_len: *mut usize,
) -> camoe_status {
    ffi_boundary!({
        let m = model_ref(try_ref!(model));
        try_mut!(name);
        try_mut!(name_len);
        let Some(f) = m.config().formats.get(index as usize) else {
            return index_err("format", index, m.config().formats.len());
        };
        let (p, l) = name_parts(f);
        put(name, p);
        put(name_len, l);
        CAMOE_STATUS_OK
    })
}

/// Name of group `index` (points into the model, not NUL-terminated).
#[no_mangle]
pub extern "C" fn camoe_model_group_name(
    model: *const camoe_model,
    index: u32,
    name: *mut *const c_char,
    name_len: *mut usize,
) -> camoe_status {
    ffi_boundary!({
        let m = model_ref(try_ref!(model));
        try_mut!(name);
        try_mut!(name_len);
        let Some(g) = m.config().groups.get(index as usize) else {
            return index_err("group", index, m.config().groups.len());
        };
        let (p, l) = name_parts(g);
        put(name, p);
        put(name_len, l);
        CAMOE_STATUS_OK
    })
}

fn lookup(
    model: *const camoe_model,
    name: *const c_char,
    len: usize,
    out: *mut u32,
    what: &str,
    find: fn(&Model, &str) -> Option<u32>,
) -> camoe_status {
    let m = model_ref(try_ref!(model));
    try_mut!(out);
    let bytes = try_slice!(name as *const u8, len);
    let Ok(s) = core::str::from_utf8(bytes) else {
        return fail(err!(Status::BadFeature, "{what} name is not valid UTF-8"));
    };
    match find(m, s) {
        Some(i) => {
            put(out, i);
            CAMOE_STATUS_OK
        }
        None => fail(err!(Status::BadFeature, "unknown {what} {s:?}")),
    }
}

/// Index of the field named `name[0..name_len]`; unknown names are `CAMOE_STATUS_BAD_FEATURE`.
/// Resolve names once per session, not per call.
#[no_mangle]
pub extern "C" fn camoe_model_field_index(
    model: *const camoe_model,
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> camoe_status {
    ffi_boundary!(lookup(
        model,
        name,
        name_len,
        out,
        "field",
        Model::field_index
    ))
}

/// Index of the task named `name[0..name_len]`; unknown names are `CAMOE_STATUS_BAD_FEATURE`.
#[no_mangle]
pub extern "C" fn camoe_model_task_index(
    model: *const camoe_model,
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> camoe_status {
    ffi_boundary!(lookup(
        model,
        name,
        name_len,
        out,
        "task",
        Model::task_index
    ))
}

/// Index of the format named `name[0..name_len]` (bit of `eligible_formats`).
#[no_mangle]
pub extern "C" fn camoe_model_format_index(
    model: *const camoe_model,
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> camoe_status {
    ffi_boundary!(lookup(
        model,
        name,
        name_len,
        out,
        "format",
        Model::format_index
    ))
}

/// The 64-bit id a text value hashes to: pass it as `CAMOE_VALUE_ID` to hash a string
/// once and reuse it across calls.
#[no_mangle]
pub extern "C" fn camoe_model_hash_str(
    model: *const camoe_model,
    s: *const c_char,
    len: usize,
    out: *mut u64,
) -> camoe_status {
    ffi_boundary!({
        let m = model_ref(try_ref!(model));
        try_mut!(out);
        let bytes = try_slice!(s as *const u8, len);
        put(out, m.hash_str(bytes));
        CAMOE_STATUS_OK
    })
}

/// Opens a session for up to `max_candidates` candidates per `camoe_session_rank`.
/// All its memory is allocated here.
#[no_mangle]
pub extern "C" fn camoe_session_new(
    model: *const camoe_model,
    max_candidates: usize,
    out: *mut *mut camoe_session,
) -> camoe_status {
    ffi_boundary!({
        let model = try_ref!(model) as *const Model;
        try_mut!(out);
        // SAFETY: `model` is a live handle from give_model (an Arc); we take one more
        // strong reference for the session and leave the caller's untouched.
        let arc = unsafe {
            Arc::increment_strong_count(model);
            Arc::from_raw(model)
        };
        match Session::new(arc, max_candidates) {
            Ok(s) => {
                put(out, Box::into_raw(Box::new(s)) as *mut camoe_session);
                CAMOE_STATUS_OK
            }
            Err(e) => fail(e),
        }
    })
}

/// Frees a session and sets `*session` to NULL. NULL or `*session == NULL` is a no-op.
#[no_mangle]
pub extern "C" fn camoe_session_free(session: *mut *mut camoe_session) {
    let _ = ffi_boundary!({
        if !session.is_null() {
            // SAFETY: non-NULL pointer to the caller's handle variable.
            let s = unsafe { core::mem::replace(&mut *session, core::ptr::null_mut()) };
            if !s.is_null() {
                // SAFETY: `s` came from Box::into_raw in camoe_session_new, freed once.
                drop(unsafe { Box::from_raw(s as *mut Session) });
            }
        }
        CAMOE_STATUS_OK
    });
}

fn session_mut<'a>(s: *mut camoe_session) -> &'a mut Session {
    // SAFETY: callers check for NULL first; a non-NULL handle came from
    // camoe_session_new and the caller promises it is live and not shared across threads.
    unsafe { &mut *(s as *mut Session) }
}

impl FeatureList for [camoe_feature] {
    fn count(&self) -> usize {
        self.len()
    }
    fn feature(&self, i: usize) -> Result<Feature<'_>, Error> {
        let f = &self[i];
        let value = match f.kind {
            CAMOE_VALUE_MISSING => Value::Missing,
            CAMOE_VALUE_ID => Value::Id(f.id),
            CAMOE_VALUE_DENSE => Value::Dense(f.dense),
            CAMOE_VALUE_STR => {
                if f.text.is_null() && f.text_len > 0 {
                    return Err(err!(Status::NullArgument, "feature {i}: text is NULL"));
                }
                // SAFETY: non-NULL (or len 0) and the caller promises text[..text_len]
                // is readable for the duration of the call.
                Value::Str(unsafe { raw_slice(f.text as *const u8, f.text_len) })
            }
            k => {
                return Err(err!(
                    Status::BadFeature,
                    "feature {i}: kind {k} is not a CAMOE_VALUE_*"
                ))
            }
        };
        Ok(Feature {
            field: f.field,
            value,
        })
    }
}

/// `ptr[..len]`, or an empty slice when `len == 0` (ptr may then be NULL).
///
/// # Safety
/// When `len > 0`, `ptr` must be non-NULL, aligned, and `ptr[..len]` readable for `'a`.
pub(crate) unsafe fn raw_slice<'a, T>(ptr: *const T, len: usize) -> &'a [T] {
    if len == 0 {
        &[]
    } else {
        // SAFETY: forwarded caller contract.
        unsafe { core::slice::from_raw_parts(ptr, len) }
    }
}

impl CandidateList for [camoe_candidate] {
    type Row<'r> = &'r [camoe_feature];
    fn count(&self) -> usize {
        self.len()
    }
    fn task(&self, i: usize) -> u32 {
        self[i].task
    }
    fn bid(&self, i: usize) -> f32 {
        self[i].bid
    }
    fn features(&self, i: usize) -> Result<&[camoe_feature], Error> {
        let c = &self[i];
        if c.features.is_null() && c.n_features > 0 {
            return Err(err!(
                Status::NullArgument,
                "candidate {i}: features is NULL"
            ));
        }
        // SAFETY: non-NULL (or count 0); the caller promises the array is readable.
        Ok(unsafe { raw_slice(c.features, c.n_features) })
    }
}

/// Sets the request's (user and context) features; computes what depends only on them.
#[no_mangle]
pub extern "C" fn camoe_session_set_request(
    session: *mut camoe_session,
    features: *const camoe_feature,
    n_features: usize,
) -> camoe_status {
    ffi_boundary!({
        let s = session_mut(try_mut!(session));
        let f = try_slice!(features, n_features);
        match s.set_request_from(f) {
            Ok(()) => CAMOE_STATUS_OK,
            Err(e) => fail(e),
        }
    })
}

/// Fills `*out` with the default options: all candidates, by pCTR, every format.
#[no_mangle]
pub extern "C" fn camoe_rank_options_default(out: *mut camoe_rank_options) -> camoe_status {
    ffi_boundary!({
        try_mut!(out);
        put(
            out,
            camoe_rank_options {
                top_k: 0,
                objective: CAMOE_OBJECTIVE_PCTR,
                eligible_formats: u32::MAX,
                expert_top_k: 0,
            },
        );
        CAMOE_STATUS_OK
    })
}

/// Scores `n` candidates against the session's request. `options` may be NULL
/// (defaults). On success `scores[0..n]` get each candidate's pCTR (NaN when its
/// format is not eligible), `order[0..*order_len]` the indices of the best candidates,
/// best first, at most `order_cap` of them. No heap allocation happens here.
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
) -> camoe_status {
    ffi_boundary!({
        let s = session_mut(try_mut!(session));
        try_mut!(order_len);
        let cands = try_slice!(candidates, n);
        let scores = try_slice_mut!(scores, n);
        let order = try_slice_mut!(order, order_cap);
        let opts = if options.is_null() {
            RankOptions::default()
        } else {
            // SAFETY: non-NULL; the caller promises a valid camoe_rank_options.
            let o = unsafe { *options };
            let objective = match o.objective {
                CAMOE_OBJECTIVE_PCTR => Objective::Pctr,
                CAMOE_OBJECTIVE_EXPECTED_VALUE => Objective::ExpectedValue,
                x => {
                    return fail(err!(
                        Status::InvalidArgument,
                        "objective {x} is not a CAMOE_OBJECTIVE_*"
                    ))
                }
            };
            RankOptions {
                top_k: o.top_k as usize,
                objective,
                eligible_formats: o.eligible_formats,
                expert_top_k: o.expert_top_k as usize,
            }
        };
        match s.rank_from(cands, &opts, scores, order) {
            Ok(k) => {
                put(order_len, k);
                CAMOE_STATUS_OK
            }
            Err(e) => fail(e),
        }
    })
}

/// For tests: the message last set on this thread, as Rust text.
pub fn last_error_message() -> String {
    // SAFETY: camoe_last_error returns a NUL-terminated thread-local buffer.
    unsafe { CStr::from_ptr(camoe_last_error()) }
        .to_string_lossy()
        .into_owned()
}

#[doc(hidden)]
pub fn __set_last_error_for_tests(e: &Error) {
    set_last_error(e);
}
