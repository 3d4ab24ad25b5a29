//! The validating parser: header, checksum, section table, config and every tensor
//! reference; then it has `values.rs` check every stored value.

use super::{
    bad, limits, DType, Layout, LinearRef, Stored, TensorName, TensorRef, ALIGN, ENTRY_LEN,
    FORMAT_VERSION, HEADER_LEN, KIND_CONFIG, KIND_TENSOR, MAGIC, NONE, TRAILER_LEN, UPGRADE_HINT,
};
use crate::error::{Error, Status};
use crate::hash::checksum;
use crate::layers::{Layer, Source};
use crate::spec::{Architecture, FieldKind, FieldSpec, Missing, ModelConfig, Side, TaskSpec};
#[derive(Clone, Copy)]
struct Entry {
    kind: u32,
    dtype: u32,
    offset: usize,
    len: usize,
    rows: usize,
    cols: usize,
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
            format_args!(
                "file format version {version}, this runtime reads {FORMAT_VERSION} only: \
                 {UPGRADE_HINT}"
            ),
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
    if rd_u32(bytes, 36) != 0 || bytes[44..HEADER_LEN].iter().any(|&b| b != 0) {
        return Err(bad(format_args!("unknown header flags")));
    }
    let writer_version = rd_u32(bytes, 40);
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
            (KIND_CONFIG, 0) if e.dtype == 0 && e.rows == 0 && e.cols == 0 => {}
            (KIND_CONFIG, 0) => {
                return Err(bad(format_args!(
                    "section 0 (config): dtype {}, rows {}, cols {} must all be 0",
                    e.dtype, e.rows, e.cols
                )))
            }
            (KIND_TENSOR, i) if i > 0 => {
                let Some(st) = Stored::from_u32(e.dtype) else {
                    return Err(bad(format_args!("section {i}: unknown dtype {}", e.dtype)));
                };
                if st.section_len(e.rows as u64, e.cols as u64) != Some(len) {
                    return Err(bad(format_args!(
                        "section {i}: {}x{} {st} does not fill {len} bytes",
                        e.rows, e.cols
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
    let mut layout = p.read_layout(bytes.len())?;
    layout.writer_version = writer_version;
    layout.checksum = stored;
    if let Some(i) = p.used.iter().skip(1).position(|&u| !u) {
        return Err(bad(format_args!(
            "section {} is not referenced by the config",
            i + 1
        )));
    }
    super::check_values(bytes, &layout)?;
    super::scales::check(bytes, &layout)?;
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
        what: TensorName,
    ) -> Result<TensorRef, Error> {
        let e = self.section(idx, what)?;
        let dtype = DType::from_u32(e.dtype).ok_or_else(|| {
            bad(format_args!(
                "{what}: dtype {} is not f32, f16 or int8 (row-major)",
                e.dtype
            ))
        })?;
        if e.rows != rows || e.cols != cols {
            return Err(bad(format_args!(
                "{what}: tensor is {}x{}, expected {rows}x{cols}",
                e.rows, e.cols
            )));
        }
        let scales = match (dtype, scales) {
            (DType::I8, s) if s != NONE => Some(self.f32_vec(s, rows, what.scales())?),
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

    /// Linear layer `i`'s four references (first part, candidate part, scales, bias),
    /// each checked against the layer's shape and its type; `split` is the request
    /// width of a layer that reads x0.
    fn linear(&mut self, i: usize, l: &Layer, split: Option<usize>) -> Result<LinearRef, Error> {
        let (w, cand, s, b) = (self.u32()?, self.u32()?, self.u32()?, self.u32()?);
        let (inp, out) = (l.inputs, l.outputs);
        let first = self.section(w, TensorName::Weight(i))?;
        let Some(Stored { dtype, .. }) = Stored::from_u32(first.dtype) else {
            return Err(bad(format_args!("{}: bad dtype", TensorName::Weight(i))));
        };
        // (columns, section, whether it is row-major: a float layer's request part)
        let mut parts = vec![(
            split.unwrap_or(inp),
            first,
            split.is_some() && dtype != DType::I8,
        )];
        match (split, cand) {
            (Some(r), c) if c != NONE => {
                let e = self.section(c, TensorName::CandidateWeight(i))?;
                parts.push((inp - r, e, false));
            }
            (None, NONE) => {}
            _ => {
                return Err(bad(format_args!(
                    "linear layer {i}: a candidate part is given if and only if the layer reads x0"
                )))
            }
        }
        for (at, &(k, e, row_major)) in parts.iter().enumerate() {
            let name = [TensorName::Weight(i), TensorName::CandidateWeight(i)][at];
            let want = Stored {
                dtype,
                packed: !row_major,
            };
            let (rows, cols) = if row_major { (out, k) } else { (k, out) };
            if e.dtype != want.code() || e.rows != rows || e.cols != cols {
                return Err(bad(format_args!(
                    "{name}: section is {}x{} of dtype {}, expected {rows}x{cols} {want}",
                    e.rows, e.cols, e.dtype
                )));
            }
        }
        let padded = crate::kernels::out_pad(out);
        let scales = match (dtype, s) {
            (DType::I8, s) if s != NONE => {
                Some(self.f32_vec(s, padded, TensorName::WeightScales(i))?)
            }
            (DType::I8, _) => {
                return Err(bad(format_args!("linear layer {i}: int8 without scales")))
            }
            (_, NONE) => None,
            _ => {
                return Err(bad(format_args!(
                    "linear layer {i}: scales given for a float layer"
                )))
            }
        };
        let bias = match (l.bias, b) {
            (true, b) if b != NONE => Some(self.f32_vec(b, padded, TensorName::Bias(i))?),
            (false, NONE) => None,
            _ => {
                return Err(bad(format_args!(
                    "linear layer {i}: bias presence does not match the architecture"
                )))
            }
        };
        Ok(LinearRef {
            dtype,
            inputs: inp,
            outputs: out,
            first_cols: parts[0].0,
            weight: first.offset,
            candidate: parts.get(1).map(|p| p.1.offset),
            scales,
            bias,
        })
    }

    /// An f32 vector of `n` values (scales, biases); `check_values` checks the values.
    fn f32_vec(&mut self, idx: u32, n: usize, what: TensorName) -> Result<usize, Error> {
        let e = self.section(idx, what)?;
        if e.dtype != DType::F32 as u32 || e.rows != n || e.cols != 1 {
            return Err(bad(format_args!("{what}: expected {n} f32 values")));
        }
        Ok(e.offset)
    }

    fn section(&mut self, idx: u32, what: TensorName) -> Result<Entry, Error> {
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
            let reserved = self.u8()?;
            if reserved != 0 {
                return Err(bad(format_args!(
                    "field {fname}: reserved byte is {reserved}, not 0"
                )));
            }
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
                    embeddings.push(Some(self.tensor(
                        table,
                        scales,
                        vocab as usize,
                        dim as usize,
                        TensorName::Embedding(&fname),
                    )?));
                    FieldKind::Categorical { vocab, dim }
                }
                1 => {
                    if vocab != 0 || dim != 1 {
                        return Err(bad(format_args!(
                            "field {fname}: dense field has vocab {vocab} and dim {dim}, not 0 and 1"
                        )));
                    }
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
        let request = config.request_width();
        let mut linears = Vec::with_capacity(n);
        for (i, layer) in config.layers().iter().enumerate() {
            let split = (layer.source == Source::X0).then_some(request);
            linears.push(self.linear(i, layer, split)?);
        }
        // Optional: the activation scales of a static int8 model (scales.rs).
        let activation_scales = if self.at < self.b.len() {
            let idx = self.u32()?;
            Some(self.f32_vec(idx, 2 + n, TensorName::ActivationScales)?)
        } else {
            None
        };
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
            writer_version: 0,
            checksum: 0,
            activation_scales,
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
