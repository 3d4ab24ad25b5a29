//! `camoe convert`: an NNEF model (docs/NNEF.md) plus its config JSON becomes a
//! `.camoe` file, and only after an independent engine agrees with it.
//!
//! 1. [`read_nnef`] loads the archive with tract-nnef, checks it against the contract
//!    (inputs, output, operators, every variable's name and shape) and gathers the
//!    float weights into a [`ModelSpec`]. Anything off is one error line naming the
//!    tensor or operator.
//! 2. The runtime's writer quantizes ([`Mode`]: f32, f16, or int8 weights per output
//!    channel and int8 embedding rows, each with a per-row scale).
//! 3. [`verify`] scores the same rows with tract on the float NNEF and with the
//!    runtime on the new file (raw values through the runtime's own hashing and
//!    normalization), and [`Report::failures`] holds the budget it exceeds, if any.
//!    The caller writes the file only when there is none.

use crate::data::{read_csv_rows, Dataset, Encoder};
use crate::{export, metrics};
use camoe::format::{DType, WriteOptions};
use camoe::hash::SplitMix;
use camoe::spec::{FieldKind, LinearSpec, Missing, ModelConfig, ModelSpec, Side};
use camoe::{Candidate, Feature, Model, RankOptions, Session};
use std::collections::HashMap;
use std::path::Path;
use tract_core::ops::konst::Const;
use tract_nnef::internal::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    F32,
    F16,
    Int8,
}

impl Mode {
    pub fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "f32" => Ok(Mode::F32),
            "f16" => Ok(Mode::F16),
            "int8" => Ok(Mode::Int8),
            _ => Err(format!("--mode {s}: expected int8, f16 or f32")),
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Mode::F32 => "f32",
            Mode::F16 => "f16",
            Mode::Int8 => "int8",
        }
    }
    /// Linear layers and embedding tables in the mode's type unless `embeddings`
    /// overrides the tables' type.
    pub fn write_options(self, embeddings: Option<DType>) -> WriteOptions {
        let base = match self {
            Mode::F32 => WriteOptions::F32,
            Mode::F16 => WriteOptions::F16,
            Mode::Int8 => WriteOptions::INT8,
        };
        WriteOptions {
            embeddings: embeddings.unwrap_or(base.embeddings),
            ..base
        }
    }
}

pub fn parse_dtype(s: &str) -> Result<DType, String> {
    match s {
        "f32" => Ok(DType::F32),
        "f16" => Ok(DType::F16),
        "int8" => Ok(DType::I8),
        _ => Err(format!("--embeddings {s}: expected int8, f16 or f32")),
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

// ------------------------------------------------------------------ reading

/// tract's operators that the contract's NNEF operators load as.
const ALLOWED_OPS: &[&str] = &[
    "Source", "Const", "Cast", "Gather", "Concat", "EinSum", "MatMul", "Add", "Mul", "Max",
    "Softmax", "Slice", "DynSlice",
];

/// An error of tract as one line (its context chain joined with ": ").
fn one_line(e: impl std::fmt::Display) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `f`, turning a panic inside tract into an error.
fn no_panic<T>(what: &str, f: impl FnOnce() -> TractResult<T>) -> Result<T, String> {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(prev);
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {}", one_line(format!("{e:#}")))),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("{what}: tract panicked: {}", one_line(msg)))
        }
    }
}

fn dims(fact: &TypedFact) -> String {
    format!(
        "[{}]",
        fact.shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn check_io(model: &TypedModel, cfg: &ModelConfig) -> Result<(), String> {
    let order = cfg.x0_order();
    let inputs = model.input_outlets().map_err(one_line)?;
    let names: Vec<&str> = inputs
        .iter()
        .map(|o| model.node(o.node).name.as_str())
        .collect();
    let want: Vec<&str> = order.iter().map(|&i| cfg.fields[i].name.as_str()).collect();
    if names != want {
        return Err(format!(
            "inputs ({}) differ from the config's fields in x0 order ({}) (docs/NNEF.md, \"Inputs\")",
            names.join(", "),
            want.join(", ")
        ));
    }
    for (o, &i) in inputs.iter().zip(&order) {
        let f = &cfg.fields[i];
        let fact = model.outlet_fact(*o).map_err(one_line)?;
        let (dt, rank, what) = match f.kind {
            FieldKind::Categorical { .. } => (i64::datum_type(), 1, "i64 [B]"),
            FieldKind::Dense { .. } => (f32::datum_type(), 2, "f32 [B, 1]"),
        };
        let ok = fact.datum_type == dt
            && fact.rank() == rank
            && (rank == 1 || fact.shape[1] == 1.to_dim());
        if !ok {
            return Err(format!(
                "input `{}`: {:?} {}, expected {what}",
                f.name,
                fact.datum_type,
                dims(fact)
            ));
        }
    }
    let outputs = model.output_outlets().map_err(one_line)?;
    let g = cfg.groups.len();
    let [o] = outputs else {
        return Err(format!(
            "the graph has {} outputs, expected one (`logits`)",
            outputs.len()
        ));
    };
    let label = model
        .outlet_label(*o)
        .unwrap_or(model.node(o.node).name.as_str());
    let fact = model.outlet_fact(*o).map_err(one_line)?;
    if label != "logits" {
        return Err(format!("the output is `{label}`, expected `logits`"));
    }
    if fact.datum_type != f32::datum_type() || fact.rank() != 2 || fact.shape[1] != g.to_dim() {
        return Err(format!(
            "output `logits`: {:?} {}, expected f32 [B, {g}] (one logit per group)",
            fact.datum_type,
            dims(fact)
        ));
    }
    Ok(())
}

fn check_ops(model: &TypedModel) -> Result<(), String> {
    let mut bad: Vec<String> = Vec::new();
    for node in model.nodes() {
        let op = node.op.name();
        if !ALLOWED_OPS.contains(&op.as_ref()) && !bad.iter().any(|b| b.starts_with(op.as_ref())) {
            bad.push(format!("{op} (node `{}`)", node.name));
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    Err(format!(
        "operator{} {} not part of the contract (docs/NNEF.md, \"Operators used\")",
        if bad.len() > 1 { "s" } else { "" },
        bad.join(", ")
    ))
}

/// A constant of the graph as f32 values, checked against the shape `want`
/// (`alt` is a second accepted shape: a bias `[out]` for `[1, out]`).
fn tensor(
    consts: &HashMap<String, Arc<Tensor>>,
    name: &str,
    want: &[usize],
    alt: Option<&[usize]>,
) -> Result<Vec<f32>, String> {
    let t = consts
        .get(name)
        .ok_or_else(|| format!("tensor `{name}` is missing (docs/NNEF.md names every weight)"))?;
    if t.datum_type() != f32::datum_type() {
        return Err(format!(
            "tensor `{name}`: {:?}, expected f32",
            t.datum_type()
        ));
    }
    if t.shape() != want && Some(t.shape()) != alt {
        return Err(format!(
            "tensor `{name}`: shape {:?}, the config implies {:?}",
            t.shape(),
            want
        ));
    }
    let v: Vec<f32> = t
        .as_slice::<f32>()
        .map_err(|e| format!("tensor `{name}`: {}", one_line(e)))?
        .to_vec();
    if let Some(k) = v.iter().position(|x| !x.is_finite()) {
        return Err(format!(
            "tensor `{name}`: value {} at flat index {k} is not finite",
            v[k]
        ));
    }
    Ok(v)
}

/// Reads an NNEF archive that follows docs/NNEF.md into the float model `cfg`
/// describes. Errors are one line naming the tensor, input or operator at fault.
pub fn read_nnef(path: &Path, cfg: &ModelConfig) -> Result<ModelSpec, String> {
    if !path.exists() {
        return Err(format!("{}: no such file", path.display()));
    }
    let model = no_panic(&format!("{}: cannot load as NNEF", path.display()), || {
        export::nnef().model_for_path(path)
    })?;
    check_io(&model, cfg)?;
    check_ops(&model)?;
    let mut consts = HashMap::new();
    for node in model.nodes() {
        if let Some(c) = node.op_as::<Const>() {
            consts.insert(node.name.clone(), c.val().clone());
        }
    }
    let embeddings = cfg
        .fields
        .iter()
        .map(|f| match f.kind {
            FieldKind::Categorical { vocab, dim } => tensor(
                &consts,
                &format!("emb_{}", f.name),
                &[vocab as usize, dim as usize],
                None,
            )
            .map(Some),
            FieldKind::Dense { .. } => Ok(None),
        })
        .collect::<Result<Vec<_>, String>>()?;
    let names = export::linear_names(cfg);
    let mut linears = Vec::new();
    for (name, (inputs, outputs, has_bias)) in names.iter().zip(cfg.linear_shapes()) {
        let weight = tensor(&consts, &format!("{name}_w"), &[outputs, inputs], None)?;
        let b = format!("{name}_b");
        let bias = if has_bias {
            tensor(&consts, &b, &[1, outputs], Some(&[outputs]))?
        } else if consts.contains_key(&b) {
            return Err(format!(
                "tensor `{b}`: a low-rank `v` projection has no bias in the contract"
            ));
        } else {
            Vec::new()
        };
        linears.push(LinearSpec {
            inputs,
            outputs,
            weight,
            bias,
        });
    }
    // A weight the config does not account for means the two disagree.
    let mut expected: Vec<String> = names
        .iter()
        .flat_map(|n| [format!("{n}_w"), format!("{n}_b")])
        .collect();
    expected.extend(cfg.fields.iter().map(|f| format!("emb_{}", f.name)));
    let mut extra: Vec<&String> = consts
        .keys()
        .filter(|k| {
            let weightish = k.starts_with("emb_")
                || ((k.starts_with("expert") || k.starts_with("group"))
                    && (k.ends_with("_w") || k.ends_with("_b")));
            weightish && !expected.contains(k)
        })
        .collect();
    extra.sort();
    if let Some(k) = extra.first() {
        return Err(format!(
            "tensor `{k}` is not part of the model the config describes ({} experts, {} cross layers, rank {}, {} groups)",
            cfg.arch.experts,
            cfg.arch.cross_layers,
            cfg.arch.cross_rank,
            cfg.groups.len()
        ));
    }
    Ok(ModelSpec {
        config: cfg.clone(),
        embeddings,
        linears,
    })
}

// ------------------------------------------------------------------ samples

/// Raw impressions: per row, every config field's value as text ("" = missing).
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub values: Vec<Vec<String>>,
    pub task: Vec<usize>,
    pub label: Option<Vec<f32>>,
}

impl Table {
    pub fn len(&self) -> usize {
        self.task.len()
    }
    pub fn is_empty(&self) -> bool {
        self.task.is_empty()
    }

    /// Reads up to `max_rows` rows of a CSV as `camoe train` reads it
    /// ([`crate::data::read_csv_rows`]); labelled when it has a `click` column.
    pub fn read_csv(cfg: &ModelConfig, path: &Path, max_rows: usize) -> Result<Table, String> {
        let mut t = Table::default();
        let mut labels = Vec::new();
        let labelled = read_csv_rows(cfg, path, max_rows, false, |vals, task, click, _| {
            t.values.push(vals.iter().map(|v| v.to_string()).collect());
            t.task.push(task);
            labels.push(click);
        })?;
        if t.is_empty() {
            return Err(format!("{}: no rows", path.display()));
        }
        t.label = labelled.then_some(labels);
        Ok(t)
    }

    /// `n` unlabelled rows drawn from the schema: categorical values from a space
    /// twice the vocabulary, dense values around the field's mean, ~4 % missing where
    /// the field allows it, tasks uniform.
    pub fn generate(cfg: &ModelConfig, n: usize, seed: u64) -> Table {
        let mut rng = SplitMix(seed);
        let mut t = Table::default();
        for _ in 0..n {
            let vals = cfg
                .fields
                .iter()
                .map(|f| {
                    if f.missing == Missing::UseDefault && rng.below(25) == 0 {
                        return String::new();
                    }
                    match f.kind {
                        FieldKind::Categorical { vocab, .. } => {
                            format!("v{}", rng.below(2 * vocab as u64))
                        }
                        FieldKind::Dense { mean, std, .. } => {
                            format!("{}", mean + 1.5 * std * rng.normal())
                        }
                    }
                })
                .collect();
            t.values.push(vals);
            t.task.push(rng.below(cfg.tasks.len() as u64) as usize);
        }
        t
    }
}

/// Scored (request, candidate) pairs: request fields from row `req`, candidate fields
/// and task from row `cand`. Consecutive pairs with the same `group` are one request.
#[derive(Clone, Debug, Default)]
struct Pairs {
    req: Vec<usize>,
    cand: Vec<usize>,
    group: Vec<usize>,
}

impl Pairs {
    fn push(&mut self, req: usize, cand: usize, group: usize) {
        self.req.push(req);
        self.cand.push(cand);
        self.group.push(group);
    }
    fn len(&self) -> usize {
        self.req.len()
    }
    /// Ranges of consecutive pairs forming one request.
    fn requests(&self) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut s = 0;
        for i in 1..=self.len() {
            if i == self.len() || self.group[i] != self.group[s] {
                out.push(s..i);
                s = i;
            }
        }
        out
    }
}

fn value<'a>(cfg: &ModelConfig, t: &'a Table, p: &Pairs, k: usize, i: usize) -> &'a str {
    let row = match cfg.fields[i].side {
        Side::Request => p.req[k],
        Side::Candidate => p.cand[k],
    };
    &t.values[row][i]
}

/// pCTR of every pair from tract on the float NNEF.
fn score_tract(
    cfg: &ModelConfig,
    nnef: &Path,
    t: &Table,
    p: &Pairs,
    progress: &dyn Fn(&str),
) -> Result<Vec<f32>, String> {
    const CHUNK: usize = 512;
    let n = p.len();
    let enc = Encoder::new(cfg);
    let batch = n.clamp(1, CHUNK);
    let model = no_panic("tract: optimizing the NNEF model", || {
        export::load_runnable(nnef, batch)
    })?;
    let mut out = Vec::with_capacity(n);
    let mut s = 0;
    while s < n {
        let mut ds = Dataset::default();
        for j in 0..batch {
            // The last chunk is padded with its last pair.
            let k = (s + j).min(n - 1);
            let vals: Vec<&str> = (0..cfg.fields.len())
                .map(|i| value(cfg, t, p, k, i))
                .collect();
            enc.push(&mut ds, &vals, t.task[p.cand[k]], 0.0, f32::NAN);
        }
        let logits = no_panic("tract: running the NNEF model", || {
            export::run(cfg, &model, &ds.cat, &ds.dense)
        })?;
        let g = cfg.groups.len();
        for j in 0..batch.min(n - s) {
            let task = &cfg.tasks[ds.task[j] as usize];
            let z = logits[j * g + task.group as usize];
            out.push(metrics::sigmoid(task.calib_a * z + task.calib_b));
        }
        s += batch;
        if s % (20 * CHUNK) == 0 {
            progress(&format!("tract: {s}/{n} pairs"));
        }
    }
    Ok(out)
}

fn features<'a>(
    cfg: &ModelConfig,
    t: &'a Table,
    p: &Pairs,
    k: usize,
    side: Side,
) -> Vec<Feature<'a>> {
    let mut v = Vec::new();
    for (i, f) in cfg.fields.iter().enumerate() {
        if f.side != side {
            continue;
        }
        let x = value(cfg, t, p, k, i);
        if x.is_empty() {
            continue;
        }
        match f.kind {
            FieldKind::Categorical { .. } => v.push(Feature::str(i as u32, x)),
            FieldKind::Dense { .. } => {
                if let Ok(d) = x.parse::<f32>() {
                    v.push(Feature::dense(i as u32, d))
                }
            }
        }
    }
    v
}

/// pCTR of every pair from the runtime on a `.camoe` file, one ranking per request.
fn score_camoe(
    bytes: &[u8],
    t: &Table,
    p: &Pairs,
    expert_top_k: usize,
) -> Result<Vec<f32>, String> {
    let model = Model::from_bytes(bytes).map_err(|e| format!("runtime: {e}"))?;
    let cfg = model.config().clone();
    let reqs = p.requests();
    let most = reqs.iter().map(|r| r.len()).max().unwrap_or(1);
    let mut session = Session::new(model, most).map_err(|e| format!("runtime: {e}"))?;
    let opts = RankOptions {
        expert_top_k,
        ..RankOptions::default()
    };
    let mut out = vec![f32::NAN; p.len()];
    let mut order = vec![0u32; most];
    for r in reqs {
        session
            .set_request(&features(&cfg, t, p, r.start, Side::Request))
            .map_err(|e| format!("runtime: set_request: {e}"))?;
        let feats: Vec<Vec<Feature>> = r
            .clone()
            .map(|k| features(&cfg, t, p, k, Side::Candidate))
            .collect();
        let cands: Vec<Candidate> = r
            .clone()
            .zip(&feats)
            .map(|(k, f)| Candidate {
                task: t.task[p.cand[k]] as u32,
                bid: 1.0,
                features: f,
            })
            .collect();
        session
            .rank(&cands, &opts, &mut out[r.clone()], &mut order)
            .map_err(|e| format!("runtime: rank: {e}"))?;
    }
    Ok(out)
}

// ------------------------------------------------------------------ report

#[derive(Clone, Debug)]
pub struct FormatParity {
    pub format: String,
    pub rows: usize,
    pub clicks: usize,
    pub auc_pr_float: f64,
    pub auc_pr: f64,
    pub log_loss_float: f64,
    pub log_loss: f64,
}

#[derive(Clone, Debug, Default)]
pub struct Report {
    pub mode: String,
    pub bytes: usize,
    /// The same model written as f32, for the size ratio.
    pub f32_bytes: usize,
    pub pairs: usize,
    pub max_dp: f64,
    pub mean_dp: f64,
    pub formats: Vec<FormatParity>,
    pub requests: usize,
    pub candidates: usize,
    pub top10_mean: f64,
    pub top10_min: f64,
    pub tau_mean: f64,
    pub tau_min: f64,
    /// Budgets exceeded; empty = the file may be written.
    pub failures: Vec<String>,
}

/// The `k` best indices by score, best first (ties: lower index first).
fn top(scores: &[f32], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    idx.truncate(k);
    idx
}

/// Kendall's tau-b between two score vectors (1 = same order).
pub fn kendall_tau(a: &[f32], b: &[f32]) -> f64 {
    let (mut conc, mut disc, mut ta, mut tb) = (0i64, 0i64, 0i64, 0i64);
    for i in 0..a.len() {
        for j in i + 1..a.len() {
            let x = a[i].total_cmp(&a[j]) as i64;
            let y = b[i].total_cmp(&b[j]) as i64;
            match (x, y) {
                (0, 0) => {}
                (0, _) => ta += 1,
                (_, 0) => tb += 1,
                _ if x == y => conc += 1,
                _ => disc += 1,
            }
        }
    }
    let d = (((conc + disc + ta) * (conc + disc + tb)) as f64).sqrt();
    if d == 0.0 {
        1.0
    } else {
        (conc - disc) as f64 / d
    }
}

/// How the sample rows are chosen.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Rows scored one request each (the labelled data when given).
    pub rows: usize,
    /// Rankings: `requests` × `candidates` pairs drawn from the rows.
    pub requests: usize,
    pub candidates: usize,
    pub seed: u64,
    pub expert_top_k: usize,
}

impl Default for Sample {
    fn default() -> Self {
        Sample {
            rows: 2000,
            requests: 200,
            candidates: 50,
            seed: 1,
            expert_top_k: 0,
        }
    }
}

/// Compares the runtime on `bytes` with tract on the float `nnef`.
pub fn verify(
    cfg: &ModelConfig,
    nnef: &Path,
    bytes: &[u8],
    mode: Mode,
    table: &Table,
    s: &Sample,
    budget: &Budget,
    progress: &dyn Fn(&str),
) -> Result<Report, String> {
    let mut pairs = Pairs::default();
    let rows = table.len().min(s.rows);
    for r in 0..rows {
        pairs.push(r, r, r);
    }
    let mut rng = SplitMix(s.seed);
    let n = table.len() as u64;
    for q in 0..s.requests {
        let req = rng.below(n) as usize;
        for _ in 0..s.candidates {
            pairs.push(req, rng.below(n) as usize, rows + q);
        }
    }
    progress(&format!(
        "verify: {rows} rows + {} requests x {} candidates with tract",
        s.requests, s.candidates
    ));
    let want = score_tract(cfg, nnef, table, &pairs, progress)?;
    progress("verify: the same pairs with the runtime");
    let got = score_camoe(bytes, table, &pairs, s.expert_top_k)?;
    let dp: Vec<f64> = got
        .iter()
        .zip(&want)
        .map(|(&a, &b)| (a as f64 - b as f64).abs())
        .collect();
    let mut rep = Report {
        mode: mode.name().into(),
        bytes: bytes.len(),
        pairs: pairs.len(),
        // NaN (a score the runtime did not produce) counts as the worst difference.
        max_dp: dp.iter().fold(
            0f64,
            |m, &x| if x.is_nan() { f64::INFINITY } else { m.max(x) },
        ),
        mean_dp: dp.iter().sum::<f64>() / dp.len().max(1) as f64,
        requests: s.requests,
        candidates: s.candidates,
        ..Report::default()
    };
    if let Some(labels) = &table.label {
        for (fi, fname) in cfg.formats.iter().enumerate() {
            let idx: Vec<usize> = (0..rows)
                .filter(|&r| cfg.tasks[table.task[r]].format as usize == fi)
                .collect();
            let pick = |v: &[f32]| idx.iter().map(|&r| v[r]).collect::<Vec<f32>>();
            let (w, g, y) = (pick(&want), pick(&got), pick(labels));
            let clicks = y.iter().filter(|&&l| l > 0.5).count();
            if idx.is_empty() {
                continue;
            }
            rep.formats.push(FormatParity {
                format: fname.clone(),
                rows: idx.len(),
                clicks,
                auc_pr_float: metrics::auc_pr(&w, &y),
                auc_pr: metrics::auc_pr(&g, &y),
                log_loss_float: metrics::log_loss(&w, &y),
                log_loss: metrics::log_loss(&g, &y),
            });
        }
    }
    let k = 10.min(s.candidates);
    let (mut o_sum, mut t_sum) = (0f64, 0f64);
    rep.top10_min = 1.0;
    rep.tau_min = 1.0;
    for r in pairs.requests().into_iter().skip(rows) {
        let (w, g) = (&want[r.clone()], &got[r]);
        let tw = top(w, k);
        let overlap = top(g, k).iter().filter(|i| tw.contains(i)).count() as f64 / k as f64;
        let tau = kendall_tau(w, g);
        o_sum += overlap;
        t_sum += tau;
        rep.top10_min = rep.top10_min.min(overlap);
        rep.tau_min = rep.tau_min.min(tau);
    }
    let nq = s.requests.max(1) as f64;
    rep.top10_mean = if s.requests == 0 { 1.0 } else { o_sum / nq };
    rep.tau_mean = if s.requests == 0 { 1.0 } else { t_sum / nq };
    if mode == Mode::F32 && !(rep.max_dp <= budget.f32_max_dp) {
        rep.failures.push(format!(
            "f32: max |ΔpCTR| {:.3e} > {:.0e}",
            rep.max_dp, budget.f32_max_dp
        ));
    }
    for f in &rep.formats {
        let d = (f.auc_pr - f.auc_pr_float).abs();
        if !(d <= budget.auc_pr) && !f.auc_pr_float.is_nan() {
            rep.failures.push(format!(
                "{}: AUC-PR {:.5} vs float {:.5} (|Δ| {:.5} > {})",
                f.format, f.auc_pr, f.auc_pr_float, d, budget.auc_pr
            ));
        }
    }
    if !(rep.top10_mean >= budget.top10) {
        rep.failures.push(format!(
            "mean top-{k} overlap {:.4} < {}",
            rep.top10_mean, budget.top10
        ));
    }
    Ok(rep)
}

impl Report {
    pub fn print(&self, out: &mut dyn std::io::Write) -> std::io::Result<()> {
        let size = if self.f32_bytes == 0 {
            String::new()
        } else {
            format!(
                " ({:.1} % of f32's {} bytes)",
                100.0 * self.bytes as f64 / self.f32_bytes as f64,
                self.f32_bytes
            )
        };
        writeln!(
            out,
            "{}: {} bytes{size}; {} pairs: max |Δp| {:.3e}, mean |Δp| {:.3e}",
            self.mode, self.bytes, self.pairs, self.max_dp, self.mean_dp
        )?;
        for f in &self.formats {
            writeln!(
                out,
                "  {:<8} {:>6} rows {:>4} clicks: AUC-PR {:.5} (float {:.5}, Δ {:+.5}), log loss {:.5} (float {:.5}, Δ {:+.5})",
                f.format,
                f.rows,
                f.clicks,
                f.auc_pr,
                f.auc_pr_float,
                f.auc_pr - f.auc_pr_float,
                f.log_loss,
                f.log_loss_float,
                f.log_loss - f.log_loss_float
            )?;
        }
        writeln!(
            out,
            "  rankings: {} requests x {} candidates: top-10 overlap mean {:.4} (min {:.2}), Kendall tau mean {:.4} (min {:.4})",
            self.requests, self.candidates, self.top10_mean, self.top10_min, self.tau_mean, self.tau_min
        )?;
        for f in &self.failures {
            writeln!(out, "  OVER BUDGET: {f}")?;
        }
        Ok(())
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "mode": self.mode, "bytes": self.bytes, "f32_bytes": self.f32_bytes,
            "pairs": self.pairs, "max_dp": self.max_dp, "mean_dp": self.mean_dp,
            "formats": self.formats.iter().map(|f| serde_json::json!({
                "format": f.format, "rows": f.rows, "clicks": f.clicks,
                "auc_pr_float": f.auc_pr_float, "auc_pr": f.auc_pr,
                "log_loss_float": f.log_loss_float, "log_loss": f.log_loss,
            })).collect::<Vec<_>>(),
            "requests": self.requests, "candidates": self.candidates,
            "top10_mean": self.top10_mean, "top10_min": self.top10_min,
            "tau_mean": self.tau_mean, "tau_min": self.tau_min,
            "failures": self.failures,
        })
    }
}

/// Reads, quantizes and verifies: the `.camoe` bytes and the parity report. The
/// caller writes the bytes only when `report.failures` is empty.
#[allow(clippy::too_many_arguments)]
pub fn convert(
    nnef: &Path,
    cfg: &ModelConfig,
    mode: Mode,
    embeddings: Option<DType>,
    table: &Table,
    sample: &Sample,
    budget: &Budget,
    progress: &dyn Fn(&str),
) -> Result<(Vec<u8>, Report), String> {
    progress(&format!("convert: reading {}", nnef.display()));
    let spec = read_nnef(nnef, cfg)?;
    let bytes = camoe::write_model(&spec, mode.write_options(embeddings))
        .map_err(|e| format!("writing the .camoe: {e}"))?;
    let f32_bytes = camoe::write_model(&spec, WriteOptions::F32)
        .map_err(|e| format!("writing the .camoe: {e}"))?
        .len();
    let mut rep = verify(cfg, nnef, &bytes, mode, table, sample, budget, progress)?;
    rep.f32_bytes = f32_bytes;
    Ok((bytes, rep))
}

#[cfg(test)]
mod tests {
    use super::*;
    use camoe::spec::{Architecture, FieldSpec, TaskSpec};
    use std::path::PathBuf;

    struct Dir(PathBuf);
    impl Dir {
        fn new(tag: &str) -> Dir {
            let d =
                std::env::temp_dir().join(format!("camoe-convert-{tag}-{}", std::process::id()));
            std::fs::create_dir_all(&d).unwrap();
            Dir(d)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    /// A model of the given shape: `wide` picks a schema with more and wider fields.
    fn config(
        e: u32,
        g: usize,
        l: u32,
        rank: u32,
        mlp: &[u32],
        tower: &[u32],
        wide: bool,
    ) -> ModelConfig {
        use Side::*;
        let mut fields = vec![
            FieldSpec::categorical("user", Request, 97, if wide { 12 } else { 4 }),
            FieldSpec::dense("minutes", Request, 20.0, 15.0, 4.0),
            FieldSpec::categorical("ad", Candidate, 211, if wide { 16 } else { 6 }),
            FieldSpec::categorical("kind", Candidate, 5, 2),
        ];
        if wide {
            fields.insert(1, FieldSpec::categorical("device", Request, 9, 3));
            fields.push(FieldSpec::dense("seconds", Candidate, 15.0, 10.0, 3.0));
            fields.push(FieldSpec::categorical("advertiser", Candidate, 61, 8));
        }
        let formats: Vec<String> = ["audio", "video", "display"].map(String::from).to_vec();
        let groups: Vec<String> = (0..g).map(|i| format!("g{i}")).collect();
        let tasks = (0..4)
            .map(|t| TaskSpec::new(&format!("t{t}"), t % 3, t % g as u32))
            .collect();
        ModelConfig {
            name: format!("grid-e{e}-g{g}-l{l}-r{rank}"),
            hash_seed: 0x5eed_0000 + e as u64,
            formats,
            fields,
            groups,
            tasks,
            arch: Architecture {
                experts: e,
                cross_layers: l,
                cross_rank: rank,
                expert_mlp: mlp.to_vec(),
                tower: tower.to_vec(),
            },
        }
    }

    /// Writes `cfg` with seeded weights through the exporter: (nnef path, config).
    fn export(dir: &Dir, cfg: &ModelConfig, seed: u64) -> PathBuf {
        let spec = ModelSpec::random(cfg.clone(), seed);
        let p = dir.0.join(format!("{}.nnef.tgz", cfg.name));
        export::write_nnef(&spec, &p).unwrap();
        p
    }

    fn small() -> Sample {
        Sample {
            rows: 300,
            requests: 30,
            candidates: 20,
            seed: 5,
            expert_top_k: 0,
        }
    }

    fn run(nnef: &Path, cfg: &ModelConfig, mode: Mode) -> Result<(Vec<u8>, Report), String> {
        let s = small();
        let table = Table::generate(cfg, s.rows, 9);
        convert(
            nnef,
            cfg,
            mode,
            None,
            &table,
            &s,
            &Budget::default(),
            &|_| {},
        )
    }

    /// Experts, groups and cross layers over {1,4,8} × {1,2,3} × {0,1,3}, full and
    /// low-rank cross, with and without MLP and tower, two schemas: every mode
    /// converts within its budget, and f32 agrees with tract to 1e-5 in pCTR.
    #[test]
    fn shape_grid_converts_within_budget() {
        let dir = Dir::new("grid");
        let grid = [
            config(1, 1, 0, 0, &[8], &[], false),
            config(4, 2, 1, 0, &[16, 8], &[6], true),
            config(8, 3, 3, 5, &[12], &[4], false),
            config(1, 3, 3, 0, &[], &[5], true),
            config(4, 1, 3, 3, &[10, 6], &[], false),
            config(8, 2, 0, 0, &[9], &[7, 3], true),
            config(4, 3, 1, 2, &[], &[], false),
        ];
        for (i, cfg) in grid.iter().enumerate() {
            let nnef = export(&dir, cfg, 100 + i as u64);
            for mode in [Mode::F32, Mode::F16, Mode::Int8] {
                let (bytes, rep) =
                    run(&nnef, cfg, mode).unwrap_or_else(|e| panic!("{}: {e}", cfg.name));
                assert!(
                    rep.failures.is_empty(),
                    "{} {mode:?}: {:?}",
                    cfg.name,
                    rep.failures
                );
                assert_eq!(rep.pairs, 300 + 30 * 20);
                let model = Model::from_bytes(&bytes).unwrap();
                assert_eq!(model.config(), cfg);
                match mode {
                    Mode::F32 => assert!(rep.max_dp < 1e-5, "{}: {}", cfg.name, rep.max_dp),
                    Mode::F16 => assert!(rep.max_dp < 1e-2, "{}: {}", cfg.name, rep.max_dp),
                    Mode::Int8 => {
                        assert!(rep.max_dp < 5e-2, "{}: {}", cfg.name, rep.max_dp);
                        assert!(rep.bytes < rep.f32_bytes, "{}", cfg.name);
                    }
                }
                // The scores differ at all: quantization is really in the loop.
                if mode != Mode::F32 {
                    assert!(rep.max_dp > 0.0, "{} {mode:?}", cfg.name);
                }
            }
        }
    }

    /// A file that is not the NNEF's model fails verification: the check can fail.
    #[test]
    fn verification_catches_a_wrong_weight() {
        let dir = Dir::new("wrong");
        let cfg = config(4, 2, 1, 0, &[8], &[4], false);
        let nnef = export(&dir, &cfg, 3);
        let mut spec = read_nnef(&nnef, &cfg).unwrap();
        assert_eq!(spec, ModelSpec::random(cfg.clone(), 3));
        spec.linears[0].weight[7] += 0.5;
        let bytes = camoe::write_model(&spec, WriteOptions::F32).unwrap();
        let s = small();
        let table = Table::generate(&cfg, s.rows, 9);
        let rep = verify(
            &cfg,
            &nnef,
            &bytes,
            Mode::F32,
            &table,
            &s,
            &Budget::default(),
            &|_| {},
        )
        .unwrap();
        assert!(rep.max_dp > 1e-5);
        assert!(
            rep.failures.iter().any(|f| f.contains("max |ΔpCTR|")),
            "{:?}",
            rep.failures
        );
        // Swapped scores break the ranking budget of a quantized mode too.
        let mut strict = Budget::default();
        strict.top10 = 1.0;
        spec.linears
            .last_mut()
            .unwrap()
            .weight
            .iter_mut()
            .for_each(|w| *w = -*w);
        let bytes = camoe::write_model(&spec, WriteOptions::INT8).unwrap();
        let rep = verify(
            &cfg,
            &nnef,
            &bytes,
            Mode::Int8,
            &table,
            &s,
            &strict,
            &|_| {},
        )
        .unwrap();
        assert!(
            rep.top10_mean < 0.9 && rep.tau_mean < 0.5,
            "{} {}",
            rep.top10_mean,
            rep.tau_mean
        );
        assert!(!rep.failures.is_empty());
    }

    /// Labelled rows give per-format AUC-PR and log-loss deltas.
    #[test]
    fn labelled_rows_give_per_format_metrics() {
        let dir = Dir::new("labels");
        let cfg = config(4, 2, 1, 0, &[8], &[4], false);
        let nnef = export(&dir, &cfg, 4);
        let mut table = Table::generate(&cfg, 600, 2);
        let mut rng = SplitMix(8);
        table.label = Some((0..600).map(|_| (rng.below(5) == 0) as u8 as f32).collect());
        let csv = dir.0.join("rows.csv");
        let mut text = cfg
            .fields
            .iter()
            .map(|f| f.name.clone())
            .collect::<Vec<_>>()
            .join(",");
        text += ",task,click\n";
        for r in 0..table.len() {
            text += &table.values[r].join(",");
            text += &format!(
                ",{},{}\n",
                cfg.tasks[table.task[r]].name,
                table.label.as_ref().unwrap()[r]
            );
        }
        std::fs::write(&csv, text).unwrap();
        let read = Table::read_csv(&cfg, &csv, usize::MAX).unwrap();
        assert_eq!(read.values, table.values);
        assert_eq!(read.task, table.task);
        assert_eq!(read.label, table.label);
        let s = Sample {
            rows: 600,
            ..small()
        };
        let (_, rep) = convert(
            &nnef,
            &cfg,
            Mode::Int8,
            None,
            &read,
            &s,
            &Budget::default(),
            &|_| {},
        )
        .unwrap();
        assert_eq!(rep.formats.len(), 3);
        assert_eq!(rep.formats.iter().map(|f| f.rows).sum::<usize>(), 600);
        for f in &rep.formats {
            assert!(
                f.auc_pr_float > 0.0 && f.auc_pr > 0.0 && f.log_loss > 0.0,
                "{f:?}"
            );
        }
    }

    /// Rewrites `graph.nnef` inside an archive with `edit`.
    fn edit_graph(src: &Path, dst: &Path, edit: impl Fn(String) -> String) {
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(
            std::fs::File::open(src).unwrap(),
        ));
        let out = flate2::write::GzEncoder::new(
            std::fs::File::create(dst).unwrap(),
            flate2::Compression::fast(),
        );
        let mut b = tar::Builder::new(out);
        for entry in ar.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            if path.to_str() == Some("graph.nnef") {
                data = edit(String::from_utf8(data).unwrap()).into_bytes();
            }
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            b.append_data(&mut h, &path, &data[..]).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
    }

    /// Malformed or unsupported NNEF: one error line naming the tensor, input or
    /// operator, and no panic.
    #[test]
    fn bad_nnef_gives_one_clear_line() {
        let dir = Dir::new("bad");
        let cfg = config(4, 2, 1, 0, &[8], &[4], false);
        let nnef = export(&dir, &cfg, 6);
        let p = |n: &str| dir.0.join(n);
        let expect = |path: &Path, cfg: &ModelConfig, needle: &str| {
            let e = read_nnef(path, cfg).expect_err(needle);
            assert!(!e.contains('\n'), "not one line: {e}");
            assert!(e.contains(needle), "`{needle}` not in: {e}");
        };
        // Not an archive; truncated; absent.
        std::fs::write(p("junk.nnef.tgz"), b"not a model").unwrap();
        expect(&p("junk.nnef.tgz"), &cfg, "cannot load as NNEF");
        let full = std::fs::read(&nnef).unwrap();
        std::fs::write(p("cut.nnef.tgz"), &full[..full.len() / 2]).unwrap();
        expect(&p("cut.nnef.tgz"), &cfg, "cannot load as NNEF");
        expect(&p("nope.nnef.tgz"), &cfg, "no such file");
        // An operator outside the contract (tanh instead of the ReLU's max).
        edit_graph(&nnef, &p("tanh.nnef.tgz"), |g| {
            let i = g.find("expert0_mlp0_relu = max(").unwrap();
            let j = i + g[i..].find(';').unwrap();
            format!(
                "{}expert0_mlp0_relu = tanh(expert0_mlp0_add){}",
                &g[..i],
                &g[j..]
            )
        });
        expect(&p("tanh.nnef.tgz"), &cfg, "Tanh");
        // A renamed variable: the config's tensor is missing.
        edit_graph(&nnef, &p("renamed.nnef.tgz"), |g| {
            g.replace("expert2_mlp0_w =", "expert2_mlp0_weight =")
                .replace("(expert2_mlp0_w,", "(expert2_mlp0_weight,")
                .replace(", expert2_mlp0_w,", ", expert2_mlp0_weight,")
        });
        expect(&p("renamed.nnef.tgz"), &cfg, "expert2_mlp0_w");
        // Config and graph disagree: shape, count, inputs.
        let mut wide = cfg.clone();
        if let FieldKind::Categorical { vocab, .. } = &mut wide.fields[0].kind {
            *vocab = 98;
        }
        expect(&nnef, &wide, "emb_user");
        let mut fewer = cfg.clone();
        fewer.arch.experts = 3;
        expect(&nnef, &fewer, "group0_gate_w");
        // A layer the config does not have (same widths otherwise).
        let deeper = config(4, 2, 1, 0, &[8, 8], &[4], false);
        let deeper_nnef = export(&dir, &deeper, 6);
        expect(&deeper_nnef, &cfg, "expert0_mlp1_");
        let mut more = cfg.clone();
        more.arch.expert_mlp = vec![8, 4];
        expect(&nnef, &more, "expert0_mlp1_w");
        let mut renamed = cfg.clone();
        renamed.fields[1].name = "minutes_played".into();
        expect(&nnef, &renamed, "inputs");
        let mut groups = cfg.clone();
        groups.groups.push("g2".into());
        expect(&nnef, &groups, "logits");
    }

    /// The shipped demo files are this command's output from the shipped NNEF, and
    /// each passes verification on rows generated from the schema.
    #[test]
    fn shipped_demo_files_come_from_the_nnef() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("models");
        let cfg = crate::config::read(&root.join("camoe-demo.config.json")).unwrap();
        let nnef = root.join("camoe-demo.nnef.tgz");
        let s = Sample::default();
        let table = Table::generate(&cfg, s.rows, s.seed);
        for (mode, file) in [
            (Mode::Int8, "camoe-demo.camoe"),
            (Mode::F16, "camoe-demo.f16.camoe"),
        ] {
            let (bytes, rep) = convert(
                &nnef,
                &cfg,
                mode,
                None,
                &table,
                &s,
                &Budget::default(),
                &|_| {},
            )
            .unwrap();
            assert!(rep.failures.is_empty(), "{mode:?}: {:?}", rep.failures);
            let shipped = std::fs::read(root.join(file)).unwrap();
            assert!(
                bytes == shipped,
                "models/{file} is not `camoe convert`'s output; regenerate it (models/README.md)"
            );
        }
    }

    #[test]
    fn kendall_tau_and_top() {
        assert_eq!(kendall_tau(&[1., 2., 3.], &[10., 20., 30.]), 1.0);
        assert_eq!(kendall_tau(&[1., 2., 3.], &[3., 2., 1.]), -1.0);
        assert!((kendall_tau(&[1., 2., 3., 4.], &[1., 3., 2., 4.]) - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(top(&[0.1, 0.5, 0.5, 0.2], 3), vec![1, 2, 3]);
    }
}
