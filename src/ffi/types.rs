//! The C ABI's data: named constants, the structs callers fill or read, and how the
//! feature and candidate arrays are read without copying them.

use core::ffi::c_char;

use super::boundary::{c_slice, Growable};
use crate::columns::{Column, ColumnList, ColumnValues};
use crate::err;
use crate::error::{Error, Status};
use crate::features::{Feature, FeatureList, Value};
use crate::model::Mode;
use crate::rank::{CandidateList, Objective, RankOptions, SessionOptions};
use crate::spec::{Missing, Side};

/// `camoe_feature.kind`: no value (the field's missing policy applies).
pub const CAMOE_VALUE_MISSING: i32 = 0;
/// `camoe_feature.kind`: categorical value in `id`.
pub const CAMOE_VALUE_ID: i32 = 1;
/// `camoe_feature.kind`: categorical value as bytes in `text` / `text_len` (any length,
/// need not be UTF-8 nor NUL-terminated; hashed as given).
pub const CAMOE_VALUE_STR: i32 = 2;
/// `camoe_feature.kind`: dense value in `dense`.
pub const CAMOE_VALUE_DENSE: i32 = 3;

/// `camoe_model_list_name`: the schema's fields.
pub const CAMOE_LIST_FIELDS: i32 = 0;
/// `camoe_model_list_name`: the tasks (placements).
pub const CAMOE_LIST_TASKS: i32 = 1;
/// `camoe_model_list_name`: the ad formats (bits of `eligible_formats`).
pub const CAMOE_LIST_FORMATS: i32 = 2;
/// `camoe_model_list_name`: the modality groups.
pub const CAMOE_LIST_GROUPS: i32 = 3;

/// `camoe_rank_options.objective`: sort by pCTR.
pub const CAMOE_OBJECTIVE_PCTR: i32 = 0;
/// `camoe_rank_options.objective`: sort by bid × pCTR.
pub const CAMOE_OBJECTIVE_EXPECTED_VALUE: i32 = 1;

/// `camoe_field_info.side`: user or context, one value per request.
pub const CAMOE_SIDE_REQUEST: i32 = 0;
/// `camoe_field_info.side`: the ad, one value per candidate.
pub const CAMOE_SIDE_CANDIDATE: i32 = 1;
/// `camoe_field_info.kind`: an id or text hashed into an embedding table.
pub const CAMOE_FIELD_CATEGORICAL: i32 = 0;
/// `camoe_field_info.kind`: one float, normalized and clipped.
pub const CAMOE_FIELD_DENSE: i32 = 1;
/// `camoe_field_info.missing`: a missing value uses the default (categorical row 0,
/// dense the mean).
pub const CAMOE_MISSING_USE_DEFAULT: i32 = 0;
/// `camoe_field_info.missing`: a missing value is `CAMOE_STATUS_BAD_FEATURE`.
pub const CAMOE_MISSING_ERROR: i32 = 1;
/// `camoe_model_info.mode`: float32 linear layers.
pub const CAMOE_MODE_F32: i32 = 0;
/// `camoe_model_info.mode`: float16 linear layers.
pub const CAMOE_MODE_F16: i32 = 1;
/// `camoe_model_info.mode`: int8 linear layers.
pub const CAMOE_MODE_INT8: i32 = 2;
/// `camoe_model_info.mode`: linear layers of more than one type.
pub const CAMOE_MODE_MIXED: i32 = 3;

// The C numbers are the Rust enums' discriminants; a change to either fails the build.
const _: () = {
    assert!(Objective::Pctr as i32 == CAMOE_OBJECTIVE_PCTR);
    assert!(Objective::ExpectedValue as i32 == CAMOE_OBJECTIVE_EXPECTED_VALUE);
    assert!(Side::Request as i32 == CAMOE_SIDE_REQUEST);
    assert!(Side::Candidate as i32 == CAMOE_SIDE_CANDIDATE);
    assert!(Missing::UseDefault as i32 == CAMOE_MISSING_USE_DEFAULT);
    assert!(Missing::Error as i32 == CAMOE_MISSING_ERROR);
    assert!(Mode::F32 as i32 == CAMOE_MODE_F32);
    assert!(Mode::F16 as i32 == CAMOE_MODE_F16);
    assert!(Mode::Int8 as i32 == CAMOE_MODE_INT8);
    assert!(Mode::Mixed as i32 == CAMOE_MODE_MIXED);
};

/// One feature of a request or a candidate. Frozen layout: arrays of it have no room
/// for a size field, so new kinds of values come as new `CAMOE_VALUE_*` kinds and new
/// data through new functions, never as new fields.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct camoe_feature {
    /// Bytes of a `CAMOE_VALUE_STR` value (need not be NUL-terminated; NULL if `text_len` is 0).
    pub text: *const c_char,
    pub text_len: usize,
    /// A `CAMOE_VALUE_ID` value.
    pub id: u64,
    /// Field index from `camoe_model_field_index` (an index the model does not have is
    /// `CAMOE_STATUS_BAD_FEATURE`).
    pub field: u32,
    /// One of `CAMOE_VALUE_*`.
    pub kind: i32,
    /// A `CAMOE_VALUE_DENSE` value.
    pub dense: f32,
}

impl camoe_feature {
    /// The C form of a Rust feature, borrowing the same text bytes (for callers that
    /// hold both, such as tests and fuzz targets).
    pub fn from_rust(f: &Feature<'_>) -> camoe_feature {
        let mut c = camoe_feature {
            text: core::ptr::null(),
            text_len: 0,
            id: 0,
            field: f.field,
            kind: CAMOE_VALUE_MISSING,
            dense: 0.0,
        };
        match f.value {
            Value::Missing => {}
            Value::Id(id) => (c.kind, c.id) = (CAMOE_VALUE_ID, id),
            Value::Str(s) => {
                (c.kind, c.text, c.text_len) = (CAMOE_VALUE_STR, s.as_ptr().cast(), s.len())
            }
            Value::Dense(d) => (c.kind, c.dense) = (CAMOE_VALUE_DENSE, d),
        }
        c
    }
}

/// One candidate ad. Frozen layout, like `camoe_feature`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct camoe_candidate {
    /// Its candidate-side features (NULL allowed when `n_features` is 0).
    pub features: *const camoe_feature,
    pub n_features: usize,
    /// Task index from `camoe_model_task_index`: selects the scoring head and the
    /// format (an index the model does not have is `CAMOE_STATUS_BAD_FEATURE`).
    pub task: u32,
    /// Bid, for `CAMOE_OBJECTIVE_EXPECTED_VALUE` (finite and >= 0, else
    /// `CAMOE_STATUS_BAD_FEATURE`).
    pub bid: f32,
}

/// Options of `camoe_session_new_with_options`. Set `struct_size =
/// sizeof(camoe_session_options)`, then call `camoe_session_options_default` to fill
/// the rest. Growable like `camoe_rank_options` (this whole layout is the first one).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct camoe_session_options {
    /// `sizeof(camoe_session_options)` as the caller compiled it.
    pub struct_size: u32,
    /// The most candidates one `camoe_session_rank` takes, 1..=1048576 (default 256).
    pub max_candidates: usize,
    /// Threads a rank call runs on, 1..=64 (default 1; 0 or more than 64 is
    /// `CAMOE_STATUS_INVALID_ARGUMENT`): the calling thread and `threads - 1` worker
    /// threads the session starts when it is created and joins when it is freed. They
    /// sleep between calls. Scores are the same bits for every thread count.
    pub threads: u32,
}

// SAFETY: repr(C), starts with the u32 struct_size, integer fields only.
unsafe impl Growable for camoe_session_options {
    const MIN_SIZE: usize = core::mem::size_of::<camoe_session_options>();
    const NAME: &'static str = "camoe_session_options";
}

impl camoe_session_options {
    /// The C form of Rust options.
    pub fn from_rust(o: &SessionOptions) -> camoe_session_options {
        camoe_session_options {
            struct_size: core::mem::size_of::<camoe_session_options>() as u32,
            max_candidates: o.max_candidates,
            threads: o.threads.try_into().unwrap_or(u32::MAX),
        }
    }

    pub fn to_rust(self) -> SessionOptions {
        SessionOptions {
            max_candidates: self.max_candidates,
            threads: self.threads as usize,
        }
    }
}

/// Options of `camoe_session_rank`. Set `struct_size = sizeof(camoe_rank_options)`,
/// then call `camoe_rank_options_default` to fill the rest. Growable: the library
/// reads the first `struct_size` bytes, so a caller built against an older, smaller
/// layout gets the defaults for the fields it does not have. A `struct_size` outside
/// 16..=1024 (16 is the first layout: `struct_size` to `eligible_formats`) is
/// `CAMOE_STATUS_INVALID_ARGUMENT`, and so is a larger struct whose bytes past this
/// library's size are not all zero. New fields are only ever appended.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct camoe_rank_options {
    /// `sizeof(camoe_rank_options)` as the caller compiled it.
    pub struct_size: u32,
    /// Keep the best `top_k` (0 = all eligible).
    pub top_k: u32,
    /// One of `CAMOE_OBJECTIVE_*` (another value is `CAMOE_STATUS_INVALID_ARGUMENT`).
    pub objective: i32,
    /// Bit f set = format f eligible (`camoe_model_format_index`); default all bits.
    pub eligible_formats: u32,
    /// Inference-time expert masking: mix only each candidate's `expert_top_k` highest
    /// gated experts and skip experts no candidate needs (0 = all experts, the default).
    /// Added after the first layout: absent from a 16-byte struct, it is 0.
    pub expert_top_k: u32,
}

// SAFETY: repr(C), starts with the u32 struct_size, integer fields only.
unsafe impl Growable for camoe_rank_options {
    const MIN_SIZE: usize = core::mem::offset_of!(camoe_rank_options, expert_top_k);
    const NAME: &'static str = "camoe_rank_options";
}

impl camoe_rank_options {
    /// The C form of Rust options (for callers that hold both, such as tests).
    pub fn from_rust(o: &RankOptions) -> camoe_rank_options {
        camoe_rank_options {
            struct_size: core::mem::size_of::<camoe_rank_options>() as u32,
            top_k: o.top_k.try_into().unwrap_or(u32::MAX),
            objective: o.objective as i32,
            eligible_formats: o.eligible_formats,
            expert_top_k: o.expert_top_k.try_into().unwrap_or(u32::MAX),
        }
    }

    /// The Rust options; an unknown objective is `InvalidArgument`.
    pub fn to_rust(self) -> Result<RankOptions, Error> {
        let objective = match self.objective {
            CAMOE_OBJECTIVE_PCTR => Objective::Pctr,
            CAMOE_OBJECTIVE_EXPECTED_VALUE => Objective::ExpectedValue,
            x => {
                return Err(err!(
                    Status::InvalidArgument,
                    "objective {x} is not a CAMOE_OBJECTIVE_*"
                ))
            }
        };
        Ok(RankOptions {
            top_k: self.top_k as usize,
            objective,
            eligible_formats: self.eligible_formats,
            expert_top_k: self.expert_top_k as usize,
        })
    }
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
    /// One of `CAMOE_MODE_*`: the type of the linear layers.
    pub mode: i32,
    pub x0_width: u32,
    pub request_width: u32,
    pub file_size: u64,
    pub parameter_count: u64,
    /// Multiply-accumulates per candidate, before request-side precompute.
    pub macs_per_candidate: u64,
    /// 1 when the tensors are read in place (mmap or a borrowed buffer).
    pub zero_copy: u32,
}

/// One field of the schema. `name` points into the model (valid while it lives) and is
/// not NUL-terminated.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct camoe_field_info {
    pub name: *const c_char,
    pub name_len: usize,
    /// One of `CAMOE_SIDE_*`.
    pub side: i32,
    /// One of `CAMOE_FIELD_*`.
    pub kind: i32,
    /// Categorical: embedding rows (row 0 = missing); dense: 0.
    pub vocab: u32,
    /// Width in x0.
    pub dim: u32,
    /// One of `CAMOE_MISSING_*`: what a missing value does.
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
            CAMOE_VALUE_STR => Value::Str(
                c_slice(f.text.cast::<u8>(), f.text_len)
                    .ok_or_else(|| err!(Status::NullArgument, "feature {i}: text is NULL"))?,
            ),
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
        c_slice(c.features, c.n_features)
            .ok_or_else(|| err!(Status::NullArgument, "candidate {i}: features is NULL"))
    }
}

/// One candidate field's values for a whole batch of `camoe_session_rank_columns`.
/// The arrays are the caller's, read during the call only. Its layout is frozen (it is
/// an array element); new kinds of column come as new `kind` values.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct camoe_column {
    /// Field index from `camoe_model_field_index` (a candidate-side field).
    pub field: u32,
    /// `CAMOE_VALUE_ID`: `ids[0..n]` (raw ids, or text hashed once with
    /// `camoe_model_hash_str`); `CAMOE_VALUE_STR`: candidate i's text is
    /// `text[text_offsets[i] .. text_offsets[i + 1]]`, with `n + 1` non-decreasing
    /// offsets ending within `text_len`; `CAMOE_VALUE_DENSE`: `dense[0..n]`.
    pub kind: i32,
    pub ids: *const u64,
    pub dense: *const f32,
    pub text: *const c_char,
    pub text_len: usize,
    pub text_offsets: *const u32,
    /// Optional `missing[0..n]`: non-zero = candidate i has no value for this field
    /// (its missing policy applies). NULL = every candidate has a value.
    pub missing: *const u8,
}

/// A batch of `n` candidates as columns, for `camoe_session_rank_columns`. Set
/// `struct_size = sizeof(camoe_candidate_columns)`; the struct grows like
/// `camoe_rank_options`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct camoe_candidate_columns {
    /// `sizeof(camoe_candidate_columns)` as the caller compiled it.
    pub struct_size: u32,
    /// Number of candidates.
    pub n: usize,
    /// `tasks[0..n]`: each candidate's task (`camoe_model_task_index`).
    pub tasks: *const u32,
    /// `bids[0..n]`, or NULL for no bids (then `CAMOE_OBJECTIVE_EXPECTED_VALUE` is
    /// `CAMOE_STATUS_INVALID_ARGUMENT`).
    pub bids: *const f32,
    /// `columns[0..n_columns]`: each candidate field at most once; a field without a
    /// column follows its missing policy.
    pub columns: *const camoe_column,
    pub n_columns: usize,
}

// SAFETY: repr(C), starts with the u32 struct_size; integers and raw pointers only,
// for which every bit pattern is a valid value.
unsafe impl Growable for camoe_candidate_columns {
    const MIN_SIZE: usize = core::mem::size_of::<camoe_candidate_columns>();
    const NAME: &'static str = "camoe_candidate_columns";
}

impl ColumnList for [camoe_column] {
    fn count(&self) -> usize {
        self.len()
    }
    fn column(&self, k: usize, n: usize) -> Result<Column<'_>, Error> {
        let c = &self[k];
        let null = |what: &str| {
            err!(
                Status::NullArgument,
                "column {k} (field {}): {what} is NULL",
                c.field
            )
        };
        let values = match c.kind {
            CAMOE_VALUE_ID => ColumnValues::Ids(c_slice(c.ids, n).ok_or_else(|| null("ids"))?),
            CAMOE_VALUE_DENSE => {
                ColumnValues::Dense(c_slice(c.dense, n).ok_or_else(|| null("dense"))?)
            }
            CAMOE_VALUE_STR => ColumnValues::Text {
                bytes: c_slice(c.text as *const u8, c.text_len).ok_or_else(|| null("text"))?,
                offsets: c_slice(c.text_offsets, n + 1).ok_or_else(|| null("text_offsets"))?,
            },
            k => {
                return Err(err!(
                    Status::InvalidArgument,
                    "column kind {k} is not CAMOE_VALUE_ID, _STR or _DENSE"
                ))
            }
        };
        let missing = match c.missing.is_null() {
            true => None,
            false => c_slice(c.missing, n),
        };
        Ok(Column {
            field: c.field,
            values,
            missing,
        })
    }
}

/// Who a model is, for logs and over-the-air updates (`camoe_model_get_identity`). Set
/// `struct_size = sizeof(camoe_model_identity)` first; the struct grows like
/// `camoe_rank_options` (only the caller's `struct_size` bytes are written).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct camoe_model_identity {
    pub struct_size: u32,
    /// The `.camoe` format version of the file.
    pub format_version: u32,
    /// `(major << 16) | (minor << 8) | patch` of the camoe that wrote the file
    /// (`camoe convert`); 0 when not recorded (files written before 0.2.0).
    pub writer_version: u32,
    /// The model's name (points into the model, valid while it lives; not
    /// NUL-terminated).
    pub name: *const c_char,
    pub name_len: usize,
    /// The file's 64-bit checksum, verified at load: changes with any byte of the file.
    /// Not cryptographic: use `camoe_model_load_file_signed` for integrity.
    pub content_hash: u64,
}

// SAFETY: repr(C), starts with the u32 struct_size; integers and a raw pointer only.
unsafe impl Growable for camoe_model_identity {
    const MIN_SIZE: usize = core::mem::size_of::<camoe_model_identity>();
    const NAME: &'static str = "camoe_model_identity";
}
