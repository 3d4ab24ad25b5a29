//! The `.camoe` file, version 1: writer and validating parser (see `docs/FORMAT.md`).

use crate::error::{Error, Status};
use crate::hash::checksum;
use crate::quant;
use crate::spec::{
    Architecture, FieldKind, FieldSpec, Missing, ModelConfig, ModelSpec, Side, TaskSpec,
};

pub const MAGIC: [u8; 8] = *b"CAMOEMDL";
pub const FORMAT_VERSION: u32 = 1;
pub const HEADER_LEN: usize = 64;
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
    fn from_u32(v: u32) -> Option<DType> {
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

// ---------------------------------------------------------------- writer

struct Section {
    kind: u32,
    dtype: u32,
    rows: u32,
    cols: u32,
    bytes: Vec<u8>,
}

struct Sections(Vec<Section>);

impl Sections {
    fn push(&mut self, kind: u32, dtype: u32, rows: usize, cols: usize, bytes: Vec<u8>) -> u32 {
        self.0.push(Section {
            kind,
            dtype,
            rows: rows as u32,
            cols: cols as u32,
            bytes,
        });
        (self.0.len() - 1) as u32
    }

    fn f32s(&mut self, rows: usize, cols: usize, v: &[f32]) -> u32 {
        let bytes = v.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.push(KIND_TENSOR, DType::F32 as u32, rows, cols, bytes)
    }

    /// Stores a `[rows][cols]` matrix in `dtype`; returns (data section, scale section).
    fn matrix(&mut self, dtype: DType, rows: usize, cols: usize, m: &[f32]) -> (u32, u32) {
        match dtype {
            DType::F32 => (self.f32s(rows, cols, m), NONE),
            DType::F16 => {
                let bytes = quant::to_f16_bits(m)
                    .iter()
                    .flat_map(|x| x.to_le_bytes())
                    .collect();
                (
                    self.push(KIND_TENSOR, DType::F16 as u32, rows, cols, bytes),
                    NONE,
                )
            }
            DType::I8 => {
                let (q, scales) = quant::quantize_rows(m, cols);
                let data = self.push(
                    KIND_TENSOR,
                    DType::I8 as u32,
                    rows,
                    cols,
                    q.iter().map(|&b| b as u8).collect(),
                );
                (data, self.f32s(rows, 1, &scales))
            }
        }
    }
}

struct Enc(Vec<u8>);

impl Enc {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f32(&mut self, v: f32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
}

fn check_spec(spec: &ModelSpec) -> Result<(), Error> {
    let c = &spec.config;
    let shapes = c.linear_shapes();
    if spec.linears.len() != shapes.len() {
        return Err(Error::new(
            Status::BadModel,
            format_args!(
                "spec has {} linear layers, config needs {}",
                spec.linears.len(),
                shapes.len()
            ),
        ));
    }
    for (i, (l, &(inp, out, bias))) in spec.linears.iter().zip(&shapes).enumerate() {
        if l.inputs != inp
            || l.outputs != out
            || l.weight.len() != inp * out
            || l.bias.len() != if bias { out } else { 0 }
        {
            return Err(Error::new(
                Status::BadModel,
                format_args!("linear {i}: expected {out}x{inp} (bias {bias})"),
            ));
        }
    }
    if spec.embeddings.len() != c.fields.len() {
        return Err(Error::new(
            Status::BadModel,
            format_args!("one embedding entry per field expected"),
        ));
    }
    for (f, e) in c.fields.iter().zip(&spec.embeddings) {
        let ok = match (f.kind, e) {
            (FieldKind::Categorical { vocab, dim }, Some(t)) => {
                t.len() == vocab as usize * dim as usize
            }
            (FieldKind::Dense { .. }, None) => true,
            _ => false,
        };
        if !ok {
            return Err(Error::new(
                Status::BadModel,
                format_args!("field {}: embedding table does not match", f.name),
            ));
        }
    }
    Ok(())
}

/// Writes a model to `.camoe` bytes, quantizing as `opts` says. The result is
/// validated by the same parser the loader uses, so the writer cannot emit a file
/// the runtime would refuse.
pub fn write_model(spec: &ModelSpec, opts: WriteOptions) -> Result<Vec<u8>, Error> {
    check_spec(spec)?;
    let c = &spec.config;
    let mut s = Sections(Vec::new());
    s.push(KIND_CONFIG, 0, 0, 0, Vec::new()); // filled in below
    let mut cfg = Enc(Vec::new());
    cfg.str(&c.name);
    cfg.u64(c.hash_seed);
    cfg.u32(c.formats.len() as u32);
    for f in &c.formats {
        cfg.str(f);
    }
    cfg.u32(c.groups.len() as u32);
    for g in &c.groups {
        cfg.str(g);
    }
    cfg.u32(c.fields.len() as u32);
    for (f, table) in c.fields.iter().zip(&spec.embeddings) {
        cfg.str(&f.name);
        cfg.u8(f.side as u8);
        let (kind, vocab, dim, mean, std, clip) = match f.kind {
            FieldKind::Categorical { vocab, dim } => (0, vocab, dim, 0.0, 1.0, 0.0),
            FieldKind::Dense { mean, std, clip } => (1, 0, 1, mean, std, clip),
        };
        cfg.u8(kind);
        cfg.u8(f.missing as u8);
        cfg.u8(0);
        cfg.u32(vocab);
        cfg.u32(dim);
        cfg.f32(mean);
        cfg.f32(std);
        cfg.f32(clip);
        let (data, scales) = match table {
            Some(t) => s.matrix(opts.embeddings, vocab as usize, dim as usize, t),
            None => (NONE, NONE),
        };
        cfg.u32(data);
        cfg.u32(scales);
    }
    cfg.u32(c.tasks.len() as u32);
    for t in &c.tasks {
        cfg.str(&t.name);
        cfg.u32(t.format);
        cfg.u32(t.group);
        cfg.f32(t.calib_a);
        cfg.f32(t.calib_b);
    }
    let a = &c.arch;
    for v in [a.experts, a.cross_layers, a.cross_rank] {
        cfg.u32(v);
    }
    for widths in [&a.expert_mlp, &a.tower] {
        cfg.u32(widths.len() as u32);
        for &w in widths.iter() {
            cfg.u32(w);
        }
    }
    cfg.u32(spec.linears.len() as u32);
    for l in &spec.linears {
        let (w, sc) = s.matrix(opts.linears, l.outputs, l.inputs, &l.weight);
        let b = if l.bias.is_empty() {
            NONE
        } else {
            s.f32s(l.outputs, 1, &l.bias)
        };
        cfg.u32(w);
        cfg.u32(sc);
        cfg.u32(b);
    }
    s.0[0].bytes = cfg.0;

    let n = s.0.len();
    let mut offset = align_up(HEADER_LEN + n * ENTRY_LEN);
    let mut table = Vec::with_capacity(n * ENTRY_LEN);
    for sec in &s.0 {
        table.extend_from_slice(&sec.kind.to_le_bytes());
        table.extend_from_slice(&sec.dtype.to_le_bytes());
        table.extend_from_slice(&(offset as u64).to_le_bytes());
        table.extend_from_slice(&(sec.bytes.len() as u64).to_le_bytes());
        table.extend_from_slice(&sec.rows.to_le_bytes());
        table.extend_from_slice(&sec.cols.to_le_bytes());
        offset = align_up(offset + sec.bytes.len());
    }
    let file_len = offset + TRAILER_LEN;
    let mut out = Vec::with_capacity(file_len);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&(HEADER_LEN as u32).to_le_bytes());
    out.extend_from_slice(&(file_len as u64).to_le_bytes());
    out.extend_from_slice(&(HEADER_LEN as u64).to_le_bytes());
    out.extend_from_slice(&(n as u32).to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.resize(HEADER_LEN, 0);
    out.extend_from_slice(&table);
    for sec in &s.0 {
        out.resize(align_up(out.len()), 0);
        out.extend_from_slice(&sec.bytes);
    }
    out.resize(file_len - TRAILER_LEN, 0);
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    parse(&out)?;
    Ok(out)
}

fn align_up(v: usize) -> usize {
    v.div_ceil(ALIGN) * ALIGN
}

// ---------------------------------------------------------------- parser

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinearRef {
    /// `[out][in]`: rows = outputs, cols = inputs.
    pub weight: TensorRef,
    /// Offset of `out` f32 biases.
    pub bias: Option<usize>,
}

/// Everything the parser learned: the config and where each tensor lives.
#[derive(Clone, Debug)]
pub struct Layout {
    pub config: ModelConfig,
    pub embeddings: Vec<Option<TensorRef>>,
    pub linears: Vec<LinearRef>,
    pub file_len: usize,
}

#[derive(Clone, Copy)]
struct Entry {
    kind: u32,
    dtype: u32,
    offset: usize,
    len: usize,
    rows: usize,
    cols: usize,
}

fn bad(msg: core::fmt::Arguments) -> Error {
    Error::new(Status::BadModel, msg)
}

fn rd_u32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn rd_u64(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// Validates a whole file: header, checksum, section table, config and every tensor
/// reference. Nothing outside `bytes` is ever read; nothing is trusted before checked.
pub fn parse(bytes: &[u8]) -> Result<Layout, Error> {
    if bytes.len() < HEADER_LEN + TRAILER_LEN {
        return Err(bad(format_args!(
            "file is {} bytes, shorter than a header",
            bytes.len()
        )));
    }
    if bytes[..8] != MAGIC {
        return Err(bad(format_args!("not a .camoe file (bad magic)")));
    }
    let version = rd_u32(bytes, 8);
    if version != FORMAT_VERSION {
        return Err(Error::new(
            Status::Version,
            format_args!("file format version {version}, this runtime reads {FORMAT_VERSION}"),
        ));
    }
    if rd_u32(bytes, 12) as usize != HEADER_LEN {
        return Err(bad(format_args!(
            "header length {} is not {HEADER_LEN}",
            rd_u32(bytes, 12)
        )));
    }
    let file_len = rd_u64(bytes, 16);
    if file_len != bytes.len() as u64 {
        return Err(bad(format_args!(
            "header says {file_len} bytes, got {} (truncated or padded)",
            bytes.len()
        )));
    }
    let body = &bytes[..bytes.len() - TRAILER_LEN];
    let stored = rd_u64(bytes, bytes.len() - TRAILER_LEN);
    if checksum(body) != stored {
        return Err(Error::new(
            Status::Checksum,
            format_args!("checksum mismatch: file is corrupt"),
        ));
    }
    let table_off = rd_u64(bytes, 24);
    let count = rd_u32(bytes, 32);
    if rd_u32(bytes, 36) != 0 || bytes[40..HEADER_LEN].iter().any(|&b| b != 0) {
        return Err(bad(format_args!("unknown header flags")));
    }
    if table_off != HEADER_LEN as u64 {
        return Err(bad(format_args!(
            "section table at {table_off}, expected {HEADER_LEN}"
        )));
    }
    if count == 0 || count > limits::SECTIONS {
        return Err(bad(format_args!("section count {count} out of range")));
    }
    let table_end = HEADER_LEN + count as usize * ENTRY_LEN;
    if table_end > body.len() {
        return Err(bad(format_args!(
            "section table ({count} entries) runs past the end"
        )));
    }
    let mut entries = Vec::with_capacity(count as usize);
    let mut prev_end = table_end;
    for i in 0..count as usize {
        let at = HEADER_LEN + i * ENTRY_LEN;
        let off = rd_u64(bytes, at + 8);
        let len = rd_u64(bytes, at + 16);
        let e = Entry {
            kind: rd_u32(bytes, at),
            dtype: rd_u32(bytes, at + 4),
            offset: off as usize,
            len: len as usize,
            rows: rd_u32(bytes, at + 24) as usize,
            cols: rd_u32(bytes, at + 28) as usize,
        };
        let end = off.checked_add(len).filter(|&end| end <= body.len() as u64);
        let Some(end) = end else {
            return Err(bad(format_args!(
                "section {i} (offset {off}, length {len}) runs past the end"
            )));
        };
        if off % ALIGN as u64 != 0 {
            return Err(bad(format_args!(
                "section {i} offset {off} is not {ALIGN}-byte aligned"
            )));
        }
        if (off as usize) < prev_end {
            return Err(bad(format_args!(
                "section {i} overlaps the table or the previous section"
            )));
        }
        prev_end = end as usize;
        match (e.kind, i) {
            (KIND_CONFIG, 0) => {}
            (KIND_TENSOR, i) if i > 0 => {
                let Some(dt) = DType::from_u32(e.dtype) else {
                    return Err(bad(format_args!("section {i}: unknown dtype {}", e.dtype)));
                };
                let want = (e.rows as u64)
                    .checked_mul(e.cols as u64)
                    .and_then(|n| n.checked_mul(dt.size() as u64));
                if want != Some(len) {
                    return Err(bad(format_args!(
                        "section {i}: {}x{} {} does not fill {len} bytes",
                        e.rows,
                        e.cols,
                        dt.name()
                    )));
                }
            }
            (k, i) => return Err(bad(format_args!("section {i}: unexpected kind {k}"))),
        }
        entries.push(e);
    }
    let cfg_bytes = &bytes[entries[0].offset..entries[0].offset + entries[0].len];
    let mut p = ConfigReader {
        b: cfg_bytes,
        at: 0,
        entries: &entries,
        used: vec![false; entries.len()],
    };
    let layout = p.read_layout(bytes.len())?;
    if let Some(i) = p.used.iter().skip(1).position(|&u| !u) {
        return Err(bad(format_args!(
            "section {} is not referenced by the config",
            i + 1
        )));
    }
    Ok(layout)
}

struct ConfigReader<'a> {
    b: &'a [u8],
    at: usize,
    entries: &'a [Entry],
    used: Vec<bool>,
}

impl ConfigReader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], Error> {
        match self.at.checked_add(n).filter(|&e| e <= self.b.len()) {
            Some(end) => {
                let s = &self.b[self.at..end];
                self.at = end;
                Ok(s)
            }
            None => Err(bad(format_args!("config is truncated at byte {}", self.at))),
        }
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, Error> {
        let s = self.take(4)?;
        Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn u64(&mut self) -> Result<u64, Error> {
        Ok(u64::from(self.u32()?) | (u64::from(self.u32()?) << 32))
    }
    fn f32(&mut self) -> Result<f32, Error> {
        Ok(f32::from_bits(self.u32()?))
    }
    fn finite(&mut self, what: &str) -> Result<f32, Error> {
        let v = self.f32()?;
        if v.is_finite() {
            Ok(v)
        } else {
            Err(bad(format_args!("{what} is not finite")))
        }
    }
    fn count(&mut self, what: &str, max: u32) -> Result<usize, Error> {
        let n = self.u32()?;
        if n > max {
            return Err(bad(format_args!("{what} count {n} exceeds {max}")));
        }
        Ok(n as usize)
    }
    fn name(&mut self) -> Result<String, Error> {
        let n = self.count("name byte", limits::NAME_BYTES)?;
        let s = self.take(n)?;
        match core::str::from_utf8(s) {
            Ok(s) if !s.is_empty() => Ok(s.to_owned()),
            _ => Err(bad(format_args!("a name is empty or not UTF-8"))),
        }
    }
    fn names(&mut self, what: &str, max: u32) -> Result<Vec<String>, Error> {
        let n = self.count(what, max)?;
        let v = (0..n).map(|_| self.name()).collect::<Result<Vec<_>, _>>()?;
        unique(&v, what)?;
        Ok(v)
    }
    fn widths(&mut self, what: &str) -> Result<Vec<u32>, Error> {
        let n = self.count(what, limits::DEPTH)?;
        (0..n)
            .map(|_| match self.u32()? {
                w @ 1..=limits::WIDTH => Ok(w),
                w => Err(bad(format_args!("{what} width {w} out of range"))),
            })
            .collect()
    }

    /// A tensor reference: section `idx` must be an unused tensor of `rows`×`cols`.
    fn tensor(
        &mut self,
        idx: u32,
        scales: u32,
        rows: usize,
        cols: usize,
        what: &str,
    ) -> Result<TensorRef, Error> {
        let e = self.section(idx, what)?;
        let dtype =
            DType::from_u32(e.dtype).ok_or_else(|| bad(format_args!("{what}: bad dtype")))?;
        if e.rows != rows || e.cols != cols {
            return Err(bad(format_args!(
                "{what}: tensor is {}x{}, expected {rows}x{cols}",
                e.rows, e.cols
            )));
        }
        let scales = match (dtype, scales) {
            (DType::I8, s) if s != NONE => Some(self.f32_vec(s, rows, what)?),
            (DType::I8, _) => return Err(bad(format_args!("{what}: int8 tensor without scales"))),
            (_, NONE) => None,
            _ => return Err(bad(format_args!("{what}: scales given for a float tensor"))),
        };
        Ok(TensorRef {
            dtype,
            rows,
            cols,
            offset: e.offset,
            scales,
        })
    }

    /// An f32 vector of `n` values (scales, biases); every value must be finite.
    fn f32_vec(&mut self, idx: u32, n: usize, what: &str) -> Result<usize, Error> {
        let e = self.section(idx, what)?;
        if e.dtype != DType::F32 as u32 || e.rows != n || e.cols != 1 {
            return Err(bad(format_args!("{what}: expected {n} f32 values")));
        }
        Ok(e.offset)
    }

    fn section(&mut self, idx: u32, what: &str) -> Result<Entry, Error> {
        let i = idx as usize;
        if i == 0 || i >= self.entries.len() {
            return Err(bad(format_args!("{what}: section {idx} does not exist")));
        }
        if core::mem::replace(&mut self.used[i], true) {
            return Err(bad(format_args!("{what}: section {idx} is used twice")));
        }
        Ok(self.entries[i])
    }

    fn read_layout(&mut self, file_len: usize) -> Result<Layout, Error> {
        let name = self.name()?;
        let hash_seed = self.u64()?;
        let formats = self.names("format", limits::FORMATS)?;
        let groups = self.names("group", limits::GROUPS)?;
        if groups.is_empty() || formats.is_empty() {
            return Err(bad(format_args!(
                "a model needs at least one format and one group"
            )));
        }
        let n_fields = self.count("field", limits::FIELDS)?;
        let mut fields = Vec::with_capacity(n_fields);
        let mut embeddings = Vec::with_capacity(n_fields);
        for _ in 0..n_fields {
            let fname = self.name()?;
            let side = match self.u8()? {
                0 => Side::Request,
                1 => Side::Candidate,
                s => return Err(bad(format_args!("field {fname}: side {s} unknown"))),
            };
            let kind = self.u8()?;
            let missing = match self.u8()? {
                0 => Missing::UseDefault,
                1 => Missing::Error,
                m => {
                    return Err(bad(format_args!(
                        "field {fname}: missing policy {m} unknown"
                    )))
                }
            };
            let _reserved = self.u8()?;
            let (vocab, dim) = (self.u32()?, self.u32()?);
            let (mean, std, clip) = (
                self.finite("mean")?,
                self.finite("std")?,
                self.finite("clip")?,
            );
            let (table, scales) = (self.u32()?, self.u32()?);
            let kind = match kind {
                0 => {
                    if !(2..=limits::VOCAB).contains(&vocab) || !(1..=limits::DIM).contains(&dim) {
                        return Err(bad(format_args!(
                            "field {fname}: vocab {vocab} or dim {dim} out of range"
                        )));
                    }
                    let what = format!("embedding of {fname}");
                    embeddings.push(Some(self.tensor(
                        table,
                        scales,
                        vocab as usize,
                        dim as usize,
                        &what,
                    )?));
                    FieldKind::Categorical { vocab, dim }
                }
                1 => {
                    if std <= 0.0 || clip <= 0.0 || table != NONE || scales != NONE {
                        return Err(bad(format_args!(
                            "field {fname}: dense field needs std > 0, clip > 0 and no table"
                        )));
                    }
                    embeddings.push(None);
                    FieldKind::Dense { mean, std, clip }
                }
                k => return Err(bad(format_args!("field {fname}: kind {k} unknown"))),
            };
            fields.push(FieldSpec {
                name: fname,
                side,
                kind,
                missing,
            });
        }
        unique(
            &fields.iter().map(|f| f.name.clone()).collect::<Vec<_>>(),
            "field",
        )?;
        let n_tasks = self.count("task", limits::TASKS)?;
        let mut tasks = Vec::with_capacity(n_tasks);
        for _ in 0..n_tasks {
            let tname = self.name()?;
            let (format, group) = (self.u32()?, self.u32()?);
            if format as usize >= formats.len() || group as usize >= groups.len() {
                return Err(bad(format_args!(
                    "task {tname}: format {format} or group {group} does not exist"
                )));
            }
            let (calib_a, calib_b) = (self.finite("calibration a")?, self.finite("calibration b")?);
            tasks.push(TaskSpec {
                name: tname,
                format,
                group,
                calib_a,
                calib_b,
            });
        }
        if tasks.is_empty() {
            return Err(bad(format_args!("a model needs at least one task")));
        }
        unique(
            &tasks.iter().map(|t| t.name.clone()).collect::<Vec<_>>(),
            "task",
        )?;
        let experts = self.u32()?;
        let cross_layers = self.u32()?;
        let cross_rank = self.u32()?;
        let expert_mlp = self.widths("expert MLP")?;
        let tower = self.widths("tower")?;
        if !(1..=limits::EXPERTS).contains(&experts)
            || cross_layers > limits::CROSS_LAYERS
            || cross_rank > limits::WIDTH
        {
            return Err(bad(format_args!(
                "experts {experts}, cross layers {cross_layers} or rank {cross_rank} out of range"
            )));
        }
        if cross_layers == 0 && expert_mlp.is_empty() {
            return Err(bad(format_args!(
                "experts need at least one cross or MLP layer"
            )));
        }
        let config = ModelConfig {
            name,
            hash_seed,
            formats,
            fields,
            groups,
            tasks,
            arch: Architecture {
                experts,
                cross_layers,
                cross_rank,
                expert_mlp,
                tower,
            },
        };
        let d = config.x0_width();
        if d == 0 || d > limits::X0 {
            return Err(bad(format_args!("x0 width {d} out of range")));
        }
        let shapes = config.linear_shapes();
        let n = self.u32()? as usize;
        if n != shapes.len() {
            return Err(bad(format_args!(
                "config lists {n} linear layers, the architecture has {}",
                shapes.len()
            )));
        }
        let mut linears = Vec::with_capacity(n);
        for (i, &(inp, out, has_bias)) in shapes.iter().enumerate() {
            let (w, s, b) = (self.u32()?, self.u32()?, self.u32()?);
            let what = format!("linear layer {i}");
            let weight = self.tensor(w, s, out, inp, &what)?;
            let bias = match (has_bias, b) {
                (true, b) if b != NONE => Some(self.f32_vec(b, out, &what)?),
                (false, NONE) => None,
                _ => {
                    return Err(bad(format_args!(
                        "{what}: bias presence does not match the architecture"
                    )))
                }
            };
            linears.push(LinearRef { weight, bias });
        }
        if self.at != self.b.len() {
            return Err(bad(format_args!(
                "config has {} trailing bytes",
                self.b.len() - self.at
            )));
        }
        Ok(Layout {
            config,
            embeddings,
            linears,
            file_len,
        })
    }
}

fn unique(names: &[String], what: &str) -> Result<(), Error> {
    for (i, n) in names.iter().enumerate() {
        if names[..i].contains(n) {
            return Err(bad(format_args!("{what} name {n:?} appears twice")));
        }
    }
    Ok(())
}
