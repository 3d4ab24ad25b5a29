use camoe_tools::sim;
mod cmd;
use std::collections::HashMap;
use std::path::PathBuf;

fn usage() -> ! {
    eprintln!(
        "usage: camoe <command> [--key value ...]\n\
         commands:\n\
         \x20 simulate --out DIR [--n N] [--seed S]\n\
         \x20 train    --data DIR --out PREFIX [--variant camoe|camoe-nocross|camoe-nomask|mmoe|shared-bottom]\n\
         \x20          [--epochs 4] [--batch 512] [--lr 0.002] [--seed 1] [--max-rows N] [--config CFG.json]\n\
         \x20          [--experts 8] [--cross-layers 2] [--cross-rank 0] [--expert-mlp 128,64] [--tower 32]\n\
         \x20 eval     --model PREFIX --data DIR [--split test] [--json OUT]\n\
         \x20 export   --model PREFIX --out PREFIX2 [--data DIR]   (writes PREFIX2.nnef.tgz + PREFIX2.config.json)\n\
         \x20 ablate   --data DIR [--variants a,b,..] [--json OUT] [train options]\n\
         \x20 obd      --obd DIR --out DIR   (Open Bandit Dataset CSVs → camoe CSV splits + config)\n\
         \x20 convert  MODEL.nnef.tgz --mode int8|f16|f32 -o MODEL.camoe [--config MODEL.config.json]\n\
         \x20          [--data TEST.csv] [--rows N] [--requests 200] [--candidates 50] [--seed 1]\n\
         \x20          [--embeddings int8|f16|f32] [--json REPORT.json] [--expert-top-k K --dry-run]\n\
         \x20          [--max-dp 1e-5] [--max-auc-pr-delta 0.002] [--min-top10 0.95]   (the budget)"
    );
    std::process::exit(2)
}

pub fn parse_args(args: &[String]) -> HashMap<String, String> {
    let mut m = HashMap::new();
    let mut i = 0;
    while i < args.len() {
        let k = args[i].strip_prefix("--").unwrap_or_else(|| usage());
        if i + 1 < args.len() && !args[i + 1].starts_with("--") {
            m.insert(k.to_string(), args[i + 1].clone());
            i += 2;
        } else {
            m.insert(k.to_string(), "true".to_string());
            i += 1;
        }
    }
    m
}

pub fn get<T: std::str::FromStr>(m: &HashMap<String, String>, k: &str, default: T) -> T {
    match m.get(k) {
        Some(v) => v.parse().unwrap_or_else(|_| {
            eprintln!("bad value for --{k}: {v}");
            std::process::exit(2)
        }),
        None => default,
    }
}

fn main() {
    // One thread unless asked: the machine is shared, and two were no faster.
    if std::env::var_os("RAYON_NUM_THREADS").is_none() {
        std::env::set_var("RAYON_NUM_THREADS", "1");
    }
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        usage();
    }
    let rest: Vec<String> = if args[1] == "convert" {
        // `convert MODEL.nnef.tgz ... -o OUT`: a positional model and `-o`.
        args[2..]
            .iter()
            .enumerate()
            .flat_map(|(i, a)| match a.as_str() {
                "-o" => vec!["--out".to_string()],
                _ if i == 0 && !a.starts_with('-') => vec!["--model".to_string(), a.clone()],
                _ => vec![a.clone()],
            })
            .collect()
    } else {
        args[2..].to_vec()
    };
    let m = parse_args(&rest);
    let r = match args[1].as_str() {
        "simulate" => cmd_simulate(&m),
        "train" => cmd::train(&m),
        "eval" => cmd::eval(&m),
        "export" => cmd::export(&m),
        "ablate" => cmd::ablate(&m),
        "obd" => cmd::obd(&m),
        "convert" => cmd::convert(&m),
        _ => usage(),
    };
    if let Err(e) = r {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

pub type Res = Result<(), Box<dyn std::error::Error>>;

fn cmd_simulate(m: &HashMap<String, String>) -> Res {
    let out: PathBuf = get(m, "out", PathBuf::from("data/sim"));
    let cfg = sim::SimConfig {
        seed: get(m, "seed", 1u64),
        impressions: get(m, "n", 1_000_000usize),
        ..Default::default()
    };
    let t0 = std::time::Instant::now();
    let counts = sim::write_splits(&cfg, &out)?;
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
        out.display(),
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}
