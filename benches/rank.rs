//! Criterion: rank B ∈ {1, 10, 50, 200, 1000} candidates of one request with the demo
//! model, per kernel tier (int8) and per numeric mode (f16, f32), in one run so the
//! ratios between them hold. Each iteration is what an SDK does per request:
//! `set_request` (request-side precompute) then `rank`.
//!
//! `cargo bench --bench rank` (add `-- --quick` for a short run).

use std::hint::black_box;

use camoe::hash::SplitMix;
use camoe::kernels::{kernels_for, Tier};
use camoe::spec::{FieldKind, ModelSpec, Side};
use camoe::{
    write_model, Candidate, Feature, Model, ModelConfig, RankOptions, Session, Value, WriteOptions,
};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const BATCHES: [usize; 5] = [1, 10, 50, 200, 1000];

/// Requests as an SDK holds them: ids and floats (strings already hashed once).
fn request(cfg: &ModelConfig, side: Side, rng: &mut SplitMix) -> Vec<Feature<'static>> {
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

fn bench(c: &mut Criterion) {
    let cfg = ModelConfig::demo();
    let spec = ModelSpec::random(cfg.clone(), 2025);
    let mut rng = SplitMix(1);
    let req = request(&cfg, Side::Request, &mut rng);
    let feats: Vec<Vec<Feature>> = (0..1000)
        .map(|_| request(&cfg, Side::Candidate, &mut rng))
        .collect();
    let cands: Vec<Candidate> = feats
        .iter()
        .enumerate()
        .map(|(i, f)| Candidate {
            task: (i % 7) as u32,
            bid: 1.0,
            features: f,
        })
        .collect();

    let mut variants: Vec<(String, WriteOptions, Tier)> = Vec::new();
    for tier in Tier::ALL.into_iter().filter(|t| t.supported()) {
        variants.push((format!("int8/{}", tier.name()), WriteOptions::INT8, tier));
    }
    let best = Tier::ALL
        .into_iter()
        .filter(|t| t.supported())
        .max()
        .unwrap();
    variants.push((format!("f16/{}", best.name()), WriteOptions::F16, best));
    variants.push((format!("f32/{}", best.name()), WriteOptions::F32, best));
    variants.push(("f32/scalar".into(), WriteOptions::F32, Tier::Scalar));
    let masked = format!("int8-top2/{}", best.name());

    let mut g = c.benchmark_group("rank");
    g.sample_size(20);
    variants.push((masked.clone(), WriteOptions::INT8, best));
    for (name, opts, tier) in &variants {
        // Inference-time expert masking: each candidate keeps its 2 best experts of 8.
        let rank_opts = RankOptions {
            expert_top_k: if *name == masked { 2 } else { 0 },
            ..RankOptions::default()
        };
        let model = Model::from_bytes(&write_model(&spec, *opts).unwrap()).unwrap();
        let mut session = Session::with_kernels(model, 1000, kernels_for(*tier).unwrap()).unwrap();
        let (mut scores, mut order) = (vec![0.0; 1000], vec![0u32; 1000]);
        for b in BATCHES {
            g.throughput(Throughput::Elements(b as u64));
            g.bench_with_input(BenchmarkId::new(name.as_str(), b), &b, |bench, &b| {
                bench.iter(|| {
                    session.set_request(black_box(&req)).unwrap();
                    session
                        .rank(black_box(&cands[..b]), &rank_opts, &mut scores, &mut order)
                        .unwrap()
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
