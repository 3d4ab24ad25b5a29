//! A loaded, validated model: immutable, `Send + Sync`, shared by every session.

use std::path::Path;
use std::sync::Arc;

use crate::error::Error;
use crate::format::{self, DType, Layout, LinearRef, TensorRef};
use crate::hash;
use crate::kernels::{out_pad, PackedF16, PackedF32, PackedFloat, PackedI8};
use crate::layers::Plan;
use crate::spec::{FieldKind, ModelConfig, Side};
use crate::storage::{cast, Storage};

#[cfg(target_endian = "big")]
compile_error!(
    "camoe reads little-endian tensors in place and supports little-endian targets only"
);

/// A weight matrix `[rows][cols]` in its stored type.
#[derive(Clone, Copy)]
pub(crate) enum Mat<'a> {
    F32(&'a [f32]),
    F16(&'a [u16]),
    /// int8 values and one scale per row.
    I8(&'a [i8], &'a [f32]),
}

/// A linear layer view: `y = W x + b`, W is `[out][in]`.
#[derive(Clone, Copy)]
pub(crate) struct Linear<'a> {
    /// The weights products read row by row: a float layer's request part
    /// `[out][request width]` when it reads x0, else empty; an int8 layer's values are
    /// empty (the kernels read them packed, [`Model::packed`]) next to its `out` scales.
    pub w: Mat<'a>,
    pub outputs: usize,
    pub bias: Option<&'a [f32]>,
}

/// Which columns of a layer a product reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The whole input (a layer that does not read x0).
    All,
    /// x0's request part (a layer that reads x0: once per request).
    Request,
    /// x0's candidate part.
    Candidate,
}

/// Where each field lands in x0 and how it is hashed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FieldSlot {
    /// Offset in the request part (request fields) or candidate part (candidate fields).
    pub offset: usize,
    pub width: usize,
    pub seed: u64,
}

/// Numeric mode of a model: the type of its linear layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    F32 = 0,
    F16 = 1,
    Int8 = 2,
    Mixed = 3,
}

/// A float layer packed for the float matrix kernels.
pub(crate) enum PackedFloatLayer {
    F32(PackedF32),
    F16(PackedF16),
}

pub struct Model {
    storage: Storage,
    layout: Layout,
    pub(crate) plan: Plan,
    /// int8 layers as the kernels read them, viewed in `storage`, per layer: (first
    /// column, packed columns).
    packs: Vec<Vec<(usize, PackedI8)>>,
    /// f32 and f16 layers viewed in `storage` for the float matrix kernels, per layer:
    /// (first column, packed columns) of the part that runs per candidate (a layer
    /// reading x0: its candidate columns only; the request part runs once per request,
    /// as dots over its row-major section).
    packs_f32: Vec<Option<(usize, PackedFloatLayer)>>,
    /// Zeros for the padded bias of a layer without one.
    zeros: Vec<f32>,
    /// A static int8 model's calibrated scales, ready for the forward pass.
    pub(crate) fixed: Option<crate::forward::Fixed>,
    pub(crate) slots: Vec<FieldSlot>,
    pub(crate) request_width: usize,
    pub(crate) x0_width: usize,
    mode: Mode,
}

impl Model {
    /// Loads a model file by reading it into memory: the file may be replaced, rewritten
    /// or deleted while the model is in use.
    pub fn load(path: impl AsRef<Path>) -> Result<Arc<Model>, Error> {
        Model::from_storage(Storage::read_file(path.as_ref())?)
    }

    /// Loads a model from the next `len` bytes of `reader` (e.g. a file descriptor at an
    /// offset, such as an Android asset), read once into memory.
    pub fn read_from(reader: impl std::io::Read, len: usize) -> Result<Arc<Model>, Error> {
        Model::from_storage(Storage::read_from(reader, len, "the model")?)
    }

    /// Loads a model file after checking its detached Ed25519 `signature` against the
    /// `public_key` the app trusts ([`crate::signature::verify`]). The file is read once:
    /// the bytes verified are the bytes loaded.
    pub fn load_signed(
        path: impl AsRef<Path>,
        signature: &[u8],
        public_key: &[u8],
    ) -> Result<Arc<Model>, Error> {
        let storage = Storage::read_file(path.as_ref())?;
        crate::signature::verify(storage.bytes(), signature, public_key)?;
        Model::from_storage(storage)
    }

    /// Loads a model file memory-mapped where the platform allows (read otherwise):
    /// the file's pages are shared with the page cache instead of copied.
    ///
    /// # Safety
    /// Until the model and every session of it are dropped, the file must not be
    /// truncated or modified in place: a truncated mapping raises SIGBUS, which kills the
    /// process. Update a mapped model by writing the new file elsewhere and renaming it
    /// over the old path (the mapping keeps the old file's pages).
    pub unsafe fn load_mapped(path: impl AsRef<Path>) -> Result<Arc<Model>, Error> {
        Model::from_storage(Storage::map_file(path.as_ref())?)
    }

    /// Loads from bytes that live as long as the program: in place when they start
    /// 16-byte aligned, else from a copy (either way nothing can free them).
    pub fn from_static(bytes: &'static [u8]) -> Result<Arc<Model>, Error> {
        // SAFETY: a 'static slice is readable and never freed or changed.
        match unsafe { Storage::borrow(bytes) } {
            Ok(s) => Model::from_storage(s),
            Err(_) => Model::from_bytes(bytes),
        }
    }

    /// Loads from a copy of `bytes` (one aligned allocation): `bytes` may be freed or
    /// changed as soon as this returns.
    pub fn from_bytes(bytes: &[u8]) -> Result<Arc<Model>, Error> {
        Model::from_storage(Storage::copy_of(bytes))
    }

    /// Loads from the caller's buffer in place, never copying it. A buffer that does
    /// not start 16-byte aligned is `InvalidArgument`.
    ///
    /// # Safety
    /// `bytes` must stay valid and unchanged until the model is dropped (and with it
    /// every session, which holds the model).
    pub unsafe fn from_bytes_borrowed(bytes: &[u8]) -> Result<Arc<Model>, Error> {
        // SAFETY: forwarded caller contract.
        Model::from_storage(unsafe { Storage::borrow(bytes) }?)
    }

    fn from_storage(storage: Storage) -> Result<Arc<Model>, Error> {
        let bytes = storage.bytes();
        let layout = format::parse(bytes)?;
        let cfg = &layout.config;
        let mut slots = vec![
            FieldSlot {
                offset: 0,
                width: 0,
                seed: 0
            };
            cfg.fields.len()
        ];
        let (mut req, mut cand) = (0, 0);
        for i in cfg.x0_order() {
            let f = &cfg.fields[i];
            let at = if f.side == Side::Request {
                &mut req
            } else {
                &mut cand
            };
            slots[i] = FieldSlot {
                offset: *at,
                width: f.width(),
                seed: hash::field_seed(cfg.hash_seed, i as u32),
            };
            *at += f.width();
        }
        let types: Vec<DType> = layout.linears.iter().map(|l| l.dtype).collect();
        let mode = match types[0] {
            t if types.iter().any(|&u| u != t) => Mode::Mixed,
            DType::F32 => Mode::F32,
            DType::F16 => Mode::F16,
            DType::I8 => Mode::Int8,
        };
        let plan = Plan::new(cfg);
        let mut model = Model {
            request_width: req,
            x0_width: req + cand,
            slots,
            plan,
            packs: Vec::new(),
            packs_f32: Vec::new(),
            zeros: vec![
                0.0;
                layout
                    .linears
                    .iter()
                    .map(|l| out_pad(l.outputs))
                    .max()
                    .unwrap_or(0)
            ],
            fixed: None,
            layout,
            storage,
            mode,
        };
        model.packs = model
            .layout
            .linears
            .iter()
            .map(|l| model.view_i8(l))
            .collect();
        model.packs_f32 = model
            .layout
            .linears
            .iter()
            .map(|l| model.view_float(l))
            .collect();
        model.fixed = crate::forward::Fixed::new(&model);
        Ok(Arc::new(model))
    }

    /// The packed parts of an int8 layer, viewed in place: (first column, part).
    fn view_i8(&self, l: &LinearRef) -> Vec<(usize, PackedI8)> {
        if l.dtype != DType::I8 {
            return Vec::new();
        }
        let (b, pad) = (self.storage.bytes(), out_pad(l.outputs));
        let view = |offset: usize, k: usize| {
            let data_len = k.div_ceil(4) * 4 * pad;
            let data = cast(b, offset, data_len);
            let rowsum = cast(b, offset + data_len, pad);
            // SAFETY: both slices are in `self.storage`, which is never written and lives
            // as long as the model that holds the views.
            unsafe { PackedI8::view(l.outputs, k, data, rowsum) }
        };
        let parts = l.parts().into_iter();
        parts
            .map(|p| (p.first_col, view(p.offset, p.cols)))
            .collect()
    }

    /// The packed part of a float layer that runs per candidate, viewed in place.
    fn view_float(&self, l: &LinearRef) -> Option<(usize, PackedFloatLayer)> {
        // The packed part: the candidate columns of a layer reading x0, else all.
        let p = *l.parts().last()?;
        let (c0, offset, k) = (p.first_col, p.offset, p.cols);
        let (pad, b) = (out_pad(l.outputs), self.storage.bytes());
        // SAFETY (both arms): the slice is in `self.storage`, which is never written and
        // lives as long as the model that holds the view.
        let packed = match l.dtype {
            DType::F32 => PackedFloatLayer::F32(unsafe {
                PackedFloat::view(l.outputs, k, cast(b, offset, k * pad))
            }),
            DType::F16 => PackedFloatLayer::F16(unsafe {
                PackedFloat::view(l.outputs, k, cast(b, offset, k * pad))
            }),
            _ => return None,
        };
        Some((c0, packed))
    }

    /// The packed float weights of `part` of layer `i`, when that part was packed.
    pub(crate) fn packed_f32(&self, i: usize, part: Part) -> Option<&PackedFloatLayer> {
        let c0 = self.columns(i, part).0;
        match (part, &self.packs_f32[i]) {
            (Part::Request, _) => None,
            (_, Some((c, p))) if *c == c0 => Some(p),
            _ => None,
        }
    }

    /// `(weight scales, bias)` of int8 layer `i`, zero-padded to its packed out_pad, as
    /// stored (zeros for a missing bias).
    pub(crate) fn padded(&self, i: usize) -> (&[f32], &[f32]) {
        let l = &self.layout.linears[i];
        let (b, pad) = (self.storage.bytes(), out_pad(l.outputs));
        let scales = l.scales.map_or(&[][..], |o| cast(b, o, pad));
        let bias = l.bias.map_or(&self.zeros[..pad], |o| cast(b, o, pad));
        (scales, bias)
    }

    /// Columns `(first, count)` of `part` of layer `i`.
    pub(crate) fn columns(&self, i: usize, part: Part) -> (usize, usize) {
        match part {
            Part::All => (0, self.layout.linears[i].inputs),
            Part::Request => (0, self.request_width),
            Part::Candidate => (self.request_width, self.x0_width - self.request_width),
        }
    }

    /// The packed int8 weights of `part` of layer `i` (int8 layers only).
    pub(crate) fn packed(&self, i: usize, part: Part) -> &PackedI8 {
        let c0 = self.columns(i, part).0;
        match self.packs[i].iter().find(|(c, _)| *c == c0) {
            Some((_, p)) => p,
            None => panic!("layer {i} has no packed part {part:?}"),
        }
    }

    pub fn config(&self) -> &ModelConfig {
        &self.layout.config
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The calibrated activation scales of a static int8 model (`camoe convert --mode
    /// int8-static`); `None` for a model whose int8 layers quantize per row.
    pub fn activation_scales(&self) -> Option<format::ActivationScales> {
        format::ActivationScales::of(self.storage.bytes(), &self.layout)
    }

    /// Size of the model file in bytes.
    pub fn file_size(&self) -> usize {
        self.layout.file_len
    }

    /// The model's name (its config's), for logs: which model ranked what.
    pub fn name(&self) -> &str {
        &self.layout.config.name
    }

    /// The `.camoe` format version of the file.
    pub fn format_version(&self) -> u32 {
        format::FORMAT_VERSION
    }

    /// `(major << 16) | (minor << 8) | patch` of the camoe (`camoe convert` or
    /// `write_model`) that wrote the file; 0 when not recorded (before 0.2.0).
    pub fn writer_version(&self) -> u32 {
        self.layout.writer_version
    }

    /// The file's 64-bit checksum (verified at load): a content id that changes with
    /// any byte of the file. Not a cryptographic hash: for integrity, sign the file
    /// ([`Model::load_signed`]).
    pub fn content_hash(&self) -> u64 {
        self.layout.checksum
    }

    /// True when the tensors are read in place (memory map or caller's buffer).
    pub fn is_zero_copy(&self) -> bool {
        self.storage.is_zero_copy()
    }

    pub fn x0_width(&self) -> usize {
        self.x0_width
    }

    pub fn request_width(&self) -> usize {
        self.request_width
    }

    /// Index of the field called `name`, if any.
    pub fn field_index(&self, name: &str) -> Option<u32> {
        self.config()
            .fields
            .iter()
            .position(|f| f.name == name)
            .map(|i| i as u32)
    }

    /// Index of the task called `name`, if any.
    pub fn task_index(&self, name: &str) -> Option<u32> {
        self.config()
            .tasks
            .iter()
            .position(|t| t.name == name)
            .map(|i| i as u32)
    }

    /// Index of the format called `name`, if any.
    pub fn format_index(&self, name: &str) -> Option<u32> {
        self.config()
            .formats
            .iter()
            .position(|t| t == name)
            .map(|i| i as u32)
    }

    /// Hashes a categorical value given as text to the 64-bit id the model uses.
    pub fn hash_str(&self, value: &[u8]) -> u64 {
        hash::hash_bytes(value, self.config().hash_seed)
    }

    /// Number of weights (embedding entries and linear weights and biases).
    pub fn parameter_count(&self) -> u64 {
        let emb: u64 = self
            .config()
            .fields
            .iter()
            .map(|f| match f.kind {
                FieldKind::Categorical { vocab, dim } => vocab as u64 * dim as u64,
                FieldKind::Dense { .. } => 0,
            })
            .sum();
        let lin: u64 = self
            .config()
            .linear_shapes()
            .iter()
            .map(|&(i, o, b)| (i * o + if b { o } else { 0 }) as u64)
            .sum();
        emb + lin
    }

    pub(crate) fn mat(&self, t: &TensorRef) -> Mat<'_> {
        let b = self.storage.bytes();
        let n = t.rows * t.cols;
        match t.dtype {
            DType::F32 => Mat::F32(cast(b, t.offset, n)),
            DType::F16 => Mat::F16(cast(b, t.offset, n)),
            DType::I8 => Mat::I8(cast(b, t.offset, n), cast(b, t.scales.unwrap_or(0), t.rows)),
        }
    }

    pub(crate) fn linear(&self, i: usize) -> Linear<'_> {
        let l: &LinearRef = &self.layout.linears[i];
        let (b, out) = (self.storage.bytes(), l.outputs);
        let (scales, bias) = self.padded(i);
        // Only a float layer's row-major request part is read row by row.
        let rows = match l.candidate {
            Some(_) => out * l.first_cols,
            None => 0,
        };
        let w = match l.dtype {
            DType::F16 => Mat::F16(cast(b, l.weight, rows)),
            DType::I8 => Mat::I8(&[], &scales[..out]),
            _ => Mat::F32(cast(b, l.weight, rows)),
        };
        Linear {
            w,
            outputs: out,
            bias: l.bias.map(|_| &bias[..out]),
        }
    }

    pub(crate) fn embedding(&self, field: usize) -> Option<Mat<'_>> {
        self.layout.embeddings[field].as_ref().map(|t| self.mat(t))
    }
}

impl core::fmt::Debug for Model {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.config().name)
            .field("mode", &self.mode)
            .finish()
    }
}
