//! `camoe convert`: an NNEF model (docs/NNEF.md) plus its config JSON becomes a
//! `.camoe` file, and only after an independent engine agrees with it.
//!
//! 1. [`read_nnef`] ([`nnef`]) loads the archive with tract-nnef, checks it against the
//!    contract (inputs, output, operators, every variable's name and shape) and gathers
//!    the float weights into a [`ModelSpec`](camoe::spec::ModelSpec). Anything off is
//!    one error line naming the tensor or operator.
//! 2. The runtime's writer quantizes ([`Mode`]: f32, f16, or int8 weights per output
//!    channel and int8 embedding rows, each with a per-row scale).
//! 3. [`verify`] ([`parity`]) scores the same rows ([`sample`]) with tract on the float
//!    NNEF and with the runtime on the new file (raw values through the runtime's own
//!    hashing and normalization), and [`Report::failures`] holds the budget it exceeds,
//!    if any. The caller writes the file only when there is none.

pub mod calibrate;
pub mod nnef;
pub mod parity;
pub mod sample;
#[cfg(test)]
mod tests;

pub use calibrate::{calibrate, Calibration, Range};
pub use nnef::read_nnef;
pub use parity::{verify, FormatParity, Report};
pub use sample::{Sample, Table};

use camoe::format::{DType, WriteOptions};
use camoe::spec::ModelConfig;
use std::path::Path;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    F32,
    F16,
    /// int8 weights; activations quantized per row at run time.
    Int8,
    /// int8 weights; activations with calibrated fixed scales (LiteRT's full-int8
    /// contract), each layer finished inside its GEMM tile.
    Int8Static,
}

impl Mode {
    pub const ALL: [Mode; 4] = [Mode::Int8, Mode::Int8Static, Mode::F16, Mode::F32];

    pub fn name(self) -> &'static str {
        match self {
            Mode::F32 => "f32",
            Mode::F16 => "f16",
            Mode::Int8 => "int8",
            Mode::Int8Static => "int8-static",
        }
    }
    /// The element type the mode stores weights in (`--embeddings` names one by its mode).
    pub fn dtype(self) -> DType {
        match self {
            Mode::F32 => DType::F32,
            Mode::F16 => DType::F16,
            Mode::Int8 | Mode::Int8Static => DType::I8,
        }
    }
    /// Linear layers and embedding tables in the mode's type unless `embeddings`
    /// overrides the tables' type.
    pub fn write_options(self, embeddings: Option<DType>) -> WriteOptions {
        WriteOptions {
            linears: self.dtype(),
            embeddings: embeddings.unwrap_or(self.dtype()),
        }
    }
}

/// The parity budget a converted file must meet.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// f32 mode: the largest |ΔpCTR| allowed against tract.
    pub f32_max_dp: f64,
    /// Quantized modes: the largest |ΔAUC-PR| of any format (labelled data only).
    pub auc_pr: f64,
    /// Quantized modes: the smallest mean top-10 overlap of the rankings.
    pub top10: f64,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            f32_max_dp: 1e-5,
            auc_pr: 0.002,
            top10: 0.95,
        }
    }
}

/// Reads, quantizes and verifies: the `.camoe` bytes and the parity report. The
/// caller writes the bytes only when `report.failures` is empty. An int8-static mode
/// calibrates on the first `cal.0.rows` rows of `cal.1` ([`calibrate`]).
#[allow(clippy::too_many_arguments)]
pub fn convert(
    nnef: &Path,
    cfg: &ModelConfig,
    mode: Mode,
    embeddings: Option<DType>,
    table: &Table,
    sample: &Sample,
    budget: &Budget,
    cal: (Calibration, &Table),
    progress: &dyn Fn(&str),
) -> Result<(Vec<u8>, Report), String> {
    progress(&format!("convert: reading {}", nnef.display()));
    let spec = read_nnef(nnef, cfg)?;
    let scales = match mode {
        Mode::Int8Static => {
            progress(&format!(
                "convert: calibrating activation scales ({}) on {} rows",
                cal.0.range.name(),
                cal.0.rows.min(cal.1.len())
            ));
            Some(calibrate(&spec, cal.1, &cal.0)?)
        }
        _ => None,
    };
    let bytes = camoe::write_model_static(&spec, mode.write_options(embeddings), scales.as_ref())
        .map_err(|e| format!("writing the .camoe: {e}"))?;
    let f32_bytes = camoe::write_model(&spec, WriteOptions::F32)
        .map_err(|e| format!("writing the .camoe: {e}"))?
        .len();
    let mut rep = verify(cfg, nnef, &bytes, mode, table, sample, budget, progress)?;
    rep.f32_bytes = f32_bytes;
    Ok((bytes, rep))
}
