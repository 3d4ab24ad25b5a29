//! Criterion: camoe against tract on the same model, in one run: the shipped demo model.
//! tract runs `models/camoe-demo.nnef.tgz` optimized, with the batch fixed to B; camoe
//! runs `models/camoe-demo.camoe` (int8: at the best kernel tier as `camoe_int8`, at
//! every lower tier this CPU has, and with expert masking to the top 4, 2 and 1 of 8),
//! `models/camoe-demo.f16.camoe` (both written by `camoe convert` from that NNEF), and
//! the same NNEF converted to f32 in memory. Each camoe iteration is `set_request` +
//! `rank` of B candidates from raw ids (hashing included); tract gets the rows already
//! hashed and normalized
//! (its graph starts there, docs/NNEF.md), so the comparison favours tract slightly.
//!
//! `cargo bench -p camoe-tools --bench vs_tract`

use std::hint::black_box;

use camoe::hash::{bucket, field_seed, SplitMix};
use camoe::kernels::{kernels, kernels_for, Kernels, Tier};
use camoe::spec::{FieldKind, Side};
use camoe::{
    write_model, Candidate, Feature, Model, ModelConfig, RankOptions, Session, Value, WriteOptions,
};
use camoe_tools::convert::read_nnef;
use camoe_tools::export::{load_runnable, run};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::path::Path;

const BATCHES: [usize; 5] = [1, 10, 50, 200, 1000];

fn features(cfg: &ModelConfig, side: Side, rng: &mut SplitMix) -> Vec<Feature<'static>> {
    cfg.fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.side == side)
        .map(|(i, f)| Feature {
            field: i as u32,
            value: match f.kind {
                FieldKind::Categorical { .. } => Value::Id(rng.next_u64()),
                FieldKind::Dense { mean, std, .. } => Value::Dense(mean + std * rng.normal()),
            },
        })
        .collect()
}

/// tract's inputs for rows of (request, candidate) features: rows and normalized values.
fn encode(
    cfg: &ModelConfig,
    req: &[Feature<'static>],
    cands: &[Vec<Feature<'static>>],
) -> (Vec<Vec<u32>>, Vec<Vec<f32>>) {
    let (mut cat, mut dense) = (Vec::new(), Vec::new());
    for i in cfg.x0_order() {
        let value = |c: &Vec<Feature<'static>>| -> Option<Value<'static>> {
            req.iter()
                .chain(c.iter())
                .find(|f| f.field as usize == i)
                .map(|f| f.value)
        };
        match cfg.fields[i].kind {
            FieldKind::Categorical { vocab, .. } => cat.push(
                cands
                    .iter()
                    .map(|c| match value(c) {
                        Some(Value::Id(id)) => {
                            bucket(id, field_seed(cfg.hash_seed, i as u32), vocab)
                        }
                        _ => 0,
                    })
                    .collect(),
            ),
            FieldKind::Dense { mean, std, clip } => dense.push(
                cands
                    .iter()
                    .map(|c| match value(c) {
                        Some(Value::Dense(v)) => ((v - mean) / std).clamp(-clip, clip),
                        _ => 0.0,
                    })
                    .collect(),
            ),
        }
    }
    (cat, dense)
}

fn bench(c: &mut Criterion) {
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("../models");
    let nnef = models.join("camoe-demo.nnef.tgz");
    let cfg = camoe_tools::config::read(&models.join("camoe-demo.config.json")).unwrap();
    let spec = read_nnef(&nnef, &cfg).unwrap();
    let file = |name: &str| std::fs::read(models.join(name)).unwrap();
    let f32_bytes = write_model(&spec, WriteOptions::F32).unwrap();

    let mut rng = SplitMix(1);
    let req = features(&cfg, Side::Request, &mut rng);
    let feats: Vec<Vec<Feature>> = (0..1000)
        .map(|_| features(&cfg, Side::Candidate, &mut rng))
        .collect();
    // One group only, so tract's `logits[:, 0]` is every candidate's head.
    let task = cfg.tasks.iter().position(|t| t.group == 0).unwrap() as u32;
    let cands: Vec<Candidate> = feats
        .iter()
        .map(|f| Candidate {
            task,
            bid: 1.0,
            features: f,
        })
        .collect();

    let mut g = c.benchmark_group("vs_tract");
    g.sample_size(10);
    let top = |k| RankOptions {
        expert_top_k: k,
        ..RankOptions::default()
    };
    let best = kernels();
    let int8 = file("camoe-demo.camoe");
    // The int8 model at every tier below the best one this CPU has (the best is
    // `camoe_int8`), then masking, f16 and f32 at the best tier.
    let mut variants: Vec<(String, &[u8], RankOptions, &'static Kernels)> = Tier::ALL
        .into_iter()
        .filter(|t| t.supported() && *t < best.tier)
        .map(|t| {
            let k = kernels_for(t).unwrap();
            (format!("camoe_int8_{}", t.name()), &int8[..], top(0), k)
        })
        .collect();
    let f16 = file("camoe-demo.f16.camoe");
    for (name, bytes, opts) in [
        ("camoe_int8", &int8[..], top(0)),
        ("camoe_int8_top4", &int8[..], top(4)),
        ("camoe_int8_top2", &int8[..], top(2)),
        ("camoe_int8_top1", &int8[..], top(1)),
        ("camoe_f16", &f16[..], top(0)),
        ("camoe_f32", &f32_bytes[..], top(0)),
    ] {
        variants.push((name.to_string(), bytes, opts, best));
    }
    for (name, bytes, opts, k) in variants {
        let model = Model::from_bytes(bytes).unwrap();
        let mut session = Session::with_kernels(model, 1000, k).unwrap();
        let (mut scores, mut order) = (vec![0.0; 1000], vec![0u32; 1000]);
        for b in BATCHES {
            g.throughput(Throughput::Elements(b as u64));
            g.bench_with_input(BenchmarkId::new(&name, b), &b, |bench, &b| {
                bench.iter(|| {
                    session.set_request(black_box(&req)).unwrap();
                    session
                        .rank(black_box(&cands[..b]), &opts, &mut scores, &mut order)
                        .unwrap()
                })
            });
        }
    }
    // tract on the same weights; check it agrees with camoe f32 before timing it.
    let model = Model::from_bytes(&f32_bytes).unwrap();
    let mut session = Session::new(model, 1000).unwrap();
    let (mut scores, mut order) = (vec![0.0; 1000], vec![0u32; 1000]);
    session.set_request(&req).unwrap();
    session
        .rank(&cands, &RankOptions::default(), &mut scores, &mut order)
        .unwrap();
    let t = &cfg.tasks[task as usize];
    for b in BATCHES {
        let runnable = load_runnable(&nnef, b).unwrap();
        let (cat, dense) = encode(&cfg, &req, &feats[..b]);
        let logits = run(&cfg, &runnable, &cat, &dense).unwrap();
        let g_count = cfg.groups.len();
        for i in 0..b {
            let p = 1.0 / (1.0 + (-(t.calib_a * logits[i * g_count] + t.calib_b)).exp());
            assert!(
                (p - scores[i]).abs() < 1e-4,
                "tract and camoe disagree at row {i}: {p} vs {}",
                scores[i]
            );
        }
        g.throughput(Throughput::Elements(b as u64));
        g.bench_with_input(BenchmarkId::new("tract_f32", b), &b, |bench, _| {
            bench.iter(|| run(&cfg, &runnable, black_box(&cat), black_box(&dense)).unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
