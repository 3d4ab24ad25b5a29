//! Parity of a converted file: tract on the float NNEF and the runtime on the
//! `.camoe` score the same pairs, and the [`Report`] says which budget, if any, the
//! file exceeds.

use super::nnef::no_panic;
use super::sample::{Pairs, Sample, Table};
use super::{Budget, Mode};
use crate::data::{Dataset, Encoder};
use crate::{export, metrics};
use camoe::spec::{FieldKind, ModelConfig, Side};
use camoe::{Candidate, Feature, Model, RankOptions, Session};
use std::path::Path;

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
                .map(|i| p.value(cfg, t, k, i))
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
        let x = p.value(cfg, t, k, i);
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
pub(super) fn score_camoe(
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

/// Compares the runtime on `bytes` with tract on the float `nnef`.
// `!(x <= limit)`: a NaN measure (or limit) is over budget.
#[allow(clippy::too_many_arguments, clippy::neg_cmp_op_on_partial_ord)]
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
    let pairs = Pairs::draw(table, s);
    let rows = pairs.rows;
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
        let tw = metrics::top(w, k);
        let overlap =
            metrics::top(g, k).iter().filter(|i| tw.contains(i)).count() as f64 / k as f64;
        let tau = metrics::kendall_tau(w, g);
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
