//! The C ABI of a model: loading (read, mapped, signed, copy, borrow), freeing, and the
//! info, identity and name-lookup functions.

use core::ffi::c_char;
use core::mem::MaybeUninit;
use std::sync::Arc;

use super::boundary::{
    boundary, c_slice, fail, free_arc, or_fail, or_null, to_arc, try_out, try_ref, try_slice,
    write_sized, Castable, OwnedByArc,
};
use super::types::*;
use crate::err;
use crate::error::{Error, Status};
use crate::model::Model;
use crate::spec::{FieldKind, FieldSpec, Side, TaskSpec};

/// A loaded model. Owned by the caller from `camoe_model_load_*` until
/// `camoe_model_free`; immutable and thread-safe: any number of threads and sessions
/// may use one model at once. Sessions keep it alive, so it may be freed before them.
pub struct camoe_model {
    _private: [u8; 0],
}

impl Castable for camoe_model {
    type Ownership = OwnedByArc;
    type RustType = Model;
}

fn give(loaded: Result<Arc<Model>, Error>, out: &mut MaybeUninit<*mut camoe_model>) -> Status {
    out.write(to_arc(or_fail!(loaded)));
    Status::Ok
}

/// The model a loader made from a NUL-terminated UTF-8 path.
fn load_path(
    path: *const c_char,
    out: *mut *mut camoe_model,
    load: impl FnOnce(&str) -> Result<Arc<Model>, Error>,
) -> Status {
    let path = or_null!(super::boundary::c_str(path), "path");
    let out = try_out!(out);
    let Ok(path) = path.to_str() else {
        return fail(err!(Status::InvalidArgument, "path is not valid UTF-8"));
    };
    give(load(path), out)
}

/// Loads a model file, read once into memory: the file may then be replaced,
/// rewritten or deleted while the model is in use. `path` is NUL-terminated UTF-8
/// (else `CAMOE_STATUS_INVALID_ARGUMENT`).
#[no_mangle]
pub extern "C" fn camoe_model_load_file(path: *const c_char, out: *mut *mut camoe_model) -> Status {
    boundary(|| load_path(path, out, |p| Model::load(p)))
}

/// Loads a model file memory-mapped (its pages shared with the page cache, not copied;
/// read into memory where mapping is unavailable). Until the model and all its
/// sessions are freed, the file must not be truncated or modified in place: that
/// raises SIGBUS, which kills the process. To update a mapped model, write the new file
/// under another name and rename it over the old path.
#[no_mangle]
pub extern "C" fn camoe_model_load_file_mapped(
    path: *const c_char,
    out: *mut *mut camoe_model,
) -> Status {
    // SAFETY: the caller keeps the file unmodified while mapped, as the doc requires.
    boundary(|| load_path(path, out, |p| unsafe { Model::load_mapped(p) }))
}

/// Loads a model file after verifying its detached Ed25519 `signature`
/// (`signature_len` = 64) with the `public_key` (`public_key_len` = 32) the app
/// trusts. The file is read once: the bytes verified are the bytes loaded. A signature
/// that does not verify is `CAMOE_STATUS_SIGNATURE`; wrong lengths are
/// `CAMOE_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn camoe_model_load_file_signed(
    path: *const c_char,
    signature: *const u8,
    signature_len: usize,
    public_key: *const u8,
    public_key_len: usize,
    out: *mut *mut camoe_model,
) -> Status {
    boundary(|| {
        let sig = try_slice!(signature, signature_len);
        let key = try_slice!(public_key, public_key_len);
        load_path(path, out, |p| Model::load_signed(p, sig, key))
    })
}

/// Verifies that `signature` is `public_key`'s Ed25519 signature of `data[0..len]`
/// (for a buffer the app then loads with `camoe_model_load_bytes_*`): `CAMOE_STATUS_OK`,
/// `CAMOE_STATUS_SIGNATURE`, or `CAMOE_STATUS_INVALID_ARGUMENT` for wrong lengths.
#[no_mangle]
pub extern "C" fn camoe_verify_signature(
    data: *const u8,
    len: usize,
    signature: *const u8,
    signature_len: usize,
    public_key: *const u8,
    public_key_len: usize,
) -> Status {
    boundary(|| {
        let data = try_slice!(data, len);
        let sig = try_slice!(signature, signature_len);
        let key = try_slice!(public_key, public_key_len);
        or_fail!(crate::signature::verify(data, sig, key));
        Status::Ok
    })
}

/// `data[..len]` as bytes: NULL with `len > 0` is `NullArgument`.
fn model_bytes<'a>(data: *const u8, len: usize) -> Result<&'a [u8], Error> {
    c_slice(data, len).ok_or_else(|| err!(Status::NullArgument, "data is NULL"))
}

/// Loads a model from a copy of `data[0..len]`: the buffer may be freed or changed as
/// soon as this returns. Costs one allocation and copy of the file.
#[no_mangle]
pub extern "C" fn camoe_model_load_bytes_copy(
    data: *const u8,
    len: usize,
    out: *mut *mut camoe_model,
) -> Status {
    boundary(|| {
        let out = try_out!(out);
        give(model_bytes(data, len).and_then(Model::from_bytes), out)
    })
}

/// Loads a model from `data[0..len]` in place, never copying it. The buffer must start
/// 16-byte aligned (else `CAMOE_STATUS_INVALID_ARGUMENT`) and must stay valid and
/// unchanged until the model and every session opened on it are freed.
#[no_mangle]
pub extern "C" fn camoe_model_load_bytes_borrowed(
    data: *const u8,
    len: usize,
    out: *mut *mut camoe_model,
) -> Status {
    boundary(|| {
        let out = try_out!(out);
        // SAFETY: the caller keeps data[..len] valid and unchanged while the model
        // lives, as this function's doc requires.
        let loaded = model_bytes(data, len).and_then(|b| unsafe { Model::from_bytes_borrowed(b) });
        give(loaded, out)
    })
}

/// Frees a model and sets `*model` to NULL. NULL or `*model == NULL` is a no-op.
#[no_mangle]
pub extern "C" fn camoe_model_free(model: *mut *mut camoe_model) {
    boundary(|| free_arc(model))
}

/// Fills `*out` with the model's sizes and shape.
#[no_mangle]
pub extern "C" fn camoe_model_get_info(
    model: *const camoe_model,
    out: *mut camoe_model_info,
) -> Status {
    boundary(|| {
        let m = try_ref!(model);
        let out = try_out!(out);
        let c = m.config();
        let count = |s| c.fields.iter().filter(|f| f.side == s).count() as u32;
        out.write(camoe_model_info {
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
        });
        Status::Ok
    })
}

/// Fills `*out` (set `out->struct_size = sizeof(camoe_model_identity)` first) with
/// the model's name, format and writer versions, and content hash: log them to know
/// which model ranked what.
#[no_mangle]
pub extern "C" fn camoe_model_get_identity(
    model: *const camoe_model,
    out: *mut camoe_model_identity,
) -> Status {
    boundary(|| {
        let m = try_ref!(model);
        let (name, name_len) = name_parts(m.name());
        or_fail!(write_sized(
            out,
            camoe_model_identity {
                struct_size: 0,
                format_version: m.format_version(),
                writer_version: m.writer_version(),
                name,
                name_len,
                content_hash: m.content_hash(),
            }
        ));
        Status::Ok
    })
}

fn name_parts(s: &str) -> (*const c_char, usize) {
    (s.as_ptr() as *const c_char, s.len())
}

/// Item `index` of one of the model's lists; out of range is `InvalidArgument`.
fn item<'a, T>(list: &'a [T], index: u32, what: &str) -> Result<&'a T, Error> {
    list.get(index as usize).ok_or_else(|| {
        err!(
            Status::InvalidArgument,
            "{what} index {index} out of range (model has {})",
            list.len()
        )
    })
}

/// Writes `info(item)` for item `index` of the list `list` picks (fields, tasks).
fn describe<T, I>(
    model: *const camoe_model,
    index: u32,
    out: *mut I,
    what: &str,
    list: fn(&Model) -> &[T],
    info: fn(&T) -> I,
) -> Status {
    let m = try_ref!(model);
    let out = try_out!(out);
    out.write(info(or_fail!(item(list(m), index, what))));
    Status::Ok
}

fn field_info(f: &FieldSpec) -> camoe_field_info {
    let (name, name_len) = name_parts(&f.name);
    let (kind, vocab) = match f.kind {
        FieldKind::Categorical { vocab, .. } => (CAMOE_FIELD_CATEGORICAL, vocab),
        FieldKind::Dense { .. } => (CAMOE_FIELD_DENSE, 0),
    };
    camoe_field_info {
        name,
        name_len,
        side: f.side as i32,
        kind,
        vocab,
        dim: f.width() as u32,
        missing: f.missing as i32,
    }
}

fn task_info(t: &TaskSpec) -> camoe_task_info {
    let (name, name_len) = name_parts(&t.name);
    camoe_task_info {
        name,
        name_len,
        format: t.format,
        group: t.group,
    }
}

/// Describes field `index` (`index >= n_fields` is `CAMOE_STATUS_INVALID_ARGUMENT`).
#[no_mangle]
pub extern "C" fn camoe_model_field(
    model: *const camoe_model,
    index: u32,
    out: *mut camoe_field_info,
) -> Status {
    boundary(|| {
        describe(
            model,
            index,
            out,
            "field",
            |m| &m.config().fields,
            field_info,
        )
    })
}

/// Describes task `index` (`index >= n_tasks` is `CAMOE_STATUS_INVALID_ARGUMENT`).
#[no_mangle]
pub extern "C" fn camoe_model_task(
    model: *const camoe_model,
    index: u32,
    out: *mut camoe_task_info,
) -> Status {
    boundary(|| describe(model, index, out, "task", |m| &m.config().tasks, task_info))
}

/// Name of item `index` of one of the model's lists: `list` is one of `CAMOE_LIST_*`
/// (fields, tasks, formats, groups; another value is `CAMOE_STATUS_INVALID_ARGUMENT`).
/// The name points into the model (valid while it lives) and is not NUL-terminated;
/// `index` past the list's end is `CAMOE_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn camoe_model_list_name(
    model: *const camoe_model,
    list: i32,
    index: u32,
    name: *mut *const c_char,
    name_len: *mut usize,
) -> Status {
    boundary(|| {
        let m = try_ref!(model);
        let name = try_out!(name);
        let name_len = try_out!(name_len);
        let c = m.config();
        let found = match list {
            CAMOE_LIST_FIELDS => item(&c.fields, index, "field").map(|f| f.name.as_str()),
            CAMOE_LIST_TASKS => item(&c.tasks, index, "task").map(|t| t.name.as_str()),
            CAMOE_LIST_FORMATS => item(&c.formats, index, "format").map(String::as_str),
            CAMOE_LIST_GROUPS => item(&c.groups, index, "group").map(String::as_str),
            x => Err(err!(
                Status::InvalidArgument,
                "list {x} is not a CAMOE_LIST_*"
            )),
        };
        let (p, l) = name_parts(or_fail!(found));
        name.write(p);
        name_len.write(l);
        Status::Ok
    })
}

/// Looks `name[..len]` up with `find`; an unknown or non-UTF-8 name is `InvalidArgument`.
fn lookup(
    model: *const camoe_model,
    name: *const c_char,
    len: usize,
    out: *mut u32,
    what: &str,
    find: fn(&Model, &str) -> Option<u32>,
) -> Status {
    let m = try_ref!(model);
    let out = try_out!(out);
    let name = name.cast::<u8>();
    let bytes = try_slice!(name, len);
    let Ok(s) = core::str::from_utf8(bytes) else {
        return fail(err!(
            Status::InvalidArgument,
            "{what} name is not valid UTF-8"
        ));
    };
    match find(m, s) {
        Some(i) => {
            out.write(i);
            Status::Ok
        }
        None => fail(err!(Status::InvalidArgument, "unknown {what} {s:?}")),
    }
}

/// Index of the field named `name[0..name_len]`; an unknown name is
/// `CAMOE_STATUS_INVALID_ARGUMENT`. Resolve names once per session, not per call.
#[no_mangle]
pub extern "C" fn camoe_model_field_index(
    model: *const camoe_model,
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> Status {
    boundary(|| lookup(model, name, name_len, out, "field", Model::field_index))
}

/// Index of the task named `name[0..name_len]`; an unknown name is
/// `CAMOE_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn camoe_model_task_index(
    model: *const camoe_model,
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> Status {
    boundary(|| lookup(model, name, name_len, out, "task", Model::task_index))
}

/// Index of the format named `name[0..name_len]` (bit of `eligible_formats`); an
/// unknown name is `CAMOE_STATUS_INVALID_ARGUMENT`.
#[no_mangle]
pub extern "C" fn camoe_model_format_index(
    model: *const camoe_model,
    name: *const c_char,
    name_len: usize,
    out: *mut u32,
) -> Status {
    boundary(|| lookup(model, name, name_len, out, "format", Model::format_index))
}

/// The 64-bit id the bytes `s[0..len]` hash to (any length): pass it as
/// `CAMOE_VALUE_ID` to hash a string once and reuse it across calls.
#[no_mangle]
pub extern "C" fn camoe_model_hash_str(
    model: *const camoe_model,
    s: *const c_char,
    len: usize,
    out: *mut u64,
) -> Status {
    boundary(|| {
        let m = try_ref!(model);
        let out = try_out!(out);
        let s = s.cast::<u8>();
        let bytes = try_slice!(s, len);
        out.write(m.hash_str(bytes));
        Status::Ok
    })
}
