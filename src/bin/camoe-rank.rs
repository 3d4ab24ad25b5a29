//! The main job: rank a sample request's cached ads with a shipped model.
//!
//! `cargo run --release --bin camoe-rank -- [MODEL.camoe] [REQUEST.txt] [flags]`; the
//! flags are in [`USAGE`] (`camoe-rank --help`). The binary stays free of dependencies,
//! so it parses them by hand, and rejects any flag it does not know.
//!
//! The request file has one `request field=value …` line and one
//! `candidate task=NAME bid=X field=value …` line per cached ad; `#` starts a comment.

use std::process::ExitCode;
use std::time::Instant;

use camoe::spec::FieldKind;
use camoe::{Candidate, Feature, Model, Objective, RankOptions, Session, SessionOptions, Value};

const USAGE: &str = "\
usage: camoe-rank [MODEL.camoe] [REQUEST.txt] [flags]
  MODEL.camoe            default models/random-demo.camoe
  REQUEST.txt            default models/sample-request.txt
  --top-k K              print the K best (default: all)
  --objective pctr|ev    rank by pCTR (default) or bid x pCTR
  --eligible F,F,..      only candidates of these ad formats
  --expert-top-k K       keep each candidate's K best experts (default: all)
  --threads N            rank on N threads, 1..=64 (default 1; same scores)
  --list-tiers           print the kernel tiers this CPU runs and exit
                         (CAMOE_KERNEL_TIER=<tier> caps the one used)
  -h, --help             print this and exit";

struct Line {
    task: Option<String>,
    bid: f32,
    pairs: Vec<(String, String)>,
}

fn parse_file(text: &str) -> Result<(Line, Vec<Line>), String> {
    let (mut request, mut candidates) = (None, Vec::new());
    for (no, raw) in text.lines().enumerate() {
        let raw = raw.split('#').next().unwrap_or("").trim();
        let mut words = raw.split_whitespace();
        let Some(head) = words.next() else { continue };
        let mut line = Line {
            task: None,
            bid: 0.0,
            pairs: Vec::new(),
        };
        for w in words {
            let (k, v) = w
                .split_once('=')
                .ok_or_else(|| format!("line {}: {w:?} is not field=value", no + 1))?;
            match k {
                "task" => line.task = Some(v.to_owned()),
                "bid" => {
                    line.bid = v
                        .parse()
                        .map_err(|_| format!("line {}: bid {v:?} is not a number", no + 1))?
                }
                _ => line.pairs.push((k.to_owned(), v.to_owned())),
            }
        }
        match head {
            "request" => request = Some(line),
            "candidate" => candidates.push(line),
            _ => {
                return Err(format!(
                    "line {}: starts with {head:?}, expected request or candidate",
                    no + 1
                ))
            }
        }
    }
    Ok((request.ok_or("no request line")?, candidates))
}

/// Resolves names to indexes and values to features (once, before ranking).
fn features<'a>(model: &Model, pairs: &'a [(String, String)]) -> Result<Vec<Feature<'a>>, String> {
    pairs
        .iter()
        .map(|(k, v)| {
            let field = model
                .field_index(k)
                .ok_or_else(|| format!("unknown field {k:?}"))?;
            let value = match model.config().fields[field as usize].kind {
                FieldKind::Dense { .. } => Value::Dense(
                    v.parse()
                        .map_err(|_| format!("{k}={v:?} is not a number"))?,
                ),
                FieldKind::Categorical { .. } => Value::Str(v.as_bytes()),
            };
            Ok(Feature { field, value })
        })
        .collect()
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut positional, mut opts) = (Vec::new(), RankOptions::default());
    let mut eligible_names: Option<String> = None;
    let mut threads = 1;
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--top-k" => opts.top_k = value()?.parse().map_err(|_| "--top-k needs a number")?,
            "--threads" => threads = value()?.parse().map_err(|_| "--threads needs a number")?,
            "--expert-top-k" => {
                opts.expert_top_k = value()?
                    .parse()
                    .map_err(|_| "--expert-top-k needs a number")?
            }
            "--objective" => {
                opts.objective = match value()?.as_str() {
                    "pctr" => Objective::Pctr,
                    "ev" => Objective::ExpectedValue,
                    o => return Err(format!("--objective {o}: use pctr or ev")),
                }
            }
            "--eligible" => eligible_names = Some(value()?),
            "--list-tiers" => {
                // The kernel tiers this CPU can run (the test command loops over them);
                // a misspelt CAMOE_KERNEL_TIER fails here too.
                camoe::kernels::try_kernels().map_err(|e| e.to_string())?;
                let tiers: Vec<_> = camoe::kernels::Tier::ALL
                    .into_iter()
                    .filter(|t| t.supported())
                    .map(|t| t.name())
                    .collect();
                println!("{}", tiers.join(" "));
                return Ok(());
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            f if f.starts_with('-') => {
                return Err(format!(
                    "unknown flag {f:?} (camoe-rank --help lists the flags)"
                ))
            }
            _ if positional.len() == 2 => {
                return Err(format!(
                    "unexpected argument {a:?}: takes at most MODEL.camoe and REQUEST.txt"
                ))
            }
            _ => positional.push(a),
        }
    }
    let model_path = positional
        .first()
        .map_or("models/random-demo.camoe", |s| s.as_str());
    let request_path = positional
        .get(1)
        .map_or("models/sample-request.txt", |s| s.as_str());

    let t0 = Instant::now();
    let model = Model::load(model_path).map_err(|e| format!("{model_path}: {e}"))?;
    let load = t0.elapsed();
    if let Some(names) = eligible_names {
        opts.eligible_formats = 0;
        for n in names.split(',') {
            let f = model
                .format_index(n)
                .ok_or_else(|| format!("unknown format {n:?}"))?;
            opts.eligible_formats |= 1 << f;
        }
    }
    let text = std::fs::read_to_string(request_path).map_err(|e| format!("{request_path}: {e}"))?;
    let (req, cands) = parse_file(&text).map_err(|e| format!("{request_path}: {e}"))?;
    let req_features = features(&model, &req.pairs)?;
    let cand_features = cands
        .iter()
        .map(|c| features(&model, &c.pairs))
        .collect::<Result<Vec<_>, _>>()?;
    let candidates = cands
        .iter()
        .zip(&cand_features)
        .map(|(c, f)| {
            let name = c.task.as_deref().ok_or("a candidate has no task=")?;
            let task = model
                .task_index(name)
                .ok_or_else(|| format!("unknown task {name:?}"))?;
            Ok(Candidate {
                task,
                bid: c.bid,
                features: f,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;

    let options = SessionOptions {
        max_candidates: candidates.len().max(1),
        threads,
    };
    let mut session = Session::with_options(model.clone(), options).map_err(|e| e.to_string())?;
    let mut scores = vec![0.0; candidates.len()];
    let mut order = vec![0; candidates.len()];
    let t1 = Instant::now();
    session
        .set_request(&req_features)
        .map_err(|e| e.to_string())?;
    let k = session
        .rank(&candidates, &opts, &mut scores, &mut order)
        .map_err(|e| e.to_string())?;
    let rank_time = t1.elapsed();

    let cfg = model.config();
    println!(
        "model {} ({:?}, {} bytes, {} fields, {} tasks, {} experts); loaded in {:.0} us",
        cfg.name,
        model.mode(),
        model.file_size(),
        cfg.fields.len(),
        cfg.tasks.len(),
        cfg.arch.experts,
        load.as_secs_f64() * 1e6
    );
    println!(
        "{:>4}  {:>9}  {:<18} {:<8} {:>9} {:>6}",
        "rank", "candidate", "task", "format", "pCTR", "bid"
    );
    for (r, &i) in order[..k].iter().enumerate() {
        let t = &cfg.tasks[candidates[i as usize].task as usize];
        println!(
            "{:>4}  {:>9}  {:<18} {:<8} {:>9.6} {:>6.2}",
            r + 1,
            i,
            t.name,
            cfg.formats[t.format as usize],
            scores[i as usize],
            candidates[i as usize].bid
        );
    }
    let skipped = scores.iter().filter(|s| s.is_nan()).count();
    if skipped > 0 {
        println!("({skipped} candidates not eligible by format)");
    }
    println!(
        "ranked {} candidates in {:.1} us (one call, includes the request-side precompute)",
        candidates.len(),
        rank_time.as_secs_f64() * 1e6
    );
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
