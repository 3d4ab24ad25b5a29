//! The writer: a float `ModelSpec` to `.camoe` bytes, quantized as `WriteOptions` says.

use half::f16;

use super::{
    bad, ActivationScales, DType, Stored, TensorName, WriteOptions, ALIGN, ENTRY_LEN,
    FORMAT_VERSION, HEADER_LEN, KIND_CONFIG, KIND_TENSOR, MAGIC, NONE, TRAILER_LEN, WRITER_VERSION,
};
use crate::error::Error;
use crate::hash::checksum;
use crate::kernels::{out_pad, FloatWeight, PackedFloat, PackedI8};
use crate::layers::Source;
use crate::quant;
use crate::spec::{FieldKind, LinearSpec, ModelSpec};

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

    /// `v` zero-padded to `out_pad(v.len())` f32 values (`v` holds one per output).
    fn padded(&mut self, v: &[f32]) -> u32 {
        let mut p = v.to_vec();
        p.resize(out_pad(v.len()), 0.0);
        self.f32s(p.len(), 1, &p)
    }

    /// Stores linear layer `l` in the kernels' layouts: the first `split` columns and
    /// the rest as two parts when `split` is given (a layer reading x0), else all of
    /// them packed. Returns the sections (first part, candidate part, scales).
    fn linear(&mut self, dtype: DType, l: &LinearSpec, split: Option<usize>) -> [u32; 3] {
        let (inputs, out) = (l.inputs, l.outputs);
        let parts: Vec<(usize, usize)> = match split {
            Some(r) => vec![(0, r), (r, inputs - r)],
            None => vec![(0, inputs)],
        };
        let mut sections = [NONE; 3];
        match dtype {
            DType::I8 => {
                let (q, scales) = quant::quantize_rows(&l.weight, inputs);
                for (at, &(c0, k)) in parts.iter().enumerate() {
                    let p = PackedI8::pack(&q, inputs, out, c0, k);
                    let mut bytes: Vec<u8> = p.data().iter().map(|&b| b as u8).collect();
                    bytes.extend(p.rowsum.iter().flat_map(|s| s.to_le_bytes()));
                    let code = Stored {
                        dtype,
                        packed: true,
                    }
                    .code();
                    sections[at] = self.push(KIND_TENSOR, code, k, out, bytes);
                }
                sections[2] = self.padded(&scales);
            }
            float => {
                let f16 = (float == DType::F16).then(|| quant::to_f16_bits(&l.weight));
                for (at, &(c0, k)) in parts.iter().enumerate() {
                    // A layer's request part is read by dot products: row-major.
                    let row_major = split.is_some() && at == 0;
                    let bytes = match &f16 {
                        Some(h) => float_part(h, inputs, out, (c0, k), row_major, u16::to_le_bytes),
                        None => {
                            float_part(&l.weight, inputs, out, (c0, k), row_major, f32::to_le_bytes)
                        }
                    };
                    let (rows, cols) = if row_major { (out, k) } else { (k, out) };
                    let code = Stored {
                        dtype: float,
                        packed: !row_major,
                    }
                    .code();
                    sections[at] = self.push(KIND_TENSOR, code, rows, cols, bytes);
                }
            }
        }
        sections
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

/// Columns `c0 .. c0 + k` of a `[out][inputs]` float matrix as little-endian bytes:
/// row-major `[out][k]`, or packed for the float kernels `[k][out_pad]`.
fn float_part<T: FloatWeight, const N: usize>(
    w: &[T],
    inputs: usize,
    out: usize,
    (c0, k): (usize, usize),
    row_major: bool,
    le: fn(T) -> [u8; N],
) -> Vec<u8> {
    if row_major {
        let rows = w.chunks_exact(inputs);
        rows.flat_map(|row| row[c0..c0 + k].iter().flat_map(|&x| le(x)))
            .collect()
    } else {
        let p = PackedFloat::pack(w, inputs, out, c0, k);
        p.data().iter().flat_map(|&x| le(x)).collect()
    }
}

/// Refuses a spec whose shapes do not match its config, or that holds a value the file
/// cannot store: non-finite, or beyond f16's range where it is to be stored as f16 (it
/// would become ±inf, which the parser refuses).
fn check_spec(spec: &ModelSpec, opts: WriteOptions) -> Result<(), Error> {
    let c = &spec.config;
    let shapes = c.linear_shapes();
    if spec.linears.len() != shapes.len() {
        return Err(bad(format_args!(
            "spec has {} linear layers, config needs {}",
            spec.linears.len(),
            shapes.len()
        )));
    }
    for (i, (l, &(inp, out, bias))) in spec.linears.iter().zip(&shapes).enumerate() {
        if l.inputs != inp
            || l.outputs != out
            || l.weight.len() != inp * out
            || l.bias.len() != if bias { out } else { 0 }
        {
            return Err(bad(format_args!(
                "linear layer {i}: expected {out}x{inp} (bias {bias})"
            )));
        }
        storable(TensorName::Weight(i), &l.weight, inp, opts.linears)?;
        storable(TensorName::Bias(i), &l.bias, 1, DType::F32)?;
    }
    if spec.embeddings.len() != c.fields.len() {
        return Err(bad(format_args!("one embedding entry per field expected")));
    }
    for (f, e) in c.fields.iter().zip(&spec.embeddings) {
        match (f.kind, e) {
            (FieldKind::Categorical { vocab, dim }, Some(t))
                if t.len() == vocab as usize * dim as usize =>
            {
                storable(
                    TensorName::Embedding(&f.name),
                    t,
                    dim as usize,
                    opts.embeddings,
                )?
            }
            (FieldKind::Dense { .. }, None) => {}
            _ => {
                return Err(bad(format_args!(
                    "field {}: embedding table does not match",
                    f.name
                )))
            }
        }
    }
    Ok(())
}

/// Refuses the first value of `[..][cols]` matrix `v` that `dtype` cannot store finitely.
fn storable(name: TensorName, v: &[f32], cols: usize, dtype: DType) -> Result<(), Error> {
    let fits = |x: f32| match dtype {
        DType::F16 => f16::from_f32(x).is_finite(),
        DType::F32 | DType::I8 => x.is_finite(),
    };
    match v.iter().position(|&x| !fits(x)) {
        Some(i) => Err(bad(format_args!(
            "{name}: value {} at [{}][{}] cannot be stored as finite {}",
            v[i],
            i / cols,
            i % cols,
            dtype.name()
        ))),
        None => Ok(()),
    }
}

/// Writes a model to `.camoe` bytes, quantizing as `opts` says. A non-finite value (or
/// one beyond f16's range, stored as f16) is refused with `BadModel` naming its tensor.
/// The result is validated by the same parser the loader uses (every stored value
/// included, `check_values`), so the writer cannot emit a file the runtime would refuse.
pub fn write_model(spec: &ModelSpec, opts: WriteOptions) -> Result<Vec<u8>, Error> {
    write_model_static(spec, opts, None)
}

/// [`write_model`], with the calibrated activation scales of a static int8 model when
/// `scales` is given (`opts` must store int8 linear layers; see `scales.rs`).
pub fn write_model_static(
    spec: &ModelSpec,
    opts: WriteOptions,
    scales: Option<&ActivationScales>,
) -> Result<Vec<u8>, Error> {
    check_spec(spec, opts)?;
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
    let request = c.request_width();
    for (l, layer) in spec.linears.iter().zip(c.layers()) {
        let split = (layer.source == Source::X0).then_some(request);
        let [w, cand, sc] = s.linear(opts.linears, l, split);
        let b = if l.bias.is_empty() {
            NONE
        } else {
            s.padded(&l.bias)
        };
        for v in [w, cand, sc, b] {
            cfg.u32(v);
        }
    }
    if let Some(a) = scales {
        let v = a.values();
        cfg.u32(s.f32s(v.len(), 1, &v));
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
    out.extend_from_slice(&WRITER_VERSION.to_le_bytes());
    out.resize(HEADER_LEN, 0);
    out.extend_from_slice(&table);
    for sec in &s.0 {
        out.resize(align_up(out.len()), 0);
        out.extend_from_slice(&sec.bytes);
    }
    out.resize(file_len - TRAILER_LEN, 0);
    let sum = checksum(&out);
    out.extend_from_slice(&sum.to_le_bytes());
    super::parse(&out)?;
    Ok(out)
}

fn align_up(v: usize) -> usize {
    v.div_ceil(ALIGN) * ALIGN
}
