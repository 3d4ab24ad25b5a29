//! The `.camoe` file, version 2: its constants, limits and parsed layout; the writer is in
//! `write.rs`, the validating parser in `parse.rs` and `values.rs` (see `docs/FORMAT.md`).

mod parse;
mod read;
mod scales;
mod values;
mod write;

pub use parse::parse;
pub use read::read_spec;
pub use scales::ActivationScales;
pub use values::check_values;
pub use write::{write_model, write_model_static};

use crate::error::{Error, Status};
use crate::spec::ModelConfig;

pub const MAGIC: [u8; 8] = *b"CAMOEMDL";
pub const FORMAT_VERSION: u32 = 2;
/// The command a `VERSION` error names: how to get a file this runtime reads.
pub const UPGRADE_HINT: &str =
    "rewrite it with this release's converter: camoe convert MODEL.nnef.tgz --mode int8|f16|f32 -o MODEL.camoe";
pub const HEADER_LEN: usize = 64;
/// The version `write_model` records in the header: this library's.
pub const WRITER_VERSION: u32 =
    (crate::VERSION_MAJOR << 16) | (crate::VERSION_MINOR << 8) | crate::VERSION_PATCH;
pub const ENTRY_LEN: usize = 32;
pub const ALIGN: usize = 64;
pub const TRAILER_LEN: usize = 8;
/// "No section" in a config reference.
pub const NONE: u32 = u32::MAX;

pub const KIND_CONFIG: u32 = 1;
pub const KIND_TENSOR: u32 = 2;

/// Limits that keep a hostile file from asking for absurd sizes.
pub mod limits {
    pub const SECTIONS: u32 = 1 << 16;
    pub const NAME_BYTES: u32 = 256;
    pub const FIELDS: u32 = 512;
    pub const FORMATS: u32 = 32;
    pub const GROUPS: u32 = 32;
    pub const TASKS: u32 = 1024;
    pub const EXPERTS: u32 = 64;
    pub const CROSS_LAYERS: u32 = 16;
    pub const DEPTH: u32 = 16;
    pub const WIDTH: u32 = 8192;
    pub const VOCAB: u32 = 1 << 28;
    pub const DIM: u32 = 1024;
    pub const X0: usize = 16384;
}

/// Numeric type of a tensor section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum DType {
    F32 = 1,
    F16 = 2,
    /// Symmetric int8 with one f32 scale per row, in a separate F32 section.
    I8 = 3,
}

impl DType {
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F16 => 2,
            DType::I8 => 1,
        }
    }
    pub(crate) fn from_u32(v: u32) -> Option<DType> {
        match v {
            1 => Some(DType::F32),
            2 => Some(DType::F16),
            3 => Some(DType::I8),
            _ => None,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F16 => "f16",
            DType::I8 => "int8",
        }
    }
}

/// The type code of a tensor section (its table entry's `dtype`): a numeric type,
/// row-major (codes 1..=3, `DType`'s) or in the kernels' packed layout (4 = int8,
/// 5 = f32, 6 = f16; `rows` = inputs k, `cols` = outputs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stored {
    pub dtype: DType,
    pub packed: bool,
}

impl Stored {
    const PACKED: [(u32, DType); 3] = [(4, DType::I8), (5, DType::F32), (6, DType::F16)];

    pub(crate) fn from_u32(v: u32) -> Option<Stored> {
        let packed = Stored::PACKED.iter().find(|p| p.0 == v).map(|p| p.1);
        match packed {
            Some(dtype) => Some(Stored {
                dtype,
                packed: true,
            }),
            None => DType::from_u32(v).map(|dtype| Stored {
                dtype,
                packed: false,
            }),
        }
    }

    pub(crate) fn code(self) -> u32 {
        match self.packed {
            true => Stored::PACKED
                .iter()
                .find(|p| p.1 == self.dtype)
                .map_or(0, |p| p.0),
            false => self.dtype as u32,
        }
    }

    /// The byte length of a `rows × cols` section (`None` on overflow). Packed int8 is
    /// `[k4/4][out_pad][4]` bytes then `out_pad` i32 row sums; packed floats
    /// `[k][out_pad]`.
    pub(crate) fn section_len(self, rows: u64, cols: u64) -> Option<u64> {
        let size = self.dtype.size() as u64;
        let pad = cols.div_ceil(16) * 16;
        match (self.packed, self.dtype) {
            (false, _) => rows.checked_mul(cols)?.checked_mul(size),
            (true, DType::I8) => (rows.div_ceil(4) * 4)
                .checked_mul(pad)?
                .checked_add(4 * pad),
            (true, _) => rows.checked_mul(pad)?.checked_mul(size),
        }
    }
}

impl core::fmt::Display for Stored {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let layout = if self.packed { "packed " } else { "" };
        write!(f, "{layout}{} (dtype {})", self.dtype.name(), self.code())
    }
}

/// How the writer stores weights: linear layers and embedding tables separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOptions {
    pub linears: DType,
    pub embeddings: DType,
}

impl WriteOptions {
    pub const F32: WriteOptions = WriteOptions {
        linears: DType::F32,
        embeddings: DType::F32,
    };
    pub const F16: WriteOptions = WriteOptions {
        linears: DType::F16,
        embeddings: DType::F16,
    };
    pub const INT8: WriteOptions = WriteOptions {
        linears: DType::I8,
        embeddings: DType::I8,
    };
}

/// A validated tensor: where its bytes are, relative to the start of the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TensorRef {
    pub dtype: DType,
    pub rows: usize,
    pub cols: usize,
    pub offset: usize,
    /// Offset of `rows` f32 scales when `dtype` is I8.
    pub scales: Option<usize>,
}

/// A linear layer's sections. Its weights are stored in the kernels' layouts: one packed
/// part (all columns), or for a layer that reads x0 the request columns then the
/// candidate columns. An int8 layer packs both parts; a float layer stores its request
/// part row-major `[out][request width]` (read by dot products, once per request) and
/// packs the candidate part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearRef {
    /// f32, f16 or int8.
    pub dtype: DType,
    pub inputs: usize,
    pub outputs: usize,
    /// Columns of the first part: the request width for a layer reading x0, else all.
    pub first_cols: usize,
    /// Offset of the first part.
    pub weight: usize,
    /// Offset of the candidate part of a layer reading x0.
    pub candidate: Option<usize>,
    /// Offset of `out_pad` f32 weight scales (int8), zero past `outputs`.
    pub scales: Option<usize>,
    /// Offset of `out_pad` f32 biases, zero past `outputs`.
    pub bias: Option<usize>,
}

/// One stored part of a linear layer's weights: columns `first_col .. first_col + cols`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WeightPart {
    pub first_col: usize,
    pub cols: usize,
    pub offset: usize,
    /// `[out][cols]` (a float layer's request part, read by dot products); otherwise
    /// packed: `[k4/4][out_pad][4]` int8 then row sums, or `[cols][out_pad]` floats.
    pub row_major: bool,
    /// The candidate columns of a layer reading x0.
    pub candidate: bool,
}

impl LinearRef {
    /// The layer's stored parts, in file order (see `docs/FORMAT.md`, "Linear layers").
    pub fn parts(&self) -> Vec<WeightPart> {
        let split = self.candidate.is_some();
        let mut v = vec![WeightPart {
            first_col: 0,
            cols: self.first_cols,
            offset: self.weight,
            row_major: split && self.dtype != DType::I8,
            candidate: false,
        }];
        if let Some(offset) = self.candidate {
            v.push(WeightPart {
                first_col: self.first_cols,
                cols: self.inputs - self.first_cols,
                offset,
                row_major: false,
                candidate: true,
            });
        }
        v
    }
}

/// Everything the parser learned: the config and where each tensor lives.
#[derive(Clone, Debug)]
pub struct Layout {
    pub config: ModelConfig,
    pub embeddings: Vec<Option<TensorRef>>,
    pub linears: Vec<LinearRef>,
    pub file_len: usize,
    /// `(major << 16) | (minor << 8) | patch` of the camoe that wrote the file; 0 when
    /// not recorded (files written before 0.2.0).
    pub writer_version: u32,
    /// The file's stored checksum, verified: a cheap content id for logs.
    pub checksum: u64,
    /// Offset of the calibrated activation scales of a static int8 model
    /// ([`ActivationScales`]), when the file has them.
    pub activation_scales: Option<usize>,
}

/// Names a tensor in messages, the same way in the writer and the parser.
#[derive(Clone, Copy, Debug)]
pub(crate) enum TensorName<'a> {
    /// The embedding table of the named field.
    Embedding(&'a str),
    EmbeddingScales(&'a str),
    /// The weight matrix of linear layer `i` (`ModelConfig::linear_shapes` order).
    Weight(usize),
    /// The candidate columns of linear layer `i` (a layer reading x0).
    CandidateWeight(usize),
    WeightScales(usize),
    Bias(usize),
    ActivationScales,
}

impl<'a> TensorName<'a> {
    /// The name of the scales of an int8 tensor called `self`.
    pub(crate) fn scales(self) -> TensorName<'a> {
        match self {
            TensorName::Embedding(n) => TensorName::EmbeddingScales(n),
            TensorName::Weight(i) | TensorName::CandidateWeight(i) => TensorName::WeightScales(i),
            other => other,
        }
    }
}

impl core::fmt::Display for TensorName<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            TensorName::Embedding(n) => write!(f, "embedding of field {n}"),
            TensorName::EmbeddingScales(n) => write!(f, "scales of the embedding of field {n}"),
            TensorName::Weight(i) => write!(f, "weight of linear layer {i}"),
            TensorName::CandidateWeight(i) => {
                write!(f, "candidate columns of the weight of linear layer {i}")
            }
            TensorName::WeightScales(i) => write!(f, "scales of linear layer {i}"),
            TensorName::Bias(i) => write!(f, "bias of linear layer {i}"),
            TensorName::ActivationScales => write!(f, "activation scales"),
        }
    }
}

fn bad(msg: core::fmt::Arguments) -> Error {
    Error::new(Status::BadModel, msg)
}
