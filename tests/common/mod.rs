//! Shared by the integration tests: small model configs, random requests, and an
//! independent float reference of the forward pass written straight from the
//! equations (no request-side split, no batching), to check the runtime against.
#![allow(dead_code)]

use camoe::hash::{bucket, field_seed, hash_bytes, SplitMix};
use camoe::spec::{Architecture, FieldKind, FieldSpec, ModelConfig, ModelSpec, Side, TaskSpec};
use camoe::{Candidate, Feature, Value};

/// A small config; `rank` 0 = full-rank cross.
pub fn tiny_config(
    experts: u32,
    groups: u32,
    cross: u32,
    rank: u32,
    mlp: &[u32],
    tower: &[u32],
) -> ModelConfig {
    let cat = FieldSpec::categorical;
    let dense = |n: &str, side| FieldSpec::dense(n, side, 1.0, 2.0, 3.0);
    let fields = vec![
        cat("user", Side::Request, 50, 4),
        dense("minutes", Side::Request),
        cat("device", Side::Request, 5, 3),
        cat("ad", Side::Candidate, 40, 5),
        dense("length", Side::Candidate),
        cat("category", Side::Candidate, 9, 2),
    ];
    let groups_v: Vec<String> = (0..groups).map(|g| format!("g{g}")).collect();
    let tasks = (0..5u32)
        .map(|t| TaskSpec {
            name: format!("task{t}"),
            format: t % 3,
            group: t % groups,
            calib_a: 1.0 + 0.1 * t as f32,
            calib_b: -0.2 * t as f32,
        })
        .collect();
    ModelConfig {
        name: "tiny".into(),
        hash_seed: 99,
        formats: vec!["audio".into(), "video".into(), "display".into()],
        fields,
        groups: groups_v,
        tasks,
        arch: Architecture {
            experts,
            cross_layers: cross,
            cross_rank: rank,
            expert_mlp: mlp.to_vec(),
            tower: tower.to_vec(),
        },
    }
}

/// The shape grid the tests sweep.
pub fn config_grid() -> Vec<ModelConfig> {
    vec![
        tiny_config(1, 1, 0, 0, &[8], &[]),
        tiny_config(4, 2, 1, 0, &[16, 8], &[4]),
        tiny_config(3, 3, 3, 4, &[6], &[5, 3]),
        tiny_config(2, 2, 2, 0, &[], &[4]),
        tiny_config(8, 2, 1, 2, &[12, 6], &[8]),
    ]
}

/// Owned feature values, so tests can build `Feature` slices from them.
#[derive(Clone, Debug)]
pub enum Owned {
    Id(u64),
    Str(String),
    Dense(f32),
    Missing,
}

pub fn borrow(fields: &[(u32, Owned)]) -> Vec<Feature<'_>> {
    fields
        .iter()
        .map(|(f, v)| Feature {
            field: *f,
            value: match v {
                Owned::Id(i) => Value::Id(*i),
                Owned::Str(s) => Value::Str(s.as_bytes()),
                Owned::Dense(d) => Value::Dense(*d),
                Owned::Missing => Value::Missing,
            },
        })
        .collect()
}

/// Random values for every field of `side` (some missing, some strings, some ids).
pub fn random_side(cfg: &ModelConfig, side: Side, rng: &mut SplitMix) -> Vec<(u32, Owned)> {
    let mut v = Vec::new();
    for (i, f) in cfg.fields.iter().enumerate() {
        if f.side != side {
            continue;
        }
        let r = rng.below(10);
        let val = match f.kind {
            _ if r == 0 => continue,
            _ if r == 1 => Owned::Missing,
            FieldKind::Categorical { .. } if r < 6 => Owned::Str(format!("v{}", rng.below(1000))),
            FieldKind::Categorical { .. } => Owned::Id(rng.next_u64()),
            FieldKind::Dense { .. } => Owned::Dense(rng.normal() * 4.0),
        };
        v.push((i as u32, val));
    }
    // Shuffle so field order in a request does not matter.
    for i in (1..v.len()).rev() {
        v.swap(i, rng.below(i as u64 + 1) as usize);
    }
    v
}

/// `n` random candidates: a task below `tasks` and candidate-side values each.
pub fn random_candidates(
    cfg: &ModelConfig,
    n: usize,
    tasks: u64,
    rng: &mut SplitMix,
) -> Vec<(u32, Vec<(u32, Owned)>)> {
    (0..n)
        .map(|_| {
            (
                rng.below(tasks) as u32,
                random_side(cfg, Side::Candidate, rng),
            )
        })
        .collect()
}

/// Borrowed features of each candidate (what `candidate_list` points into).
pub fn borrow_candidates(c: &[(u32, Vec<(u32, Owned)>)]) -> Vec<(u32, Vec<Feature<'_>>)> {
    c.iter().map(|(t, f)| (*t, borrow(f))).collect()
}

/// The candidates as the ranking API takes them (bid 1).
pub fn candidate_list<'a>(c: &'a [(u32, Vec<Feature<'a>>)]) -> Vec<Candidate<'a>> {
    c.iter()
        .map(|(t, f)| Candidate {
            task: *t,
            bid: 1.0,
            features: f,
        })
        .collect()
}

/// x0 straight from the definition: request fields then candidate fields, schema order.
pub fn x0(spec: &ModelSpec, req: &[(u32, Owned)], cand: &[(u32, Owned)]) -> Vec<f32> {
    let cfg = &spec.config;
    let mut x = Vec::new();
    for side in [Side::Request, Side::Candidate] {
        for (i, f) in cfg.fields.iter().enumerate() {
            if f.side != side {
                continue;
            }
            let given = req
                .iter()
                .chain(cand)
                .find(|(k, _)| *k as usize == i)
                .map(|(_, v)| v);
            match f.kind {
                FieldKind::Categorical { vocab, dim } => {
                    let row = match given {
                        Some(Owned::Id(id)) => {
                            bucket(*id, field_seed(cfg.hash_seed, i as u32), vocab)
                        }
                        Some(Owned::Str(s)) => bucket(
                            hash_bytes(s.as_bytes(), cfg.hash_seed),
                            field_seed(cfg.hash_seed, i as u32),
                            vocab,
                        ),
                        _ => 0,
                    } as usize;
                    let t = spec.embeddings[i].as_ref().unwrap();
                    x.extend_from_slice(&t[row * dim as usize..(row + 1) * dim as usize]);
                }
                FieldKind::Dense { mean, std, clip } => x.push(match given {
                    Some(Owned::Dense(v)) => ((v - mean) / std).clamp(-clip, clip),
                    _ => 0.0,
                }),
            }
        }
    }
    x
}

fn linear(spec: &ModelSpec, i: usize, x: &[f32]) -> Vec<f32> {
    let l = &spec.linears[i];
    assert_eq!(l.inputs, x.len());
    (0..l.outputs)
        .map(|o| {
            let dot: f64 = (0..l.inputs)
                .map(|c| l.weight[o * l.inputs + c] as f64 * x[c] as f64)
                .sum();
            dot as f32 + l.bias.get(o).copied().unwrap_or(0.0)
        })
        .collect()
}

/// The group logit for x0, in f64 dot products, layer by layer as DESIGN.md states.
pub fn reference_logit(spec: &ModelSpec, x0: &[f32], group: usize) -> f32 {
    reference_logit_top_k(spec, x0, group, 0)
}

/// `reference_logit` with inference-time expert masking: the gate keeps its `top_k`
/// largest logits (ties: lower index) and renormalizes over them; 0 keeps all.
pub fn reference_logit_top_k(spec: &ModelSpec, x0: &[f32], group: usize, top_k: usize) -> f32 {
    let a = &spec.config.arch;
    let mut next = 0usize;
    let mut take = || {
        next += 1;
        next - 1
    };
    let mut experts = Vec::new();
    for _ in 0..a.experts {
        let mut x = x0.to_vec();
        for _ in 0..a.cross_layers {
            let y = if a.cross_rank == 0 {
                linear(spec, take(), &x)
            } else {
                let v = take();
                let u = take();
                linear(spec, u, &linear(spec, v, &x))
            };
            x = (0..x.len()).map(|i| x0[i] * y[i] + x[i]).collect();
        }
        for _ in &a.expert_mlp {
            x = linear(spec, take(), &x)
                .into_iter()
                .map(|v| v.max(0.0))
                .collect();
        }
        experts.push(x);
    }
    let mut logit = 0.0;
    for g in 0..spec.config.groups.len() {
        let gate_l = linear(spec, take(), x0);
        let mut order: Vec<usize> = (0..gate_l.len()).collect();
        order.sort_by(|&i, &j| gate_l[j].total_cmp(&gate_l[i]).then(i.cmp(&j)));
        let keep = if top_k == 0 {
            gate_l.len()
        } else {
            top_k.min(gate_l.len())
        };
        let kept = |i: usize| order[..keep].contains(&i);
        let m = gate_l.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let e: Vec<f32> = gate_l
            .iter()
            .enumerate()
            .map(|(i, v)| if kept(i) { (v - m).exp() } else { 0.0 })
            .collect();
        let s: f32 = e.iter().sum();
        let mut h = vec![0.0f32; experts[0].len()];
        for (k, ex) in experts.iter().enumerate() {
            for (hv, v) in h.iter_mut().zip(ex) {
                *hv += e[k] / s * v;
            }
        }
        for _ in &a.tower {
            h = linear(spec, take(), &h)
                .into_iter()
                .map(|v| v.max(0.0))
                .collect();
        }
        let out = linear(spec, take(), &h)[0];
        if g == group {
            logit = out;
        }
    }
    logit
}

pub fn reference_pctr(
    spec: &ModelSpec,
    req: &[(u32, Owned)],
    cand: &[(u32, Owned)],
    task: u32,
) -> f32 {
    reference_pctr_top_k(spec, req, cand, task, 0)
}

pub fn reference_pctr_top_k(
    spec: &ModelSpec,
    req: &[(u32, Owned)],
    cand: &[(u32, Owned)],
    task: u32,
    top_k: usize,
) -> f32 {
    let t = &spec.config.tasks[task as usize];
    let z = t.calib_a * reference_logit_top_k(spec, &x0(spec, req, cand), t.group as usize, top_k)
        + t.calib_b;
    1.0 / (1.0 + (-z).exp())
}

/// Features as the C ABI takes them (borrowing the same text bytes).
pub fn c_features(f: &[Feature]) -> Vec<camoe::ffi::camoe_feature> {
    f.iter().map(camoe::ffi::camoe_feature::from_rust).collect()
}

/// Candidates as the C ABI takes them: `features` holds each one's `c_features` and
/// must outlive the result.
pub fn c_candidates(
    c: &[Candidate],
    features: &[Vec<camoe::ffi::camoe_feature>],
) -> Vec<camoe::ffi::camoe_candidate> {
    c.iter()
        .zip(features)
        .map(|(c, f)| camoe::ffi::camoe_candidate {
            features: f.as_ptr(),
            n_features: f.len(),
            task: c.task,
            bid: c.bid,
        })
        .collect()
}

/// A command running one of this package's binaries. Under a cross runner (the test
/// script sets `CAMOE_CROSS_RUNNER="qemu-aarch64 -L / -cpu max"` for aarch64), the
/// binary is foreign to the host kernel, so the runner starts it.
pub fn binary(path: &str) -> std::process::Command {
    match std::env::var("CAMOE_CROSS_RUNNER") {
        Ok(runner) if !runner.trim().is_empty() => {
            let mut words = runner.split_whitespace();
            let mut c = std::process::Command::new(words.next().unwrap_or_default());
            c.args(words).arg(path);
            c
        }
        _ => std::process::Command::new(path),
    }
}
