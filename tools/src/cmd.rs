//! The CLI commands other than `simulate`.

use crate::{get, Res};
use camoe::spec::ModelConfig;
use camoe_tools::data::Dataset;
use camoe_tools::train::{self, TrainOpts, Variant};
use camoe_tools::{config, export, model::Net};
use candle_core::Device;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

type Args = HashMap<String, String>;

fn list(s: &str) -> Vec<u32> {
    s.split(',')
        .filter(|x| !x.is_empty())
        .map(|x| x.trim().parse().expect("bad list"))
        .collect()
}

/// The base config: `--config FILE.json` or the demo schema, with architecture overrides.
fn base_config(m: &Args) -> Result<ModelConfig, String> {
    let mut c = match m.get("config") {
        Some(p) => config::read(Path::new(p))?,
        None => ModelConfig::demo(),
    };
    c.arch.experts = get(m, "experts", c.arch.experts);
    c.arch.cross_layers = get(m, "cross-layers", c.arch.cross_layers);
    c.arch.cross_rank = get(m, "cross-rank", c.arch.cross_rank);
    if let Some(v) = m.get("expert-mlp") {
        c.arch.expert_mlp = list(v);
    }
    if let Some(v) = m.get("tower") {
        c.arch.tower = list(v);
    }
    if let Some(v) = m.get("name") {
        c.name = v.clone();
    }
    Ok(c)
}

fn opts(m: &Args) -> TrainOpts {
    let d = TrainOpts::default();
    TrainOpts {
        epochs: get(m, "epochs", d.epochs),
        batch: get(m, "batch", d.batch),
        lr: get(m, "lr", d.lr),
        weight_decay: get(m, "weight-decay", d.weight_decay),
        emb_std: get(m, "emb-std", d.emb_std),
        emb_weight_decay: get(m, "emb-weight-decay", d.emb_weight_decay),
        emb_lr_scale: get(m, "emb-lr-scale", d.emb_lr_scale),
        seed: get(m, "seed", d.seed),
        evals_per_epoch: get(m, "evals-per-epoch", d.evals_per_epoch),
        patience: get(m, "patience", d.patience),
        quiet: false,
    }
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

pub fn train(m: &Args) -> Res {
    let data = PathBuf::from(m.get("data").ok_or("--data DIR required")?);
    let out = PathBuf::from(m.get("out").ok_or("--out PREFIX required")?);
    let variant = Variant::parse(m.get("variant").map_or("camoe", |s| s.as_str()))
        .ok_or("unknown --variant")?;
    if matches!(variant, Variant::SingleTask | Variant::ContentGroups) {
        return Err(
            "single-task and content-groups are not one exportable model; use `camoe ablate`"
                .into(),
        );
    }
    let base = base_config(m)?;
    let max_rows = get(m, "max-rows", usize::MAX);
    let t0 = std::time::Instant::now();
    let tr = load_split(&base, &data, "train", max_rows)?;
    let va = load_split(&base, &data, "valid", max_rows)?;
    let dev = Device::Cpu;
    let o = opts(m);
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

fn load_model(prefix: &Path, dev: &Device) -> Result<Net, Box<dyn std::error::Error>> {
    let cfg = config::read(&prefix.with_extension("config.json"))?;
    Ok(Net::load(&cfg, &prefix.with_extension("safetensors"), dev)?)
}

pub fn eval(m: &Args) -> Res {
    let prefix = PathBuf::from(m.get("model").ok_or("--model PREFIX required")?);
    let data = PathBuf::from(m.get("data").ok_or("--data DIR required")?);
    let split = m.get("split").map_or("test", |s| s.as_str());
    let dev = Device::Cpu;
    let net = load_model(&prefix, &dev)?;
    let ds = load_split(&net.cfg, &data, split, get(m, "max-rows", usize::MAX))?;
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
    if let Some(j) = m.get("json") {
        std::fs::write(j, serde_json::to_string_pretty(&train::metrics_json(&res))?)?;
    }
    Ok(())
}

pub fn export(m: &Args) -> Res {
    let prefix = PathBuf::from(m.get("model").ok_or("--model PREFIX required")?);
    let out = PathBuf::from(m.get("out").ok_or("--out PREFIX required")?);
    let dev = Device::Cpu;
    let net = load_model(&prefix, &dev)?;
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
    let ds = match m.get("data") {
        Some(d) => load_split(&net.cfg, Path::new(d), "test", rows)?,
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

pub fn ablate(m: &Args) -> Res {
    let data = PathBuf::from(m.get("data").ok_or("--data DIR required")?);
    let base = base_config(m)?;
    let max_rows = get(m, "max-rows", usize::MAX);
    let tr = load_split(&base, &data, "train", max_rows)?;
    let va = load_split(&base, &data, "valid", max_rows)?;
    let te = load_split(&base, &data, "test", max_rows)?;
    let variants: Vec<Variant> = match m.get("variants") {
        Some(v) => v
            .split(',')
            .map(|s| Variant::parse(s).ok_or(format!("unknown variant {s}")))
            .collect::<Result<_, _>>()?,
        None => Variant::ALL.to_vec(),
    };
    let dev = Device::Cpu;
    let o = opts(m);
    let mut results = Vec::new();
    for v in variants {
        let t0 = std::time::Instant::now();
        let trained = train::train_variant(&base, v, &tr, &va, &o, &dev)?;
        let secs = t0.elapsed().as_secs_f64();
        let p = trained.predict(&te, &dev)?;
        let res = train::evaluate(&trained.cfg, &p, &te);
        train::print_metrics(
            &format!("{} (test, calibrated, {:.0}s):", v.name(), secs),
            &res,
        );
        let mflop = 2.0 * trained.cfg.macs_per_candidate() as f64 / 1e6;
        results.push(serde_json::json!({
            "variant": v.name(), "train_seconds": secs, "mflop_per_candidate": mflop,
            "metrics": train::metrics_json(&res),
        }));
        if let Some(j) = m.get("json") {
            std::fs::write(
                j,
                serde_json::to_string_pretty(&serde_json::json!({
                    "data": data.display().to_string(), "max_rows": max_rows.min(tr.len()),
                    "seed": o.seed, "epochs": o.epochs, "lr": o.lr, "batch": o.batch, "results": results,
                }))?,
            )?;
        }
    }
    Ok(())
}

pub fn obd(m: &Args) -> Res {
    let dir = PathBuf::from(
        m.get("obd")
            .ok_or("--obd DIR (…/obp/dataset/obd) required")?,
    );
    let out = PathBuf::from(m.get("out").ok_or("--out DIR required")?);
    let c = camoe_tools::obd::convert(&dir, &out)?;
    eprintln!(
        "obd: wrote train {} / valid {} / test {} rows and obd.config.json to {}",
        c[0],
        c[1],
        c[2],
        out.display()
    );
    Ok(())
}

pub fn convert(m: &Args) -> Res {
    use camoe_tools::convert::{self, Budget, Mode, Sample, Table};
    let nnef = PathBuf::from(
        m.get("model")
            .ok_or("usage: camoe convert MODEL.nnef.tgz --mode int8|f16|f32 -o OUT.camoe")?,
    );
    let mode = Mode::parse(m.get("mode").ok_or("--mode int8|f16|f32 required")?)?;
    let dry = m.contains_key("dry-run");
    let out = m.get("out").map(PathBuf::from);
    if out.is_none() && !dry {
        return Err("-o OUT.camoe required (or --dry-run to verify only)".into());
    }
    let expert_top_k = get(m, "expert-top-k", 0usize);
    if expert_top_k > 0 && !dry {
        return Err("--expert-top-k measures masking against the float model; it needs --dry-run (the file does not depend on it)".into());
    }
    let cfg_path = match m.get("config") {
        Some(c) => PathBuf::from(c),
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
    let embeddings = m
        .get("embeddings")
        .map(|s| convert::parse_dtype(s))
        .transpose()?;
    let d = Sample::default();
    // Labelled data: up to 50,000 of its rows by default; generated rows: 2,000.
    let data = m.get("data");
    let sample = Sample {
        rows: get(m, "rows", if data.is_some() { 50_000 } else { d.rows }),
        requests: get(m, "requests", d.requests),
        candidates: get(m, "candidates", d.candidates),
        seed: get(m, "seed", d.seed),
        expert_top_k,
    };
    let table = match data {
        Some(p) => Table::read_csv(&cfg, Path::new(p), sample.rows)?,
        None => Table::generate(&cfg, sample.rows.max(1), sample.seed),
    };
    let t0 = std::time::Instant::now();
    let progress = |s: &str| eprintln!("[{:6.1}s] {s}", t0.elapsed().as_secs_f64());
    let b = Budget::default();
    let budget = Budget {
        f32_max_dp: get(m, "max-dp", b.f32_max_dp),
        auc_pr: get(m, "max-auc-pr-delta", b.auc_pr),
        top10: get(m, "min-top10", b.top10),
    };
    let (bytes, rep) = convert::convert(
        &nnef, &cfg, mode, embeddings, &table, &sample, &budget, &progress,
    )?;
    rep.print(&mut std::io::stdout())?;
    if let Some(j) = m.get("json") {
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
    if let Some(out) = out.filter(|_| !dry) {
        // Written whole under a temporary name, then renamed: never a partial file.
        let tmp = PathBuf::from(format!("{}.tmp-{}", out.display(), std::process::id()));
        std::fs::write(&tmp, &bytes)?;
        std::fs::rename(&tmp, &out)?;
        progress(&format!("wrote {} ({} bytes)", out.display(), bytes.len()));
    }
    Ok(())
}
