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
}

impl Variant {
    pub const ALL: [Variant; 7] = [
        Variant::Camoe,
        Variant::NoCross,
        Variant::NoMask,
        Variant::Mmoe,
        Variant::SharedBottom,
        Variant::SingleTask,
        Variant::ContentGroups,
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
        }
    }
    pub fn parse(s: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.name() == s)
    }
    pub fn masked(self) -> bool {
        !matches!(self, Variant::NoMask | Variant::Mmoe)
    }
    /// The model config this variant trains, derived from the base (CAMoE) config.
    pub fn config(self, base: &ModelConfig) -> ModelConfig {
        let mut c = base.clone();
        match self {
            Variant::Camoe | Variant::NoMask | Variant::SingleTask => {}
            Variant::NoCross => c.arch.cross_layers = 0,
            Variant::Mmoe => {
                c.groups = c.tasks.iter().map(|t| t.name.clone()).collect();
                for (i, t) in c.tasks.iter_mut().enumerate() {
                    t.group = i as u32;
                }
            }
            Variant::SharedBottom => {
                c.arch.experts = 1;
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
    dev: &Device,
) -> CResult<Tensor> {
    let b = Batch::new(ds, rows, dev)?;
    let z = net.logits(&b)?;
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
    (per * mask)?.sum_all()? / msum.max(1.0) as f64
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
    let net = Net::new(cfg, o.seed, o.emb_std, dev)?;
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
            let l = loss(&net, train, rows, &own_t, variant.masked(), dev)?;
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
}

pub const ECE_BINS: usize = 10;

pub fn evaluate(cfg: &ModelConfig, p: &[f32], ds: &Dataset) -> Vec<FormatMetrics> {
    let mut out = Vec::new();
    for (f, name) in cfg.formats.iter().enumerate() {
        let rows: Vec<usize> = (0..ds.len())
            .filter(|&i| cfg.tasks[ds.task[i] as usize].format as usize == f)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let pp: Vec<f32> = rows.iter().map(|&i| p[i]).collect();
        let yy: Vec<f32> = rows.iter().map(|&i| ds.label[i]).collect();
        let tt: Vec<f32> = rows.iter().map(|&i| ds.p_true[i]).collect();
        out.push(FormatMetrics {
            name: name.clone(),
            rows: rows.len(),
            clicks: yy.iter().filter(|&&y| y > 0.5).count(),
            auc_pr: metrics::auc_pr(&pp, &yy),
            auc_roc: metrics::auc_roc(&pp, &yy),
            log_loss: metrics::log_loss(&pp, &yy),
            ece: metrics::ece(&pp, &yy, ECE_BINS),
            oracle_auc_pr: if tt.iter().any(|x| x.is_nan()) {
                f64::NAN
            } else {
                metrics::auc_pr(&tt, &yy)
            },
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
                })
            })
            .collect(),
    )
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
            let l = loss(&net, &ds, &audio, &own, masked, &dev).unwrap();
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
        let l = loss(&net, &ds, &audio, &own, true, &dev).unwrap();
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
}
