//! camoe: an embedded, on-device ad ranker for CAMoE (Cross-modal Adaptive
//! Mixture-of-Experts) CTR models, with a C ABI (`include/camoe.h`).
//!
//! Load a [`Model`] (from a path, memory-mapped, or from bytes), open a [`Session`]
//! per thread sized for a maximum number of candidates, set the request's features
//! once, then [`Session::rank`] the cached ads.

// `Error` is a fixed 272-byte buffer on purpose, so that the error path of `rank`
// allocates nothing; returning it by value is the design, not an accident.
#![allow(clippy::result_large_err)]

/// cbindgen:ignore
pub mod columns;

// Not cbindgen:ignore: `Status` is the header's `camoe_status`.
pub mod error;
/// cbindgen:ignore
pub mod features;
pub mod ffi;
/// cbindgen:ignore
pub mod format;
/// cbindgen:ignore
mod forward;
/// cbindgen:ignore
pub mod hash;
/// cbindgen:ignore
pub mod kernels;
/// cbindgen:ignore
pub mod layers;
/// cbindgen:ignore
pub mod model;
/// cbindgen:ignore
pub mod quant;
/// cbindgen:ignore
pub mod rank;
/// cbindgen:ignore
pub mod signature;
/// cbindgen:ignore
pub mod spec;
/// cbindgen:ignore
mod storage;

pub use columns::{CandidateColumns, Column, ColumnValues};
pub use error::{Error, Status};
pub use features::{Feature, Value};
pub use format::{write_model, write_model_static, ActivationScales, DType, WriteOptions};
pub use forward::{max_abs_scales, observe_inputs, InputPart, Observer};
pub use model::Model;
pub use rank::{Candidate, Objective, RankOptions, Session, SessionOptions};
pub use spec::{ModelConfig, ModelSpec};

/// Semantic version of the library and its C ABI (agrees with Cargo.toml and the header).
/// cbindgen:ignore
pub const VERSION_MAJOR: u32 = 0;
/// cbindgen:ignore
pub const VERSION_MINOR: u32 = 3;
/// cbindgen:ignore
pub const VERSION_PATCH: u32 = 0;
