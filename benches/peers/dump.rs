//! Dumps a camoe model for the peer comparison (`benches/peers/run.sh`): every float
//! tensor as `.npy`, the config as JSON, the model as `.camoe` in f32 and int8, and a
//! sample of ranking requests with camoe's own pCTRs for the parity check.
//!
//! ```sh
//! cargo run --release --example peers-dump -- OUT_DIR [--model random:SEED] \
//!     [--requests R] [--candidates C]
//! ```
//!
//! `--model` names the model source: `random:SEED` (default `random:2025`:
//! `ModelSpec::random(ModelConfig::demo(), 2025)`, the weights of
//! `models/random-demo.camoe`) or `file:PATH` for any `.camoe` file, e.g. the trained
//! model when it arrives (int8 / f16 tensors are widened to f32); see [`load_spec`].
//!
//! Output (OUT_DIR):
//! - `config.json`: schema, tasks, architecture, linear layer shapes, x0 order
//! - `emb_<field>.npy` (vocab × dim, f32) per categorical field
//! - `lin_<k>_w.npy` (out × in, f32) and `lin_<k>_b.npy` (out, f32) per linear layer
//! - `model-f32.camoe`, `model-int8.camoe`, `model-int8-static.camoe` (min/max activation
//!   scales calibrated on the float model over every dumped request)
//! - `req_rows_<field>.npy`: int64 rows, shape (R,) for request fields, (R, C) for
//!   candidate fields (categorical: `bucket(...)`, 0 = missing); dense fields:
//!   `req_dense_<field>.npy` with the normalized value (f32, 0 = missing)
//! - `req_task.npy` (R, C) int64; `pctr_f32.npy` / `pctr_int8.npy` (R, C) f32: camoe's
//!   pCTRs through the Rust API (`Model`, `Session`), each request ranked in one call
//! - `requests.txt`: the same requests in camoe-rank's request format, for
//!   `camoe-bench --requests` (`request field=value ...`, then
//!   `candidate task=NAME bid=1 field=value ...` per candidate; categorical values are
//!   text, hashed by camoe as `camoe-rank` does; a missing value is left out)

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use camoe::hash::{bucket, field_seed, hash_bytes, SplitMix};
use camoe::spec::{FieldKind, ModelSpec, Side};
use camoe::{
    write_model, Candidate, Feature, Model, ModelConfig, RankOptions, Session, Value, WriteOptions,
};

type Res<T> = Result<T, String>;

/// The model whose weights the peers rebuild: `random:SEED` (the demo config with
/// seeded weights) or `file:PATH` (a `.camoe` file; int8 and f16 tensors are widened
/// to f32, so the peers and camoe's f32 file then share those exact values).
fn load_spec(source: &str) -> Res<ModelSpec> {
    if let Some(seed) = source.strip_prefix("random:") {
        let seed: u64 = seed
            .parse()
            .map_err(|e| format!("bad seed in {source:?}: {e}"))?;
        return Ok(ModelSpec::random(ModelConfig::demo(), seed));
    }
    if let Some(path) = source.strip_prefix("file:") {
        return spec_from_file(Path::new(path));
    }
    Err(format!(
        "unknown model source {source:?} (random:SEED or file:PATH)"
    ))
}

/// Reads a `.camoe` file back into a float `ModelSpec` (validated by the runtime's
/// parser; int8 and f16 values widened to f32: `camoe::format::read_spec`).
fn spec_from_file(path: &Path) -> Res<ModelSpec> {
    let b = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    camoe::format::read_spec(&b).map_err(|e| format!("{}: {e}", path.display()))
}

/// A `.npy` (version 1.0) file: magic, header dict padded to a multiple of 64, data.
fn npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) -> Res<()> {
    let shape_s = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape_s}, }}");
    let total = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - total % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(data);
    fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))
}

fn npy_f32(path: &Path, shape: &[usize], v: &[f32]) -> Res<()> {
    assert_eq!(shape.iter().product::<usize>(), v.len());
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    npy(path, "<f4", shape, &bytes)
}

fn npy_i64(path: &Path, shape: &[usize], v: &[i64]) -> Res<()> {
    assert_eq!(shape.iter().product::<usize>(), v.len());
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    npy(path, "<i8", shape, &bytes)
}

/// A JSON string literal (names are plain UTF-8; escape what JSON requires).
fn js(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// A JSON number for a finite f32 (shortest round-trip form).
fn jf(x: f32) -> String {
    assert!(x.is_finite());
    format!("{x:?}")
}

fn config_json(spec: &ModelSpec) -> String {
    let c = &spec.config;
    let a = &c.arch;
    let mut j = String::from("{\n");
    let _ = writeln!(j, "  \"name\": {},", js(&c.name));
    let _ = writeln!(j, "  \"hash_seed\": \"{}\",", c.hash_seed);
    let list = |v: &[String]| v.iter().map(|s| js(s)).collect::<Vec<_>>().join(", ");
    let _ = writeln!(j, "  \"formats\": [{}],", list(&c.formats));
    let _ = writeln!(j, "  \"groups\": [{}],", list(&c.groups));
    j.push_str("  \"fields\": [\n");
    for (i, f) in c.fields.iter().enumerate() {
        let side = if f.side == Side::Request {
            "request"
        } else {
            "candidate"
        };
        let kind = match f.kind {
            FieldKind::Categorical { vocab, dim } => {
                format!("\"kind\": \"categorical\", \"vocab\": {vocab}, \"dim\": {dim}")
            }
            FieldKind::Dense { mean, std, clip } => format!(
                "\"kind\": \"dense\", \"mean\": {}, \"std\": {}, \"clip\": {}, \"dim\": 1",
                jf(mean),
                jf(std),
                jf(clip)
            ),
        };
        let sep = if i + 1 < c.fields.len() { "," } else { "" };
        let _ = writeln!(
            j,
            "    {{\"index\": {i}, \"name\": {}, \"side\": \"{side}\", {kind}}}{sep}",
            js(&f.name)
        );
    }
    j.push_str("  ],\n  \"tasks\": [\n");
    for (i, t) in c.tasks.iter().enumerate() {
        let sep = if i + 1 < c.tasks.len() { "," } else { "" };
        let _ = writeln!(
            j,
            "    {{\"name\": {}, \"format\": {}, \"group\": {}, \"calib_a\": {}, \"calib_b\": {}}}{sep}",
            js(&t.name),
            t.format,
            t.group,
            jf(t.calib_a),
            jf(t.calib_b)
        );
    }
    let nums = |v: &[u32]| {
        v.iter()
            .map(|x| x.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    j.push_str("  ],\n");
    let _ = writeln!(
        j,
        "  \"arch\": {{\"experts\": {}, \"cross_layers\": {}, \"cross_rank\": {}, \"expert_mlp\": [{}], \"tower\": [{}]}},",
        a.experts,
        a.cross_layers,
        a.cross_rank,
        nums(&a.expert_mlp),
        nums(&a.tower)
    );
    let shapes = c
        .linear_shapes()
        .iter()
        .map(|&(i, o, b)| format!("[{i}, {o}, {b}]"))
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(j, "  \"linear_shapes_in_out_bias\": [{shapes}],");
    let order = c
        .x0_order()
        .iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(j, "  \"x0_order\": [{order}],");
    let _ = writeln!(j, "  \"x0_width\": {},", c.x0_width());
    let _ = writeln!(j, "  \"request_width\": {}", c.request_width());
    j.push_str("}\n");
    j
}

/// One feature value as the SDK holds it: an id, a dense float, or missing.
#[derive(Clone, Copy)]
enum Raw {
    Missing,
    /// A categorical value, given to camoe as the text [`value_text`] of this number.
    Text(u64),
    Dense(f32),
}

/// The text of a categorical value, as requests.txt carries it.
fn value_text(n: u64) -> String {
    format!("v{n:016x}")
}

/// The 64-bit id camoe hashes a text value to (`Model::hash_str`): giving camoe this
/// id equals giving it the text.
fn text_id(spec: &ModelSpec, n: u64) -> u64 {
    hash_bytes(value_text(n).as_bytes(), spec.config.hash_seed)
}

fn draw(spec: &ModelSpec, field: usize, rng: &mut SplitMix) -> Raw {
    // About 3% of values are missing, to exercise row 0 / the mean.
    if rng.below(32) == 0 {
        return Raw::Missing;
    }
    match spec.config.fields[field].kind {
        FieldKind::Categorical { .. } => Raw::Text(rng.next_u64()),
        FieldKind::Dense { mean, std, .. } => Raw::Dense(mean + std * 1.5 * rng.normal()),
    }
}

fn feature(spec: &ModelSpec, field: usize, r: Raw) -> Feature<'static> {
    Feature {
        field: field as u32,
        value: match r {
            Raw::Missing => Value::Missing,
            Raw::Text(n) => Value::Id(text_id(spec, n)),
            Raw::Dense(v) => Value::Dense(v),
        },
    }
}

/// Row index (categorical) or normalized value (dense) of a raw value, as FORMAT.md says.
fn encode(spec: &ModelSpec, field: usize, r: Raw) -> (i64, f32) {
    let c = &spec.config;
    match (c.fields[field].kind, r) {
        (FieldKind::Categorical { .. }, Raw::Missing) => (0, 0.0),
        (FieldKind::Categorical { vocab, .. }, Raw::Text(n)) => (
            bucket(
                text_id(spec, n),
                field_seed(c.hash_seed, field as u32),
                vocab,
            ) as i64,
            0.0,
        ),
        (FieldKind::Dense { .. }, Raw::Missing) => (0, 0.0),
        (FieldKind::Dense { mean, std, clip }, Raw::Dense(v)) => {
            (0, ((v - mean) / std).clamp(-clip, clip))
        }
        _ => unreachable!(),
    }
}

fn run() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    let (mut source, mut n_req, mut n_cand) = ("random:2025".to_string(), 4usize, 1000usize);
    while let Some(a) = args.next() {
        let mut val = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "--model" => source = val("--model")?,
            "--requests" => {
                n_req = val("--requests")?
                    .parse()
                    .map_err(|e| format!("--requests: {e}"))?
            }
            "--candidates" => {
                n_cand = val("--candidates")?
                    .parse()
                    .map_err(|e| format!("--candidates: {e}"))?
            }
            s if !s.starts_with('-') && out.is_none() => out = Some(PathBuf::from(s)),
            s => return Err(format!("unknown argument {s:?}")),
        }
    }
    let out = out
        .ok_or("usage: peers-dump OUT_DIR [--model random:SEED | file:PATH] [--requests R] [--candidates C]")?;
    fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let spec = load_spec(&source)?;
    let cfg = &spec.config;

    // Weights.
    fs::write(out.join("config.json"), config_json(&spec)).map_err(|e| e.to_string())?;
    for (i, (f, e)) in cfg.fields.iter().zip(&spec.embeddings).enumerate() {
        if let (FieldKind::Categorical { vocab, dim }, Some(e)) = (f.kind, e) {
            npy_f32(
                &out.join(format!("emb_{i}.npy")),
                &[vocab as usize, dim as usize],
                e,
            )?;
        }
    }
    for (k, l) in spec.linears.iter().enumerate() {
        npy_f32(
            &out.join(format!("lin_{k}_w.npy")),
            &[l.outputs, l.inputs],
            &l.weight,
        )?;
        if !l.bias.is_empty() {
            npy_f32(&out.join(format!("lin_{k}_b.npy")), &[l.outputs], &l.bias)?;
        }
    }
    let mut models = Vec::new();
    for (name, opts) in [("f32", WriteOptions::F32), ("int8", WriteOptions::INT8)] {
        let bytes = write_model(&spec, opts).map_err(|e| format!("write_model {name}: {e}"))?;
        fs::write(out.join(format!("model-{name}.camoe")), &bytes).map_err(|e| e.to_string())?;
        models.push((
            name,
            Model::from_bytes(&bytes).map_err(|e| format!("load {name}: {e}"))?,
        ));
    }

    // Requests.
    let nf = cfg.fields.len();
    let mut rng = SplitMix(0x005e_ed0f_9ee7);
    let mut reqs: Vec<Vec<Raw>> = Vec::new(); // [r][field] (request fields only meaningful)
    let mut cands: Vec<Vec<(u32, Vec<Raw>)>> = Vec::new(); // [r][c] = (task, [field])
    for _ in 0..n_req {
        let req: Vec<Raw> = (0..nf)
            .map(|i| {
                if cfg.fields[i].side == Side::Request {
                    draw(&spec, i, &mut rng)
                } else {
                    Raw::Missing
                }
            })
            .collect();
        let cs = (0..n_cand)
            .map(|_| {
                let task = rng.below(cfg.tasks.len() as u64) as u32;
                let v = (0..nf)
                    .map(|i| {
                        if cfg.fields[i].side == Side::Candidate {
                            draw(&spec, i, &mut rng)
                        } else {
                            Raw::Missing
                        }
                    })
                    .collect();
                (task, v)
            })
            .collect();
        reqs.push(req);
        cands.push(cs);
    }

    // Encoded inputs for the peers.
    for (i, f) in cfg.fields.iter().enumerate() {
        let (shape, vals): (Vec<usize>, Vec<(i64, f32)>) = match f.side {
            Side::Request => (
                vec![n_req],
                reqs.iter().map(|r| encode(&spec, i, r[i])).collect(),
            ),
            Side::Candidate => (
                vec![n_req, n_cand],
                cands
                    .iter()
                    .flat_map(|cs| cs.iter().map(|(_, v)| encode(&spec, i, v[i])))
                    .collect(),
            ),
        };
        match f.kind {
            FieldKind::Categorical { .. } => {
                let rows: Vec<i64> = vals.iter().map(|v| v.0).collect();
                npy_i64(&out.join(format!("req_rows_{i}.npy")), &shape, &rows)?
            }
            FieldKind::Dense { .. } => {
                let d: Vec<f32> = vals.iter().map(|v| v.1).collect();
                npy_f32(&out.join(format!("req_dense_{i}.npy")), &shape, &d)?
            }
        }
    }
    let tasks: Vec<i64> = cands
        .iter()
        .flat_map(|cs| cs.iter().map(|c| c.0 as i64))
        .collect();
    npy_i64(&out.join("req_task.npy"), &[n_req, n_cand], &tasks)?;

    // camoe's own pCTRs, through the Rust API. The float model's pass also calibrates
    // the int8-static model (min/max over every dumped request, the same rows LiteRT's
    // full-int8 converter calibrates on).
    let score_all = |model: &Arc<Model>| -> Result<(Vec<f32>, String), String> {
        let mut session = Session::new(model.clone(), n_cand).map_err(|e| e.to_string())?;
        let mut pctr = Vec::with_capacity(n_req * n_cand);
        let (mut scores, mut order) = (vec![0f32; n_cand], vec![0u32; n_cand]);
        for r in 0..n_req {
            let req: Vec<Feature> = (0..nf)
                .filter(|&i| cfg.fields[i].side == Side::Request)
                .map(|i| feature(&spec, i, reqs[r][i]))
                .collect();
            session
                .set_request(&req)
                .map_err(|e| format!("set_request: {e}"))?;
            let feats: Vec<Vec<Feature>> = cands[r]
                .iter()
                .map(|(_, v)| {
                    (0..nf)
                        .filter(|&i| cfg.fields[i].side == Side::Candidate)
                        .map(|i| feature(&spec, i, v[i]))
                        .collect()
                })
                .collect();
            let cs: Vec<Candidate> = cands[r]
                .iter()
                .zip(&feats)
                .map(|((task, _), f)| Candidate {
                    task: *task,
                    bid: 1.0,
                    features: f,
                })
                .collect();
            session
                .rank(&cs, &RankOptions::default(), &mut scores, &mut order)
                .map_err(|e| format!("rank: {e}"))?;
            pctr.extend_from_slice(&scores);
        }
        Ok((pctr, session.kernels().describe()))
    };
    let mut float_scores = Err(String::new());
    let scales = camoe::max_abs_scales(cfg, || float_scores = score_all(&models[0].1));
    let mut scored = vec![float_scores?];
    let bytes = camoe::write_model_static(&spec, WriteOptions::INT8, Some(&scales))
        .map_err(|e| format!("write_model int8-static: {e}"))?;
    fs::write(out.join("model-int8-static.camoe"), &bytes).map_err(|e| e.to_string())?;
    models.push((
        "int8-static",
        Model::from_bytes(&bytes).map_err(|e| format!("load int8-static: {e}"))?,
    ));
    for (_, model) in &models[1..] {
        scored.push(score_all(model)?);
    }
    for ((name, _), (pctr, kernels)) in models.iter().zip(&scored) {
        if let Some(bad) = pctr.iter().find(|p| !p.is_finite()) {
            return Err(format!("camoe {name} gave a non-finite pCTR {bad}"));
        }
        npy_f32(
            &out.join(format!("pctr_{name}.npy")),
            &[n_req, n_cand],
            pctr,
        )?;
        eprintln!("peers-dump: camoe {name} kernels: {kernels}");
    }

    // The requests in camoe-rank's format, for camoe-bench.
    let names = cfg
        .fields
        .iter()
        .map(|f| &f.name)
        .chain(cfg.tasks.iter().map(|t| &t.name));
    for name in names {
        if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '=' || c == '#') {
            return Err(format!(
                "name {name:?} cannot be written in camoe-rank's request format"
            ));
        }
    }
    let mut t = String::new();
    let _ = writeln!(
        t,
        "# {n_req} requests x {n_cand} candidates; model {source}"
    );
    let pairs = |t: &mut String, side: Side, values: &[Raw]| {
        for (f, r) in cfg.fields.iter().zip(values) {
            match (f.side == side, *r) {
                (false, _) | (true, Raw::Missing) => {}
                (true, Raw::Text(n)) => {
                    let _ = write!(t, " {}={}", f.name, value_text(n));
                }
                (true, Raw::Dense(v)) => {
                    let _ = write!(t, " {}={v:?}", f.name);
                }
            }
        }
        t.push('\n');
    };
    for r in 0..n_req {
        t.push_str("request");
        pairs(&mut t, Side::Request, &reqs[r]);
        for (task, v) in &cands[r] {
            let _ = write!(t, "candidate task={} bid=1", cfg.tasks[*task as usize].name);
            pairs(&mut t, Side::Candidate, v);
        }
    }
    fs::write(out.join("requests.txt"), t).map_err(|e| e.to_string())?;
    eprintln!(
        "peers-dump: {} ({} fields, x0 {}, {} linear layers) -> {} ({n_req} requests x {n_cand} candidates)",
        cfg.name,
        nf,
        cfg.x0_width(),
        spec.linears.len(),
        out.display()
    );
    Ok(())
}

fn main() {
    if let Err(e) = run() {
        eprintln!("peers-dump: {e}");
        std::process::exit(1);
    }
}
