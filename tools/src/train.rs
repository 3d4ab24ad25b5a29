//! `camoe train` / `camoe eval`: CAMoE and its baselines, trained by one loop.

use crate::data::Dataset;
use crate::metrics;
use crate::model::{bce_with_logits, Batch, CResult, Net};
use camoe::hash::SplitMix;
use camoe::spec::ModelConfig;
use candle_core::{Device, Tensor};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};

/// The model variants of the ablation table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// Modality groups, loss masking, cross layers.
    Camoe,
    /// CAMoE without DCN-v2 cross layers.
    NoCross,
    /// CAMoE where every impression trains every group's head.
    NoMask,
    /// Plain MMoE: one gate and tower per task, no grouping, no masking.
    Mmoe,
    /// One shared bottom (a single expert: cross layers + MLP) and a tower per
    /// task, each impression training its own task's tower.
    SharedBottom,
    /// One separate model per modality group, each trained on its group's rows only.
    SingleTask,
    /// Groups by the request's content type (music, podcast, audiobook, video)
    /// instead of the ad's modality; masking on.
    ContentGroups,
    /// CAMoE trained with sparse top-2 gating and the load-balancing loss.
    CamoeTop2,
}

impl Variant {
    pub const ALL: [Variant; 8] = [
        Variant::Camoe,
        Variant::NoCross,
        Variant::NoMask,
        Variant::Mmoe,
        Variant::SharedBottom,
        Variant::SingleTask,
        Variant::ContentGroups,
        Variant::CamoeTop2,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Variant::Camoe => "camoe",
            Variant::NoCross => "camoe-nocross",
            Variant::NoMask => "camoe-nomask",
            Variant::Mmoe => "mmoe",
            Variant::SharedBottom => "shared-bottom",
            Variant::SingleTask => "single-task",
            Variant::ContentGroups => "content-groups",
            Variant::CamoeTop2 => "camoe-top2",
        }
    }
    pub fn parse(s: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == s)
    }
    pub fn masked(self) -> bool {
        !matches!(self, Variant::NoMask | Variant::Mmoe)
    }
    /// The sparse gate's k this variant trains with (0 = dense).
    pub fn gate_top_k(self, o: &TrainOpts) -> usize {
        match self {
            Variant::CamoeTop2 => 2,
            _ => o.gate_top_k,
        }
    }
    /// The model config this variant trains, derived from the base (CAMoE) config.
    pub fn config(self, base: &ModelConfig) -> ModelConfig {
        let mut c = base.clone();
        match self {
            Variant::Camoe | Variant::NoMask | Variant::SingleTask | Variant::CamoeTop2 => {}
            Variant::NoCross => c.arch.cross_layers = 0,
            Variant::Mmoe => {
                c.groups = c.tasks.iter().map(|t| t.name.clone()).collect();
                for (i, t) in c.tasks.iter_mut().enumerate() {
                    t.group = i as u32;
                }
            }
            Variant::SharedBottom => {
                c.arch = compute_matched_bottom(base);
                c.groups = c.tasks.iter().map(|t| t.name.clone()).collect();
                for (i, t) in c.tasks.iter_mut().enumerate() {
                    t.group = i as u32;
                }
            }
            Variant::ContentGroups => {
                c.groups = crate::sim::CONTENT.iter().map(|s| s.to_string()).collect();
            }
        }
        c
    }
}

/// MACs of all experts together (cross layers and MLP) for one candidate.
pub fn expert_macs(cfg: &ModelConfig) -> u64 {
    let a = &cfg.arch;
    let d = cfg.x0_width() as u64;
    let cross = match a.cross_rank {
        0 => d * d,
        r => 2 * d * r as u64,
    } * a.cross_layers as u64;
    let mut inp = d;
    let mut mlp = 0;
    for &w in &a.expert_mlp {
        mlp += inp * w as u64;
        inp = w as u64;
    }
    a.experts as u64 * (cross + mlp)
}

/// The shared bottom of the same expert MACs as `base`'s experts together: one
/// expert whose first MLP layer is widened (the cross layers are D×D whatever the
/// width; the last width stays, so the towers are unchanged).
pub fn compute_matched_bottom(base: &ModelConfig) -> camoe::spec::Architecture {
    let mut a = base.arch.clone();
    let target = expert_macs(base);
    a.experts = 1;
    if a.expert_mlp.is_empty() {
        // No MLP: one layer as wide as x0, so the towers' input is unchanged.
        a.expert_mlp = vec![base.x0_width() as u32];
    }
    let one = |w: u32, a: &camoe::spec::Architecture| {
        let mut c = base.clone();
        c.arch = a.clone();
        c.arch.expert_mlp[0] = w;
        expert_macs(&c)
    };
    // MACs grow with the first width: the smallest width that reaches the target.
    let (mut lo, mut hi) = (1u32, 1u32 << 20);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if one(mid, &a) >= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    a.expert_mlp[0] = lo;
    a
}

#[derive(Clone, Debug)]
pub struct TrainOpts {
    pub epochs: usize,
    pub batch: usize,
    pub lr: f64,
    pub weight_decay: f64,
    /// Decoupled weight decay of the embedding tables (pulls rarely seen ids
    /// towards zero) and their learning rate relative to `lr`.
    pub emb_weight_decay: f64,
    pub emb_lr_scale: f64,
    pub emb_std: f32,
    pub seed: u64,
    /// Validation checks per epoch (early stopping granularity).
    pub evals_per_epoch: usize,
    /// Stop after this many validation checks without improvement.
    pub patience: usize,
    /// Sparse gating: keep each row's `gate_top_k` best experts (0 = dense).
    pub gate_top_k: usize,
    /// Weight of the load-balancing loss with sparse gating (Switch Transformer's
    /// `E · Σ_e f_e · P_e`, 1 when balanced).
    pub balance: f64,
    pub quiet: bool,
}

impl Default for TrainOpts {
    fn default() -> Self {
        TrainOpts {
            epochs: 4,
            batch: 512,
            lr: 5e-4,
            weight_decay: 1e-4,
            emb_weight_decay: 0.0,
            emb_lr_scale: 1.0,
            emb_std: 0.02,
            seed: 1,
            evals_per_epoch: 4,
            patience: 2,
            gate_top_k: 0,
            balance: 0.01,
            quiet: false,
        }
    }
}

/// Which group's head scores (and is trained by) each row.
pub fn own_groups(cfg: &ModelConfig, variant: Variant, ds: &Dataset) -> Vec<u32> {
    if variant == Variant::ContentGroups {
        ds.content.iter().map(|&c| c as u32).collect()
    } else {
        ds.task
            .iter()
            .map(|&t| cfg.tasks[t as usize].group)
            .collect()
    }
}

/// One training step's loss (exposed for the loss-masking test).
pub fn loss(
    net: &Net,
    ds: &Dataset,
    rows: &[usize],
    own: &[u32],
    masked: bool,
    balance: f64,
    dev: &Device,
) -> CResult<Tensor> {
    let b = Batch::new(ds, rows, dev)?;
    let fw = net.forward(&net.x0(&b)?)?;
    let z = fw.logits.clone();
    let g = net.cfg.groups.len();
    let n = rows.len();
    let y = Tensor::from_vec(
        rows.iter().map(|&i| ds.label[i]).collect::<Vec<f32>>(),
        (n, 1),
        dev,
    )?;
    let mut m = vec![if masked { 0f32 } else { 1.0 }; n * g];
    if masked {
        for (k, &i) in rows.iter().enumerate() {
            m[k * g + own[i] as usize] = 1.0;
        }
    }
    let msum: f32 = m.iter().sum();
    let mask = Tensor::from_vec(m, (n, g), dev)?;
    let per = bce_with_logits(&z, &y)?;
    let l = ((per * mask)?.sum_all()? / msum.max(1.0) as f64)?;
    if fw.kept.is_empty() || balance == 0.0 {
        return Ok(l);
    }
    l + (balance_loss(net, &fw, rows, own)? * balance)?
}

/// The load-balancing term of sparse gating, per group over the rows it scores:
/// `E · Σ_e f_e · P_e` with f_e the share of the group's kept slots that went to
/// expert e (constant) and P_e its mean dense gate weight (differentiable);
/// averaged over the groups present.
fn balance_loss(
    net: &Net,
    fw: &crate::model::Forward,
    rows: &[usize],
    own: &[u32],
) -> CResult<Tensor> {
    let (g, e) = (net.cfg.groups.len(), net.cfg.arch.experts as usize);
    let k = net.gate_top_k.min(e) as f32;
    let mut count = vec![0f32; g];
    let mut f = vec![0f32; g * e];
    for (r, &i) in rows.iter().enumerate() {
        let gi = own[i] as usize;
        count[gi] += 1.0;
        for x in 0..e {
            f[gi * e + x] += fw.kept[(r * g + gi) * e + x] as u8 as f32;
        }
    }
    let present = count.iter().filter(|&&c| c > 0.0).count().max(1) as f32;
    let mut c = vec![0f32; rows.len() * g * e];
    for (r, &i) in rows.iter().enumerate() {
        let gi = own[i] as usize;
        for x in 0..e {
            let share = f[gi * e + x] / (count[gi] * k);
            c[(r * g + gi) * e + x] = e as f32 * share / count[gi] / present;
        }
    }
    let c = Tensor::from_vec(c, (rows.len(), g, e), fw.dense_gates.device())?;
    (&fw.dense_gates * c)?.sum_all()
}

/// Own-group logits of every row.
pub fn predict_logits(net: &Net, ds: &Dataset, own: &[u32], dev: &Device) -> CResult<Vec<f32>> {
    let mut out = Vec::with_capacity(ds.len());
    let g = net.cfg.groups.len();
    let rows: Vec<usize> = (0..ds.len()).collect();
    for chunk in rows.chunks(4096) {
        let b = Batch::new(ds, chunk, dev)?;
        let z: Vec<f32> = net.logits(&b)?.detach().flatten_all()?.to_vec1()?;
        for (k, &i) in chunk.iter().enumerate() {
            out.push(z[k * g + own[i] as usize]);
        }
    }
    Ok(out)
}

fn mean_ll(z: &[f32], y: &[f32]) -> f64 {
    let p: Vec<f32> = z.iter().map(|&z| metrics::sigmoid(z)).collect();
    metrics::log_loss(&p, y)
}

/// Trains one model of `cfg` on `train` (early stopping on `valid`), with the
/// variant's grouping and masking. Returns the best model (by validation log loss).
pub fn train_net(
    cfg: &ModelConfig,
    variant: Variant,
    train: &Dataset,
    valid: &Dataset,
    o: &TrainOpts,
    dev: &Device,
) -> CResult<Net> {
    let mut net = Net::new(cfg, o.seed, o.emb_std, dev)?;
    net.gate_top_k = variant.gate_top_k(o);
    let (emb, rest) = net.vars();
    let mut opt_emb = AdamW::new(
        emb,
        ParamsAdamW {
            lr: o.lr * o.emb_lr_scale,
            weight_decay: o.emb_weight_decay,
            ..Default::default()
        },
    )?;
    let mut opt = AdamW::new(
        rest,
        ParamsAdamW {
            lr: o.lr,
            weight_decay: o.weight_decay,
            ..Default::default()
        },
    )?;
    let own_t = own_groups(cfg, variant, train);
    let own_v = own_groups(cfg, variant, valid);
    let mut rng = SplitMix(o.seed ^ 0x7a1e);
    let n = train.len();
    let steps_per_epoch = n.div_ceil(o.batch);
    let eval_every = (steps_per_epoch / o.evals_per_epoch.max(1)).max(1);
    let mut best = (f64::INFINITY, net.snapshot()?);
    let mut since_best = 0;
    let t0 = std::time::Instant::now();
    let mut seen = 0usize;
    'outer: for epoch in 0..o.epochs {
        let mut idx: Vec<usize> = (0..n).collect();
        for i in (1..n).rev() {
            idx.swap(i, rng.below(i as u64 + 1) as usize);
        }
        let mut run_loss = 0f64;
        let mut run_n = 0;
        for (step, rows) in idx.chunks(o.batch).enumerate() {
            let l = loss(&net, train, rows, &own_t, variant.masked(), o.balance, dev)?;
            let grads = l.backward()?;
            opt_emb.step(&grads)?;
            opt.step(&grads)?;
            run_loss += l.to_scalar::<f32>()? as f64;
            run_n += 1;
            seen += rows.len();
            let last = step + 1 == steps_per_epoch;
            if (step + 1) % eval_every == 0 || (last && (step + 1) % eval_every > eval_every / 2) {
                let zv = predict_logits(&net, valid, &own_v, dev)?;
                let vl = mean_ll(&zv, &valid.label);
                if !o.quiet {
                    eprintln!(
                        "train[{}]: epoch {} step {}/{} loss {:.5} valid logloss {:.5} ({:.0} rows/s)",
                        variant.name(),
                        epoch + 1,
                        step + 1,
                        steps_per_epoch,
                        run_loss / run_n as f64,
                        vl,
                        seen as f64 / t0.elapsed().as_secs_f64()
                    );
                }
                run_loss = 0.0;
                run_n = 0;
                if vl < best.0 - 1e-6 {
                    best = (vl, net.snapshot()?);
                    since_best = 0;
                } else {
                    since_best += 1;
                    if since_best >= o.patience {
                        if !o.quiet {
                            eprintln!(
                                "train[{}]: early stop (best valid logloss {:.5})",
                                variant.name(),
                                best.0
                            );
                        }
                        break 'outer;
                    }
                }
            }
        }
    }
    net.restore(&best.1)?;
    Ok(net)
}

/// Fits Platt calibration per task on validation own-group logits; writes it into `cfg`.
pub fn calibrate(cfg: &mut ModelConfig, z: &[f32], ds: &Dataset) {
    for t in 0..cfg.tasks.len() {
        let rows: Vec<usize> = (0..ds.len())
            .filter(|&i| ds.task[i] as usize == t)
            .collect();
        let zt: Vec<f32> = rows.iter().map(|&i| z[i]).collect();
        let yt: Vec<f32> = rows.iter().map(|&i| ds.label[i]).collect();
        let (a, b) = if yt.iter().any(|&y| y > 0.5) {
            metrics::platt_fit(&zt, &yt)
        } else {
            (1.0, 0.0)
        };
        cfg.tasks[t].calib_a = a;
        cfg.tasks[t].calib_b = b;
    }
}

/// A trained variant: one net (or one per group for single-task) and its
/// calibrated task config.
pub struct Trained {
    pub variant: Variant,
    /// The config the variant's nets use, with calibration filled in.
    pub cfg: ModelConfig,
    pub nets: Vec<Net>,
}

impl Trained {
    /// Calibrated pCTR of every row.
    pub fn predict(&self, ds: &Dataset, dev: &Device) -> CResult<Vec<f32>> {
        let z = self.raw_logits(ds, dev)?;
        Ok(z.iter()
            .zip(&ds.task)
            .map(|(&z, &t)| {
                let ts = &self.cfg.tasks[t as usize];
                metrics::sigmoid(ts.calib_a * z + ts.calib_b)
            })
            .collect())
    }

    pub fn raw_logits(&self, ds: &Dataset, dev: &Device) -> CResult<Vec<f32>> {
        if self.variant == Variant::SingleTask {
            let mut z = vec![0f32; ds.len()];
            for (g, net) in self.nets.iter().enumerate() {
                let rows: Vec<usize> = (0..ds.len())
                    .filter(|&i| self.cfg.tasks[ds.task[i] as usize].group as usize == g)
                    .collect();
                let sub = ds.subset(&rows);
                let own = vec![0u32; sub.len()];
                for (k, v) in predict_logits(net, &sub, &own, dev)?
                    .into_iter()
                    .enumerate()
                {
                    z[rows[k]] = v;
                }
            }
            Ok(z)
        } else {
            let own = own_groups(&self.cfg, self.variant, ds);
            predict_logits(&self.nets[0], ds, &own, dev)
        }
    }
}

/// Trains a variant end to end (including Platt calibration on validation).
pub fn train_variant(
    base: &ModelConfig,
    variant: Variant,
    train: &Dataset,
    valid: &Dataset,
    o: &TrainOpts,
    dev: &Device,
) -> CResult<Trained> {
    let cfg = variant.config(base);
    let nets = if variant == Variant::SingleTask {
        let mut nets = Vec::new();
        for g in 0..cfg.groups.len() {
            let pick = |ds: &Dataset| {
                let rows: Vec<usize> = (0..ds.len())
                    .filter(|&i| cfg.tasks[ds.task[i] as usize].group as usize == g)
                    .collect();
                ds.subset(&rows)
            };
            let mut one = cfg.clone();
            one.groups = vec![cfg.groups[g].clone()];
            for t in one.tasks.iter_mut() {
                t.group = 0;
            }
            if !o.quiet {
                eprintln!("train[single-task]: group {}", cfg.groups[g]);
            }
            nets.push(train_net(
                &one,
                variant,
                &pick(train),
                &pick(valid),
                o,
                dev,
            )?);
        }
        nets
    } else {
        vec![train_net(&cfg, variant, train, valid, o, dev)?]
    };
    let mut t = Trained { variant, cfg, nets };
    let zv = t.raw_logits(valid, dev)?;
    calibrate(&mut t.cfg, &zv, valid);
    if variant != Variant::SingleTask {
        t.nets[0].cfg = t.cfg.clone();
    }
    Ok(t)
}

/// Metrics of one format (or of all rows).
#[derive(Clone, Debug, Default)]
pub struct FormatMetrics {
    pub name: String,
    pub rows: usize,
    pub clicks: usize,
    pub auc_pr: f64,
    pub auc_roc: f64,
    pub log_loss: f64,
    pub ece: f64,
    /// AUC-PR of the true probabilities on the same rows (NaN on real logs).
    pub oracle_auc_pr: f64,
    /// Noise-free, against `p_true` (NaN on real logs): expected log loss,
    /// normalized entropy, share of the oracle's gain, ECE, soft-label AUC-ROC.
    pub true_log_loss: f64,
    pub ne: f64,
    pub gain_share: f64,
    pub true_ece: f64,
    pub soft_auc: f64,
}

pub const ECE_BINS: usize = 10;

/// The test rows of each format (config order; empty when none).
pub fn format_rows(cfg: &ModelConfig, ds: &Dataset) -> Vec<Vec<usize>> {
    (0..cfg.formats.len())
        .map(|f| {
            (0..ds.len())
                .filter(|&i| cfg.tasks[ds.task[i] as usize].format as usize == f)
                .collect()
        })
        .collect()
}

pub fn evaluate(cfg: &ModelConfig, p: &[f32], ds: &Dataset) -> Vec<FormatMetrics> {
    evaluate_rows(cfg, p, ds, &format_rows(cfg, ds))
}

/// [`evaluate`] on the given rows of each format (repeats allowed: a bootstrap resample).
pub fn evaluate_rows(
    cfg: &ModelConfig,
    p: &[f32],
    ds: &Dataset,
    by_format: &[Vec<usize>],
) -> Vec<FormatMetrics> {
    let mut out = Vec::new();
    for (name, rows) in cfg.formats.iter().zip(by_format) {
        if rows.is_empty() {
            continue;
        }
        let pp: Vec<f32> = rows.iter().map(|&i| p[i]).collect();
        let yy: Vec<f32> = rows.iter().map(|&i| ds.label[i]).collect();
        let tt: Vec<f32> = rows.iter().map(|&i| ds.p_true[i]).collect();
        let known = !tt.iter().any(|x| x.is_nan());
        let truth = |m: fn(&[f32], &[f32]) -> f64| if known { m(&pp, &tt) } else { f64::NAN };
        out.push(FormatMetrics {
            name: name.clone(),
            rows: rows.len(),
            clicks: yy.iter().filter(|&&y| y > 0.5).count(),
            auc_pr: metrics::auc_pr(&pp, &yy),
            auc_roc: metrics::auc_roc(&pp, &yy),
            log_loss: metrics::log_loss(&pp, &yy),
            ece: metrics::ece(&pp, &yy, ECE_BINS),
            oracle_auc_pr: if known {
                metrics::auc_pr(&tt, &yy)
            } else {
                f64::NAN
            },
            true_log_loss: truth(metrics::expected_log_loss),
            ne: truth(metrics::normalized_entropy),
            gain_share: truth(metrics::oracle_gain_share),
            true_ece: truth(|p, t| metrics::ece(p, t, ECE_BINS)),
            soft_auc: truth(metrics::soft_auc_roc),
        });
    }
    out
}

pub fn print_metrics(label: &str, m: &[FormatMetrics]) {
    println!("{label}");
    println!(
        "  format      rows   clicks  AUC-PR  AUC-ROC  logloss    ECE     oracleAUC-PR  ratio"
    );
    for f in m {
        println!(
            "  {:<9} {:>7} {:>7}  {:.4}  {:.4}   {:.5}   {:.5}  {:.4}        {:.3}",
            f.name,
            f.rows,
            f.clicks,
            f.auc_pr,
            f.auc_roc,
            f.log_loss,
            f.ece,
            f.oracle_auc_pr,
            f.auc_pr / f.oracle_auc_pr
        );
    }
    if m.iter().any(|f| f.ne.is_finite()) {
        println!(
            "  against p_true: format  exp.logloss  NE      gain share  ECE      soft AUC-ROC"
        );
        for f in m {
            println!(
                "                  {:<7} {:.5}      {:.5}  {:.4}      {:.5}  {:.4}",
                f.name, f.true_log_loss, f.ne, f.gain_share, f.true_ece, f.soft_auc
            );
        }
    }
}

pub fn metrics_json(m: &[FormatMetrics]) -> serde_json::Value {
    let num = |x: f64| {
        if x.is_finite() {
            serde_json::json!(x)
        } else {
            serde_json::Value::Null
        }
    };
    serde_json::Value::Array(
        m.iter()
            .map(|f| {
                serde_json::json!({
                    "format": f.name, "rows": f.rows, "clicks": f.clicks,
                    "auc_pr": num(f.auc_pr), "auc_roc": num(f.auc_roc), "log_loss": num(f.log_loss),
                    "ece": num(f.ece), "oracle_auc_pr": num(f.oracle_auc_pr),
                    "true_log_loss": num(f.true_log_loss), "ne": num(f.ne),
                    "gain_share": num(f.gain_share), "true_ece": num(f.true_ece),
                    "soft_auc": num(f.soft_auc),
                })
            })
            .collect(),
    )
}

/// The metrics summarized over seeds, by their JSON names.
pub const SUMMARY_METRICS: [&str; 9] = [
    "auc_pr",
    "auc_roc",
    "log_loss",
    "ece",
    "true_log_loss",
    "ne",
    "gain_share",
    "true_ece",
    "soft_auc",
];

fn metric(f: &FormatMetrics, name: &str) -> f64 {
    match name {
        "auc_pr" => f.auc_pr,
        "auc_roc" => f.auc_roc,
        "log_loss" => f.log_loss,
        "ece" => f.ece,
        "true_log_loss" => f.true_log_loss,
        "ne" => f.ne,
        "gain_share" => f.gain_share,
        "true_ece" => f.true_ece,
        "soft_auc" => f.soft_auc,
        _ => f64::NAN,
    }
}

/// Student's t 97.5 % quantile with `df` degrees of freedom (1.96 beyond 10).
fn t975(df: usize) -> f64 {
    const T: [f64; 10] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    ];
    T.get(df.wrapping_sub(1)).copied().unwrap_or(1.96)
}

/// A mean over seeds with its 95 % interval half-width.
#[derive(Clone, Copy, Debug)]
pub struct Interval {
    pub mean: f64,
    pub half: f64,
}

/// Per format (name): each summary metric's interval.
pub type FormatIntervals = Vec<(String, Vec<(&'static str, Interval)>)>;

/// Mean over seeds of a metric of `preds[s]` (minus the same metric of
/// `baseline[s]` when given: a paired gap), per format and metric, with a 95 %
/// interval that adds in quadrature the spread between seeds (Student's t over
/// the seeds' values) and the test sample's (a percentile bootstrap of the
/// seed mean over `resamples` resamples of each format's rows, the same
/// resamples for every variant so gaps are paired).
pub fn summarize(
    cfg: &ModelConfig,
    ds: &Dataset,
    preds: &[Vec<f32>],
    baseline: Option<&[Vec<f32>]>,
    resamples: usize,
) -> FormatIntervals {
    let rows = format_rows(cfg, ds);
    let value =
        |p: &[f32], by: &[Vec<usize>]| -> Vec<FormatMetrics> { evaluate_rows(cfg, p, ds, by) };
    // values[s][format][metric]
    let per_seed = |by: &[Vec<usize>]| -> Vec<Vec<Vec<f64>>> {
        (0..preds.len())
            .map(|s| {
                let m = value(&preds[s], by);
                let b = baseline.map(|b| value(&b[s], by));
                m.iter()
                    .enumerate()
                    .map(|(fi, f)| {
                        SUMMARY_METRICS
                            .iter()
                            .map(|&n| metric(f, n) - b.as_ref().map_or(0.0, |b| metric(&b[fi], n)))
                            .collect()
                    })
                    .collect()
            })
            .collect()
    };
    let full = per_seed(&rows);
    let n_seeds = preds.len() as f64;
    let mean_over_seeds =
        |v: &[Vec<Vec<f64>>], f: usize, m: usize| v.iter().map(|s| s[f][m]).sum::<f64>() / n_seeds;
    let boot: Vec<Vec<Vec<f64>>> = (0..resamples)
        .map(|b| {
            let mut rng = SplitMix(0xB007_0000 + b as u64);
            let by: Vec<Vec<usize>> = rows
                .iter()
                .map(|r| {
                    (0..r.len())
                        .map(|_| r[rng.below(r.len() as u64) as usize])
                        .collect()
                })
                .collect();
            let v = per_seed(&by);
            (0..v[0].len())
                .map(|f| {
                    (0..SUMMARY_METRICS.len())
                        .map(|m| mean_over_seeds(&v, f, m))
                        .collect()
                })
                .collect()
        })
        .collect();
    let names: Vec<String> = cfg
        .formats
        .iter()
        .zip(&rows)
        .filter(|(_, r)| !r.is_empty())
        .map(|(n, _)| n.clone())
        .collect();
    names
        .into_iter()
        .enumerate()
        .map(|(f, name)| {
            let ivs = SUMMARY_METRICS
                .iter()
                .enumerate()
                .map(|(m, &mname)| {
                    let mean = mean_over_seeds(&full, f, m);
                    let seed_half = if preds.len() > 1 {
                        let var = full.iter().map(|s| (s[f][m] - mean).powi(2)).sum::<f64>()
                            / (n_seeds - 1.0);
                        t975(preds.len() - 1) * (var / n_seeds).sqrt()
                    } else {
                        0.0
                    };
                    let mut bs: Vec<f64> = boot
                        .iter()
                        .map(|b| b[f][m])
                        .filter(|x| x.is_finite())
                        .collect();
                    bs.sort_by(f64::total_cmp);
                    let boot_half = if bs.len() >= 20 {
                        let q = |p: f64| bs[((bs.len() - 1) as f64 * p).round() as usize];
                        (q(0.975) - q(0.025)) / 2.0
                    } else {
                        0.0
                    };
                    let half = (seed_half * seed_half + boot_half * boot_half).sqrt();
                    (mname, Interval { mean, half })
                })
                .collect();
            (name, ivs)
        })
        .collect()
}

/// [`summarize`]'s result as JSON: `{format: {metric: [mean, half-width]}}`.
pub fn summary_json(s: &FormatIntervals) -> serde_json::Value {
    let num = |x: f64| {
        if x.is_finite() {
            serde_json::json!(x)
        } else {
            serde_json::Value::Null
        }
    };
    let mut out = serde_json::Map::new();
    for (f, ivs) in s {
        let mut m = serde_json::Map::new();
        for (n, iv) in ivs {
            m.insert(
                n.to_string(),
                serde_json::json!([num(iv.mean), num(iv.half)]),
            );
        }
        out.insert(f.clone(), m.into());
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::{simulate_vec, SimConfig};

    fn tiny_cfg() -> ModelConfig {
        let mut c = ModelConfig::demo();
        for f in c.fields.iter_mut() {
            if let camoe::spec::FieldKind::Categorical { vocab, dim } = &mut f.kind {
                *vocab = (*vocab).min(512);
                *dim = (*dim).min(4);
            }
        }
        c.arch.experts = 3;
        c.arch.expert_mlp = vec![16, 8];
        c.arch.tower = vec![8];
        c
    }

    /// An impression of the audio+display group changes no parameter of the video
    /// group's head under loss masking (its gate and tower get zero gradient), and
    /// does change them without masking.
    #[test]
    fn loss_masking_leaves_other_heads_untouched() {
        let dev = Device::Cpu;
        let cfg = tiny_cfg();
        let ims = simulate_vec(&SimConfig {
            seed: 2,
            impressions: 400,
            ..Default::default()
        });
        let ds = Dataset::from_sim(&cfg, &ims);
        let audio: Vec<usize> = (0..ds.len())
            .filter(|&i| cfg.tasks[ds.task[i] as usize].group == 0)
            .take(64)
            .collect();
        assert!(audio.len() == 64);
        let own = own_groups(&cfg, Variant::Camoe, &ds);
        let net = Net::new(&cfg, 3, 0.1, &dev).unwrap();
        let e = cfg.arch.experts as usize;
        for masked in [true, false] {
            let l = loss(&net, &ds, &audio, &own, masked, 0.0, &dev).unwrap();
            let grads = l.backward().unwrap();
            // Video group = 1: its gate columns are [E..2E) of gate.w; its tower slices are index 1.
            let gw = grads.get(net.gate_w.as_tensor()).unwrap();
            let video_gate = gw
                .narrow(1, e, e)
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            let mut video_tower = 0f32;
            for w in net.tower_w.iter().chain(&net.tower_b) {
                let g = grads.get(w.as_tensor()).unwrap();
                video_tower += g
                    .get(1)
                    .unwrap()
                    .abs()
                    .unwrap()
                    .sum_all()
                    .unwrap()
                    .to_scalar::<f32>()
                    .unwrap();
            }
            let audio_gate = gw
                .narrow(1, 0, e)
                .unwrap()
                .abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap();
            assert!(audio_gate > 0.0);
            if masked {
                assert_eq!(video_gate, 0.0);
                assert_eq!(video_tower, 0.0);
            } else {
                assert!(video_gate > 0.0 && video_tower > 0.0);
            }
        }
        // And after an optimizer step on audio rows only, the video head's logit on
        // any input is unchanged.
        let (emb, rest) = net.vars();
        let _ = emb;
        let mut opt = AdamW::new(
            rest,
            ParamsAdamW {
                lr: 1e-2,
                weight_decay: 0.0,
                ..Default::default()
            },
        )
        .unwrap();
        let probe = Batch::new(&ds, &(0..32).collect::<Vec<_>>(), &dev).unwrap();
        // Tower parameters of the video head: compare logits with experts frozen is
        // not possible (experts are shared), so compare the head's parameters.
        // The video group's (index 1) tower weights and biases.
        let video_head = |net: &Net| -> Vec<Vec<f32>> {
            net.tower_w
                .iter()
                .chain(&net.tower_b)
                .map(|w| {
                    w.as_tensor()
                        .get(1)
                        .unwrap()
                        .flatten_all()
                        .unwrap()
                        .to_vec1()
                        .unwrap()
                })
                .collect()
        };
        let before = video_head(&net);
        let l = loss(&net, &ds, &audio, &own, true, 0.0, &dev).unwrap();
        opt.step(&l.backward().unwrap()).unwrap();
        let after = video_head(&net);
        assert_eq!(before, after);
        let _ = net.logits(&probe).unwrap();
    }

    #[test]
    fn tiny_training_learns_and_is_reproducible() {
        let dev = Device::Cpu;
        let cfg = tiny_cfg();
        let ims = simulate_vec(&SimConfig {
            seed: 11,
            impressions: 60_000,
            ..Default::default()
        });
        let (tr, va): (Vec<_>, Vec<_>) = ims.iter().cloned().partition(|im| im.split != 1);
        let train = Dataset::from_sim(&cfg, &tr);
        let valid = Dataset::from_sim(&cfg, &va);
        let o = TrainOpts {
            epochs: 2,
            quiet: true,
            ..Default::default()
        };
        let a = train_variant(&cfg, Variant::Camoe, &train, &valid, &o, &dev).unwrap();
        let b = train_variant(&cfg, Variant::Camoe, &train, &valid, &o, &dev).unwrap();
        let pa = a.predict(&valid, &dev).unwrap();
        let pb = b.predict(&valid, &dev).unwrap();
        assert_eq!(pa, pb, "same seed, same model");
        // Better than a constant on validation ranking.
        let audio: Vec<usize> = (0..valid.len()).filter(|&i| valid.task[i] < 3).collect();
        let s: Vec<f32> = audio.iter().map(|&i| pa[i]).collect();
        let y: Vec<f32> = audio.iter().map(|&i| valid.label[i]).collect();
        let auc = metrics::auc_roc(&s, &y);
        assert!(auc > 0.62, "audio AUC-ROC {auc}");
    }

    #[test]
    fn summary_intervals_cover_seed_spread_and_pair_gaps() {
        let cfg = tiny_cfg();
        let ims = simulate_vec(&SimConfig {
            seed: 3,
            impressions: 20_000,
            ..Default::default()
        });
        let ds = Dataset::from_sim(&cfg, &ims);
        // Three "seeds" of a model: the truth shrunk towards a constant by different amounts.
        let preds: Vec<Vec<f32>> = [0.5f32, 0.6, 0.7]
            .iter()
            .map(|&w| {
                ds.p_true
                    .iter()
                    .map(|&p| w * p + (1.0 - w) * 0.005)
                    .collect()
            })
            .collect();
        let s = summarize(&cfg, &ds, &preds, None, 30);
        let ne = |s: &[(String, Vec<(&str, Interval)>)], f: usize| {
            s[f].1.iter().find(|(n, _)| *n == "ne").unwrap().1
        };
        let audio = ne(&s, 0);
        let each: Vec<f64> = preds.iter().map(|p| evaluate(&cfg, p, &ds)[0].ne).collect();
        assert!((audio.mean - each.iter().sum::<f64>() / 3.0).abs() < 1e-9);
        // The interval is at least the t-interval of the three values.
        let m = audio.mean;
        let sd = (each.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 2.0).sqrt();
        assert!(audio.half >= 4.303 * sd / 3f64.sqrt() - 1e-12);
        // A gap against itself is exactly zero, interval included.
        let g = summarize(&cfg, &ds, &preds, Some(&preds), 30);
        assert_eq!(ne(&g, 0).mean, 0.0);
        assert_eq!(ne(&g, 0).half, 0.0);
        // Compute-matched shared bottom: one expert of at least CAMoE's expert MACs,
        // within one first-layer column of it.
        let demo = ModelConfig::demo();
        let sb = Variant::SharedBottom.config(&demo);
        assert_eq!(sb.arch.experts, 1);
        let (want, got) = (expert_macs(&demo), expert_macs(&sb));
        let col = (demo.x0_width() + sb.arch.expert_mlp[1] as usize) as u64;
        assert!(got >= want && got - want < col, "{got} vs {want}");
    }

    /// Sparse gating keeps exactly k experts per row and group, and the
    /// load-balancing term is 1 when the gates are uniform (its minimum under
    /// balanced routing) and pulls the gate when they are not.
    #[test]
    fn sparse_gating_keeps_k_experts_and_balances() {
        assert_eq!(
            crate::model::top_k_kept(&[0.1, 0.9, 0.5, 0.9, 3.0, 2.0, 1.0, 0.0], 4, 2),
            vec![false, true, false, true, true, true, false, false]
        );
        let dev = Device::Cpu;
        let cfg = tiny_cfg();
        let ims = simulate_vec(&SimConfig {
            seed: 5,
            impressions: 300,
            ..Default::default()
        });
        let ds = Dataset::from_sim(&cfg, &ims);
        let rows: Vec<usize> = (0..128).collect();
        let own = own_groups(&cfg, Variant::Camoe, &ds);
        let mut net = Net::new(&cfg, 3, 0.1, &dev).unwrap();
        net.gate_top_k = 2;
        let fw = net
            .forward(&net.x0(&Batch::new(&ds, &rows, &dev).unwrap()).unwrap())
            .unwrap();
        let e = cfg.arch.experts as usize;
        for row in fw.kept.chunks(e) {
            assert_eq!(row.iter().filter(|&&k| k).count(), 2);
        }
        // Uniform gates: zero gate weights.
        let (d, g) = (cfg.x0_width(), cfg.groups.len());
        net.gate_w
            .set(&Tensor::zeros((d, g * e), candle_core::DType::F32, &dev).unwrap())
            .unwrap();
        let fw = net
            .forward(&net.x0(&Batch::new(&ds, &rows, &dev).unwrap()).unwrap())
            .unwrap();
        let b = balance_loss(&net, &fw, &rows, &own)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!((b - 1.0).abs() < 1e-5, "balance at uniform gates {b}");
        // Skewed gates: the term exceeds 1 and has a gradient on the gate.
        let mut w = vec![0f32; d * g * e];
        for r in 0..d {
            w[r * g * e] = 0.5;
        }
        net.gate_w
            .set(&Tensor::from_vec(w, (d, g * e), &dev).unwrap())
            .unwrap();
        let x0 = net.x0(&Batch::new(&ds, &rows, &dev).unwrap()).unwrap();
        let fw = net.forward(&x0).unwrap();
        let b = balance_loss(&net, &fw, &rows, &own).unwrap();
        assert!(b.to_scalar::<f32>().unwrap() > 1.0);
        let grad = b.backward().unwrap();
        let gw = grad.get(net.gate_w.as_tensor()).unwrap();
        assert!(
            gw.abs()
                .unwrap()
                .sum_all()
                .unwrap()
                .to_scalar::<f32>()
                .unwrap()
                > 0.0
        );
    }
}
