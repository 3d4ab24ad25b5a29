//! The `camoe` subcommands: each one's flags (clap) next to the code that runs it.

use camoe::spec::ModelConfig;
use camoe_tools::convert::{self, Budget, Mode, Sample, Table};
use camoe_tools::data::Dataset;
use camoe_tools::train::{self, TrainOpts, Variant};
use camoe_tools::{config, export, model::Net, sim};
use candle_core::Device;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::Args;
use std::path::{Path, PathBuf};

pub type Res = Result<(), Box<dyn std::error::Error>>;

/// Parses one of `all` by its `name`; help and errors list the names.
fn one_of<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|&v| name(v))).map(move |s| {
        all.iter()
            .copied()
            .find(|&v| name(v) == s)
            .expect("clap accepts only the listed names")
    })
}

/// Layer widths `128,64` (empty: no layer).
fn widths(s: &str) -> Result<Vec<u32>, String> {
    s.split(',')
        .filter(|x| !x.trim().is_empty())
        .map(|x| {
            x.trim()
                .parse()
                .map_err(|_| format!("{x:?} is not a layer width"))
        })
        .collect()
}

/// The labelled data directory of `train`, `eval` and `ablate`.
#[derive(Args)]
pub struct DataArgs {
    /// Directory with train.csv, valid.csv and test.csv (`camoe simulate`, `camoe obd`).
    #[arg(long, value_name = "DIR")]
    data: PathBuf,
    /// Read at most N rows of each split.
    #[arg(long, value_name = "N", default_value_t = usize::MAX, hide_default_value = true)]
    max_rows: usize,
}

/// The schema and architecture: a config file or the demo schema, with overrides.
#[derive(Args)]
pub struct ModelArgs {
    /// Schema and architecture from a config JSON (default: the demo schema).
    #[arg(long, value_name = "CFG.json")]
    config: Option<PathBuf>,
    /// Experts (default: the config's).
    #[arg(long, value_name = "E")]
    experts: Option<u32>,
    /// DCN-v2 cross layers per expert (default: the config's).
    #[arg(long, value_name = "L")]
    cross_layers: Option<u32>,
    /// Cross-layer rank, 0 = full rank (default: the config's).
    #[arg(long, value_name = "R")]
    cross_rank: Option<u32>,
    /// Hidden widths of each expert's MLP, e.g. 128,64 (default: the config's).
    // `::std::vec::Vec`: one value parsed as a list, not a repeated flag.
    #[arg(long, value_name = "W,W,..", value_parser = widths)]
    expert_mlp: Option<::std::vec::Vec<u32>>,
    /// Hidden widths of each group's tower, e.g. 32 (default: the config's).
    #[arg(long, value_name = "W,W,..", value_parser = widths)]
    tower: Option<::std::vec::Vec<u32>>,
    /// The model's name (default: the config's).
    #[arg(long)]
    name: Option<String>,
}

impl ModelArgs {
    fn config(&self) -> Result<ModelConfig, String> {
        let mut c = match &self.config {
            Some(p) => config::read(p)?,
            None => ModelConfig::demo(),
        };
        let a = &mut c.arch;
        a.experts = self.experts.unwrap_or(a.experts);
        a.cross_layers = self.cross_layers.unwrap_or(a.cross_layers);
        a.cross_rank = self.cross_rank.unwrap_or(a.cross_rank);
        if let Some(v) = &self.expert_mlp {
            a.expert_mlp = v.clone();
        }
        if let Some(v) = &self.tower {
            a.tower = v.clone();
        }
        if let Some(v) = &self.name {
            c.name = v.clone();
        }
        Ok(c)
    }
}

/// Training options ([`TrainOpts`]).
#[derive(Args)]
pub struct TrainOptArgs {
    #[arg(long, default_value_t = TrainOpts::default().epochs)]
    epochs: usize,
    #[arg(long, default_value_t = TrainOpts::default().batch)]
    batch: usize,
    /// Learning rate (AdamW).
    #[arg(long, default_value_t = TrainOpts::default().lr)]
    lr: f64,
    #[arg(long, default_value_t = TrainOpts::default().weight_decay)]
    weight_decay: f64,
    /// Standard deviation of the initial embedding rows.
    #[arg(long, default_value_t = TrainOpts::default().emb_std)]
    emb_std: f32,
    /// Decoupled weight decay of the embedding tables.
    #[arg(long, default_value_t = TrainOpts::default().emb_weight_decay)]
    emb_weight_decay: f64,
    /// The embedding tables' learning rate relative to --lr.
    #[arg(long, default_value_t = TrainOpts::default().emb_lr_scale)]
    emb_lr_scale: f64,
    #[arg(long, default_value_t = TrainOpts::default().seed)]
    seed: u64,
    /// Validation checks per epoch (early stopping granularity).
    #[arg(long, default_value_t = TrainOpts::default().evals_per_epoch)]
    evals_per_epoch: usize,
    /// Stop after this many validation checks without improvement.
    #[arg(long, default_value_t = TrainOpts::default().patience)]
    patience: usize,
    /// Sparse gating: each row keeps its K best experts, renormalized (0 = dense);
    /// score the model with the runtime's expert_top_k = K.
    #[arg(long, value_name = "K", default_value_t = 0)]
    gate_top_k: usize,
    /// Weight of the load-balancing loss under sparse gating.
    #[arg(long, default_value_t = TrainOpts::default().balance)]
    balance: f64,
}

impl TrainOptArgs {
    fn opts(&self) -> TrainOpts {
        TrainOpts {
            epochs: self.epochs,
            batch: self.batch,
            lr: self.lr,
            weight_decay: self.weight_decay,
            emb_std: self.emb_std,
            emb_weight_decay: self.emb_weight_decay,
            emb_lr_scale: self.emb_lr_scale,
            seed: self.seed,
            evals_per_epoch: self.evals_per_epoch,
            patience: self.patience,
            gate_top_k: self.gate_top_k,
            balance: self.balance,
            quiet: false,
        }
    }
}

#[derive(Args)]
pub struct SimulateArgs {
    /// Directory for train.csv, valid.csv and test.csv.
    #[arg(long, value_name = "DIR", default_value = "data/sim")]
    out: PathBuf,
    /// Impressions in all.
    #[arg(long, default_value_t = 1_000_000)]
    n: usize,
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Modality divergence D: 0 is the original world; larger values give each
    /// format a click model of its own (docs/SIMULATOR.md, "Divergence").
    #[arg(long, value_name = "D", default_value_t = 0.0)]
    divergence: f32,
}

pub fn simulate(a: &SimulateArgs) -> Res {
    if !(a.divergence.is_finite() && a.divergence >= 0.0) {
        return Err(format!("--divergence {} must be finite and >= 0", a.divergence).into());
    }
    let cfg = sim::SimConfig {
        seed: a.seed,
        impressions: a.n,
        divergence: a.divergence,
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let counts = sim::write_splits(&cfg, &a.out)?;
    let st = sim::stats(&sim::simulate_vec(&sim::SimConfig {
        impressions: cfg.impressions.min(300_000),
        ..cfg.clone()
    }));
    eprintln!(
        "simulate: first {} rows: audio/video/display impressions {:?}, true CTR {:.4?}, listening out of focus {:.3}, audio CTR visible/hidden {:.4}/{:.4} (x{:.1}), per task {:?}",
        st.n, st.per_format, st.mean_p_per_format, st.listening_out_of_focus,
        st.audio_ctr_visible, st.audio_ctr_hidden, st.audio_ctr_visible / st.audio_ctr_hidden, st.per_task
    );
    eprintln!(
        "simulate: wrote train {} / valid {} / test {} rows to {} in {:.1}s",
        counts[0],
        counts[1],
        counts[2],
        a.out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn load_split(
    cfg: &ModelConfig,
    dir: &Path,
    split: &str,
    max_rows: usize,
) -> Result<Dataset, String> {
    let t0 = std::time::Instant::now();
    let mut ds = Dataset::read_csv(cfg, &dir.join(format!("{split}.csv")))?;
    if ds.len() > max_rows {
        ds = ds.subset(&(0..max_rows).collect::<Vec<_>>());
    }
    eprintln!(
        "data: {split}: {} rows in {:.1}s",
        ds.len(),
        t0.elapsed().as_secs_f64()
    );
    Ok(ds)
}

fn flops_and_size(
    cfg: &ModelConfig,
    net: &Net,
) -> Result<(f64, usize), Box<dyn std::error::Error>> {
    let mflop = 2.0 * cfg.macs_per_candidate() as f64 / 1e6;
    let spec = net.to_spec()?;
    let bytes = camoe::format::write_model(&spec, camoe::format::WriteOptions::INT8)
        .map_err(|e| format!("write_model: {e:?}"))?
        .len();
    Ok((mflop, bytes))
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Writes PREFIX.safetensors and PREFIX.config.json.
    #[arg(long, value_name = "PREFIX")]
    out: PathBuf,
    #[arg(long, default_value = "camoe", value_parser = one_of(&Variant::ALL, Variant::name))]
    variant: Variant,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    opts: TrainOptArgs,
}

pub fn train(a: &TrainArgs) -> Res {
    let (data, out, variant) = (&a.data.data, &a.out, a.variant);
    if matches!(variant, Variant::SingleTask | Variant::ContentGroups) {
        return Err(
            "single-task and content-groups are not one exportable model; use `camoe ablate`"
                .into(),
        );
    }
    let base = a.model.config()?;
    let t0 = std::time::Instant::now();
    let tr = load_split(&base, data, "train", a.data.max_rows)?;
    let va = load_split(&base, data, "valid", a.data.max_rows)?;
    let dev = Device::Cpu;
    let o = a.opts.opts();
    let t1 = std::time::Instant::now();
    let trained = train::train_variant(&base, variant, &tr, &va, &o, &dev)?;
    let train_s = t1.elapsed().as_secs_f64();
    let net = &trained.nets[0];
    let (mflop, bytes) = flops_and_size(&trained.cfg, net)?;
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    net.save(&out.with_extension("safetensors"))?;
    let meta = serde_json::json!({
        "variant": variant.name(), "data": data.display().to_string(),
        "train_rows": tr.len(), "valid_rows": va.len(),
        "epochs": o.epochs, "batch": o.batch, "lr": o.lr, "seed": o.seed,
        "weight_decay": o.weight_decay, "emb_weight_decay": o.emb_weight_decay,
        "emb_lr_scale": o.emb_lr_scale, "emb_std": o.emb_std,
        "evals_per_epoch": o.evals_per_epoch, "patience": o.patience,
        "gate_top_k": variant.gate_top_k(&o), "balance": o.balance,
        "train_seconds": train_s, "mflop_per_candidate": mflop, "int8_camoe_bytes": bytes,
    });
    config::write(&trained.cfg, meta, &out.with_extension("config.json"))?;
    let p = trained.predict(&va, &dev)?;
    train::print_metrics(
        "validation (calibrated):",
        &train::evaluate(&trained.cfg, &p, &va),
    );
    eprintln!(
        "train: done in {:.0}s (training {:.0}s); {:.3} MFLOP/candidate, {} bytes as int8 .camoe; wrote {}.safetensors/.config.json",
        t0.elapsed().as_secs_f64(), train_s, mflop, bytes, out.display()
    );
    Ok(())
}

/// A trained model, scored with the sparse gate it was trained with (if any).
fn load_model(prefix: &Path, dev: &Device) -> Result<Net, Box<dyn std::error::Error>> {
    let path = prefix.with_extension("config.json");
    let cfg = config::read(&path)?;
    let mut net = Net::load(&cfg, &prefix.with_extension("safetensors"), dev)?;
    let meta: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
    net.gate_top_k = meta["training"]["gate_top_k"].as_u64().unwrap_or(0) as usize;
    Ok(net)
}

#[derive(Args)]
pub struct EvalArgs {
    /// The trained model's PREFIX.safetensors and PREFIX.config.json.
    #[arg(long, value_name = "PREFIX")]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// The split to evaluate on: DIR/SPLIT.csv.
    #[arg(long, default_value = "test")]
    split: String,
    /// Also write the metrics as JSON.
    #[arg(long, value_name = "OUT.json")]
    json: Option<PathBuf>,
}

pub fn eval(a: &EvalArgs) -> Res {
    let (prefix, data, split) = (&a.model, &a.data.data, a.split.as_str());
    let dev = Device::Cpu;
    let net = load_model(prefix, &dev)?;
    let ds = load_split(&net.cfg, data, split, a.data.max_rows)?;
    let trained = train::Trained {
        variant: Variant::Camoe,
        cfg: net.cfg.clone(),
        nets: vec![net],
    };
    let p = trained.predict(&ds, &dev)?;
    let res = train::evaluate(&trained.cfg, &p, &ds);
    train::print_metrics(
        &format!(
            "{} on {}/{split}.csv (calibrated):",
            prefix.display(),
            data.display()
        ),
        &res,
    );
    if let Some(j) = &a.json {
        std::fs::write(j, serde_json::to_string_pretty(&train::metrics_json(&res))?)?;
    }
    Ok(())
}

#[derive(Args)]
pub struct ExportArgs {
    /// The trained model's PREFIX.safetensors and PREFIX.config.json.
    #[arg(long, value_name = "PREFIX")]
    model: PathBuf,
    /// Writes PREFIX2.nnef.tgz and PREFIX2.config.json.
    #[arg(long, value_name = "PREFIX2")]
    out: PathBuf,
    /// Checks tract against the trainer on 256 rows of DIR/test.csv (default: simulated rows).
    #[arg(long, value_name = "DIR")]
    data: Option<PathBuf>,
}

pub fn export(a: &ExportArgs) -> Res {
    let (prefix, out) = (&a.model, &a.out);
    let dev = Device::Cpu;
    let mut net = load_model(prefix, &dev)?;
    // The NNEF graph is the dense gate (docs/NNEF.md); a sparse-trained model keeps
    // it and is ranked with the runtime's expert_top_k. Check the graph as dense.
    net.gate_top_k = 0;
    let spec = net.to_spec()?;
    let nnef_path = PathBuf::from(format!("{}.nnef.tgz", out.display()));
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    export::write_nnef(&spec, &nnef_path)?;
    let meta = serde_json::from_str::<serde_json::Value>(&std::fs::read_to_string(
        prefix.with_extension("config.json"),
    )?)?["training"]
        .clone();
    config::write(
        &net.cfg,
        meta,
        &PathBuf::from(format!("{}.config.json", out.display())),
    )?;
    // Load it back and compare with the trainer's forward pass.
    let rows = 256;
    let ds = match &a.data {
        Some(d) => load_split(&net.cfg, d, "test", rows)?,
        None => {
            let ims = camoe_tools::sim::simulate_vec(&camoe_tools::sim::SimConfig {
                impressions: rows,
                seed: 99,
                ..Default::default()
            });
            Dataset::from_sim(&net.cfg, &ims)
        }
    };
    let model = export::load_runnable(&nnef_path, ds.len())?;
    let got = export::run(&net.cfg, &model, &ds.cat, &ds.dense)?;
    let idx: Vec<usize> = (0..ds.len()).collect();
    let want: Vec<f32> = net
        .logits(&camoe_tools::model::Batch::new(&ds, &idx, &dev)?)?
        .flatten_all()?
        .to_vec1()?;
    let max = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    let (mflop, bytes) = flops_and_size(&net.cfg, &net)?;
    eprintln!(
        "export: wrote {} ({} bytes) and {}.config.json; tract vs trainer on {} rows: max |Δlogit| = {:.2e}; {:.3} MFLOP/candidate; {} bytes as int8 .camoe",
        nnef_path.display(), std::fs::metadata(&nnef_path)?.len(), out.display(), ds.len(), max, mflop, bytes
    );
    if max >= 1e-5 {
        return Err(format!("parity check failed: {max}").into());
    }
    Ok(())
}

#[derive(Args)]
pub struct AblateArgs {
    #[command(flatten)]
    data: DataArgs,
    /// The variants to train, comma-separated (default: all).
    #[arg(long, value_delimiter = ',', value_parser = one_of(&Variant::ALL, Variant::name))]
    variants: Option<Vec<Variant>>,
    /// Train every variant once per seed, e.g. 1,2,3 (default: --seed); metrics are
    /// reported as mean ± 95 % interval over the seeds and test rows.
    #[arg(long, value_delimiter = ',', value_name = "S,S,..")]
    seeds: Option<Vec<u64>>,
    /// Bootstrap resamples of the test rows for the intervals (0 = seeds only).
    #[arg(long, value_name = "N", default_value_t = 100)]
    resamples: usize,
    /// Write the results as JSON (rewritten after each run).
    #[arg(long, value_name = "OUT.json")]
    json: Option<PathBuf>,
    #[command(flatten)]
    model: ModelArgs,
    #[command(flatten)]
    opts: TrainOptArgs,
}

pub fn ablate(a: &AblateArgs) -> Res {
    let (data, max_rows) = (&a.data.data, a.data.max_rows);
    let base = a.model.config()?;
    let tr = load_split(&base, data, "train", max_rows)?;
    let va = load_split(&base, data, "valid", max_rows)?;
    let te = load_split(&base, data, "test", max_rows)?;
    let variants = a.variants.clone().unwrap_or(Variant::ALL.to_vec());
    let dev = Device::Cpu;
    let o0 = a.opts.opts();
    let seeds = a.seeds.clone().unwrap_or(vec![o0.seed]);
    eprintln!(
        "ablate: expert MACs per candidate: camoe {} ({} experts), shared-bottom {} (one expert, MLP {:?})",
        train::expert_macs(&base),
        base.arch.experts,
        train::expert_macs(&Variant::SharedBottom.config(&base)),
        Variant::SharedBottom.config(&base).arch.expert_mlp,
    );
    let t_all = std::time::Instant::now();
    // Per variant: its runs' JSON and each seed's test predictions.
    let mut runs: Vec<(Variant, Vec<serde_json::Value>, Vec<Vec<f32>>)> = Vec::new();
    for &v in &variants {
        let (mut js, mut preds) = (Vec::new(), Vec::new());
        for &seed in &seeds {
            let o = TrainOpts { seed, ..o0.clone() };
            let t0 = std::time::Instant::now();
            let trained = train::train_variant(&base, v, &tr, &va, &o, &dev)?;
            let secs = t0.elapsed().as_secs_f64();
            let p = trained.predict(&te, &dev)?;
            let res = train::evaluate(&trained.cfg, &p, &te);
            train::print_metrics(
                &format!("{} seed {seed} (test, calibrated, {:.0}s):", v.name(), secs),
                &res,
            );
            js.push(serde_json::json!({
                "seed": seed, "train_seconds": secs,
                "mflop_per_candidate": 2.0 * trained.cfg.macs_per_candidate() as f64 / 1e6,
                "expert_macs": train::expert_macs(&trained.cfg),
                "metrics": train::metrics_json(&res),
            }));
            preds.push(p);
        }
        runs.push((v, js, preds));
        if let Some(j) = &a.json {
            let wall = t_all.elapsed().as_secs_f64();
            write_ablation(a, &seeds, &runs, &[], wall, j)?;
        }
    }
    // Intervals once at the end: each costs resamples × seeds evaluations.
    let camoe = runs.iter().find(|r| r.0 == Variant::Camoe);
    let sums: Vec<Summary> = runs
        .iter()
        .map(|(v, _, preds)| {
            let gap = camoe
                .filter(|c| c.0 != *v)
                .map(|c| train::summarize(&base, &te, &c.2, Some(preds), a.resamples));
            (train::summarize(&base, &te, preds, None, a.resamples), gap)
        })
        .collect();
    print_summary(&runs, &sums);
    if let Some(j) = &a.json {
        let wall = t_all.elapsed().as_secs_f64();
        write_ablation(a, &seeds, &runs, &sums, wall, j)?;
        eprintln!("ablate: {:.0}s in all; wrote {}", wall, j.display());
    }
    Ok(())
}

type Runs = [(Variant, Vec<serde_json::Value>, Vec<Vec<f32>>)];
/// A variant's intervals, and its paired gap to camoe (camoe minus it).
type Summary = (train::FormatIntervals, Option<train::FormatIntervals>);

/// Prints mean ± 95 % interval of the main metrics per variant and format, and
/// the NE gap to camoe.
fn print_summary(runs: &Runs, sums: &[Summary]) {
    println!("mean ± 95% interval over seeds and test rows (gap: camoe minus the variant, paired by seed):");
    println!("  variant          format   NE                  gain share        ECE vs p_true        AUC-PR            NE gap");
    for ((v, _, _), (sum, gap)) in runs.iter().zip(sums) {
        for (k, (f, ivs)) in sum.iter().enumerate() {
            let get = |ivs: &[(&str, train::Interval)], n: &str| {
                ivs.iter()
                    .find(|(m, _)| *m == n)
                    .map(|x| x.1)
                    .expect("a summary metric")
            };
            let (ne, gs, ece, ap) = (
                get(ivs, "ne"),
                get(ivs, "gain_share"),
                get(ivs, "true_ece"),
                get(ivs, "auc_pr"),
            );
            let g = gap
                .as_ref()
                .map(|g| {
                    let x = get(&g[k].1, "ne");
                    format!("{:+.5} ± {:.5}", x.mean, x.half)
                })
                .unwrap_or_default();
            println!(
                "  {:<16} {:<8} {:.5} ± {:.5}   {:.4} ± {:.4}   {:.5} ± {:.5}   {:.4} ± {:.4}   {g}",
                v.name(), f, ne.mean, ne.half, gs.mean, gs.half, ece.mean, ece.half, ap.mean, ap.half
            );
        }
    }
}

/// The ablation JSON: every run, each variant's summary, and each variant's paired
/// gap to `camoe` (camoe minus the variant) when camoe was trained.
fn write_ablation(
    a: &AblateArgs,
    seeds: &[u64],
    runs: &Runs,
    sums: &[Summary],
    wall: f64,
    path: &Path,
) -> Res {
    let base = a.model.config()?;
    let base = &base;
    let results: Vec<serde_json::Value> = runs
        .iter()
        .enumerate()
        .map(|(i, (v, js, _))| {
            let mut r = serde_json::json!({"variant": v.name(), "runs": js});
            if let Some((sum, gap)) = sums.get(i) {
                r["summary"] = train::summary_json(sum);
                if let Some(g) = gap {
                    r["camoe_minus"] = train::summary_json(g);
                }
            }
            r
        })
        .collect();
    let o = a.opts.opts();
    std::fs::write(
        path,
        serde_json::to_string_pretty(&serde_json::json!({
            "data": a.data.data.display().to_string(), "max_rows": a.data.max_rows,
            "seeds": seeds, "epochs": o.epochs, "lr": o.lr, "batch": o.batch,
            "resamples": a.resamples, "wall_seconds": wall,
            "expert_macs": {"camoe": train::expert_macs(base),
                "shared_bottom": train::expert_macs(&Variant::SharedBottom.config(base))},
            "results": results,
        }))?,
    )?;
    Ok(())
}

#[derive(Args)]
pub struct ObdArgs {
    /// The Open Bandit Dataset directory (…/obp/dataset/obd).
    #[arg(long, value_name = "DIR")]
    obd: PathBuf,
    /// Directory for the camoe CSV splits and obd.config.json.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
}

pub fn obd(a: &ObdArgs) -> Res {
    let out = &a.out;
    let c = camoe_tools::obd::convert(&a.obd, out)?;
    eprintln!(
        "obd: wrote train {} / valid {} / test {} rows and obd.config.json to {}",
        c[0],
        c[1],
        c[2],
        out.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct ConvertArgs {
    /// The NNEF archive (docs/NNEF.md).
    #[arg(value_name = "MODEL.nnef.tgz")]
    model: PathBuf,
    /// The element type of the weights and, unless --embeddings, of the tables.
    #[arg(long, value_parser = one_of(&Mode::ALL, Mode::name))]
    mode: Mode,
    /// Where to write the `.camoe` (required unless --dry-run).
    #[arg(short = 'o', long = "out", value_name = "OUT.camoe")]
    out: Option<PathBuf>,
    /// The model's config (default: MODEL.config.json next to the archive).
    #[arg(long, value_name = "MODEL.config.json")]
    config: Option<PathBuf>,
    /// The embedding tables' element type (default: the mode's).
    #[arg(long, value_parser = one_of(&Mode::ALL, Mode::name))]
    embeddings: Option<Mode>,
    /// Labelled rows to verify on (header: field names, task, click; default: rows
    /// generated from the schema).
    #[arg(long, value_name = "TEST.csv")]
    data: Option<PathBuf>,
    /// Rows scored one request each (default: 50000 of --data, or 2000 generated).
    #[arg(long, value_name = "N")]
    rows: Option<usize>,
    /// Rankings drawn from the rows.
    #[arg(long, default_value_t = Sample::default().requests)]
    requests: usize,
    /// Candidates per ranking.
    #[arg(long, default_value_t = Sample::default().candidates)]
    candidates: usize,
    #[arg(long, default_value_t = Sample::default().seed)]
    seed: u64,
    /// Also write the parity report as JSON.
    #[arg(long, value_name = "REPORT.json")]
    json: Option<PathBuf>,
    /// Verify only; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// With --dry-run: keep each candidate's K best experts, measuring expert masking
    /// against the float model (0 = all experts).
    #[arg(long, value_name = "K", default_value_t = 0)]
    expert_top_k: usize,
    /// int8-static: calibrate the activation scales on the first N rows of the
    /// calibration data.
    #[arg(long, value_name = "N", default_value_t = convert::Calibration::default().rows)]
    calibration_rows: usize,
    /// int8-static: each input's range, `max` (largest |x|) or a percentile of |x| such as
    /// `p99.99`.
    #[arg(long, value_name = "RANGE", default_value = "p99.99", value_parser = convert::Range::parse)]
    calibration_range: convert::Range,
    /// int8-static: labelled or unlabelled CSV rows to calibrate on (default: the rows
    /// verified on).
    #[arg(long, value_name = "CALIB.csv")]
    calibration_data: Option<PathBuf>,
    /// Budget, f32 mode: the largest |ΔpCTR| against tract.
    #[arg(long, default_value_t = Budget::default().f32_max_dp)]
    max_dp: f64,
    /// Budget, quantized modes: the largest |ΔAUC-PR| of any format (with --data).
    #[arg(long, default_value_t = Budget::default().auc_pr)]
    max_auc_pr_delta: f64,
    /// Budget, quantized modes: the smallest mean top-10 overlap of the rankings.
    #[arg(long, default_value_t = Budget::default().top10)]
    min_top10: f64,
}

pub fn convert(a: &ConvertArgs) -> Res {
    let (nnef, mode, dry) = (&a.model, a.mode, a.dry_run);
    if a.out.is_none() && !dry {
        return Err("-o OUT.camoe required (or --dry-run to verify only)".into());
    }
    if a.expert_top_k > 0 && !dry {
        return Err("--expert-top-k measures masking against the float model; it needs --dry-run (the file does not depend on it)".into());
    }
    let cfg_path = match &a.config {
        Some(c) => c.clone(),
        None => {
            let s = nnef.display().to_string();
            let stem = s
                .strip_suffix(".nnef.tgz")
                .or(s.strip_suffix(".tgz"))
                .unwrap_or(&s);
            PathBuf::from(format!("{stem}.config.json"))
        }
    };
    let cfg = config::read(&cfg_path)?;
    // Labelled data: up to 50,000 of its rows by default; generated rows: 2,000.
    let default_rows = match a.data {
        Some(_) => 50_000,
        None => Sample::default().rows,
    };
    let sample = Sample {
        rows: a.rows.unwrap_or(default_rows),
        requests: a.requests,
        candidates: a.candidates,
        seed: a.seed,
        expert_top_k: a.expert_top_k,
    };
    let table = match &a.data {
        Some(p) => Table::read_csv(&cfg, p, sample.rows)?,
        None => Table::generate(&cfg, sample.rows.max(1), sample.seed),
    };
    let t0 = std::time::Instant::now();
    let progress = |s: &str| eprintln!("[{:6.1}s] {s}", t0.elapsed().as_secs_f64());
    let budget = Budget {
        f32_max_dp: a.max_dp,
        auc_pr: a.max_auc_pr_delta,
        top10: a.min_top10,
    };
    let embeddings = a.embeddings.map(Mode::dtype);
    let calib_table = match &a.calibration_data {
        Some(p) => Some(Table::read_csv(&cfg, p, a.calibration_rows)?),
        None => None,
    };
    let cal = convert::Calibration {
        rows: a.calibration_rows,
        range: a.calibration_range,
    };
    let (bytes, rep) = convert::convert(
        nnef,
        &cfg,
        mode,
        embeddings,
        &table,
        &sample,
        &budget,
        (cal, calib_table.as_ref().unwrap_or(&table)),
        &progress,
    )?;
    rep.print(&mut std::io::stdout())?;
    if let Some(j) = &a.json {
        std::fs::write(j, serde_json::to_string_pretty(&rep.to_json())? + "\n")?;
    }
    if !rep.failures.is_empty() {
        return Err(format!(
            "{} mode is over its parity budget ({}); nothing written",
            mode.name(),
            rep.failures.join("; ")
        )
        .into());
    }
    if let Some(out) = a.out.as_ref().filter(|_| !dry) {
        // Written whole under a temporary name, then renamed: never a partial file.
        let tmp = PathBuf::from(format!("{}.tmp-{}", out.display(), std::process::id()));
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, out)?;
        progress(&format!("wrote {} ({} bytes)", out.display(), bytes.len()));
    }
    Ok(())
}

#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the 32-byte secret seed (mode 0600); the 32-byte public key goes
    /// to OUT.pub. Existing files are not overwritten.
    #[arg(long, short, value_name = "KEY")]
    out: PathBuf,
}

pub fn keygen(a: &KeygenArgs) -> Res {
    use std::io::{Read, Write};
    let public = a.out.with_extension(match a.out.extension() {
        Some(e) => format!("{}.pub", e.to_string_lossy()),
        None => "pub".into(),
    });
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    let keys = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
    let create = |path: &Path, mode: u32| {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))
    };
    create(&a.out, 0o600)?
        .write_all(&seed)
        .map_err(|e| format!("cannot write {}: {e}", a.out.display()))?;
    create(&public, 0o644)?
        .write_all(keys.pk.as_ref())
        .map_err(|e| format!("cannot write {}: {e}", public.display()))?;
    let hex: String = keys.pk.iter().map(|b| format!("{b:02x}")).collect();
    println!("public key {hex}");
    eprintln!(
        "keygen: secret seed in {}, public key in {} (give apps the public key)",
        a.out.display(),
        public.display()
    );
    Ok(())
}

#[derive(Args)]
pub struct SignArgs {
    /// The `.camoe` file to sign (it must load).
    #[arg(value_name = "MODEL.camoe")]
    model: PathBuf,
    /// The secret seed from `camoe keygen`.
    #[arg(long, value_name = "KEY")]
    key: PathBuf,
    /// Where to write the signature [default: MODEL.camoe.sig].
    #[arg(long, short, value_name = "SIG")]
    out: Option<PathBuf>,
}

pub fn sign(a: &SignArgs) -> Res {
    let bytes = std::fs::read(&a.model).map_err(|e| format!("{}: {e}", a.model.display()))?;
    camoe::Model::from_bytes(&bytes).map_err(|e| format!("{}: {e}", a.model.display()))?;
    let seed = std::fs::read(&a.key).map_err(|e| format!("{}: {e}", a.key.display()))?;
    let seed: [u8; 32] = seed.try_into().map_err(|s: Vec<u8>| {
        format!(
            "{}: a key from `camoe keygen` is 32 bytes, this is {}",
            a.key.display(),
            s.len()
        )
    })?;
    let keys = ed25519_compact::KeyPair::from_seed(ed25519_compact::Seed::new(seed));
    let sig = keys.sk.sign(&bytes, None);
    // The runtime's own check, so a signature that would not verify is never written.
    camoe::signature::verify(&bytes, sig.as_ref(), keys.pk.as_ref()).map_err(|e| e.to_string())?;
    let out = a.out.clone().unwrap_or_else(|| {
        let mut p = a.model.clone().into_os_string();
        p.push(".sig");
        p.into()
    });
    std::fs::write(&out, sig.as_ref()).map_err(|e| format!("{}: {e}", out.display()))?;
    eprintln!(
        "sign: {} bytes signed, signature in {}",
        bytes.len(),
        out.display()
    );
    Ok(())
}
