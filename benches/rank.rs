//! Criterion: rank B ∈ {1, 10, 50, 200, 1000} candidates of one request with the demo
//! model, per kernel tier (int8 with per-row activation scales, and int8-static with
//! min/max-calibrated fixed scales and the fused GEMM epilogue) and per numeric mode (f16,
//! f32), in one run so the ratios between them hold. Each iteration is what an SDK does per request:
//! `set_request` (request-side precompute) then `rank`.
//!
//! `rank/int8-gemm-floor/<tier>/B` runs only the int8 matrix products such a ranking
//! does (every expert's layers, same shapes, same 48-row chunks, same strides), nothing
//! else: the time no epilogue, feature or gate work can go below, in the same run.
//!
//! `rank/int8/threads-T/B` ranks with a session of T threads (`SessionOptions::threads`,
//! the best tier), T = 1 and 2 back to back for each B, so their ratio holds; on a
//! 2-core machine pin the run: `taskset -c 0,1 cargo bench --bench rank -- int8/threads`.
//!
//! `cargo bench --bench rank` (add `-- --quick` for a short run).

use std::hint::black_box;

use camoe::hash::SplitMix;
use camoe::kernels::{kernels_for, PackedI8, RowView, Tier};
use camoe::spec::{FieldKind, ModelSpec, Side};
use camoe::{
    max_abs_scales, write_model, write_model_static, Candidate, Feature, Model, ModelConfig,
    RankOptions, Session, SessionOptions, Value, WriteOptions,
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

    // int8-static: min/max scales calibrated on the float model ranking these candidates.
    let float = Model::from_bytes(&write_model(&spec, WriteOptions::F32).unwrap()).unwrap();
    let scales = max_abs_scales(&cfg, || {
        let mut s = Session::new(float, 1000).unwrap();
        s.set_request(&req).unwrap();
        let (mut scores, mut order) = (vec![0.0; 1000], vec![0u32; 1000]);
        s.rank(&cands, &RankOptions::default(), &mut scores, &mut order)
            .unwrap();
    });
    let fixed = write_model_static(&spec, WriteOptions::INT8, Some(&scales)).unwrap();
    let file = |opts: WriteOptions| write_model(&spec, opts).unwrap();
    let mut variants: Vec<(String, Vec<u8>, Tier)> = Vec::new();
    for tier in Tier::ALL.into_iter().filter(|t| t.supported()) {
        variants.push((
            format!("int8/{}", tier.name()),
            file(WriteOptions::INT8),
            tier,
        ));
        variants.push((format!("int8-static/{}", tier.name()), fixed.clone(), tier));
    }
    let best = Tier::ALL
        .into_iter()
        .filter(|t| t.supported())
        .max()
        .unwrap();
    variants.push((
        format!("f16/{}", best.name()),
        file(WriteOptions::F16),
        best,
    ));
    variants.push((
        format!("f32/{}", best.name()),
        file(WriteOptions::F32),
        best,
    ));
    variants.push(("f32/scalar".into(), file(WriteOptions::F32), Tier::Scalar));
    let masked = format!("int8-top2/{}", best.name());

    let mut g = c.benchmark_group("rank");
    g.sample_size(20);
    variants.push((masked.clone(), file(WriteOptions::INT8), best));
    for (name, bytes, tier) in &variants {
        // Inference-time expert masking: each candidate keeps its 2 best experts of 8.
        let rank_opts = RankOptions {
            expert_top_k: if *name == masked { 2 } else { 0 },
            ..RankOptions::default()
        };
        let model = Model::from_bytes(bytes).unwrap();
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
    gemm_floor(&mut g, &cfg, best);
    threads(&mut g, &spec, &req, &cands);
    g.finish();
}

/// The int8 ranking on 1 and 2 threads, each B's pair back to back.
fn threads(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    spec: &ModelSpec,
    req: &[Feature],
    cands: &[Candidate],
) {
    let model = Model::from_bytes(&write_model(spec, WriteOptions::INT8).unwrap()).unwrap();
    let mut sessions: Vec<Session> = [1, 2]
        .into_iter()
        .map(|threads| {
            let options = SessionOptions {
                max_candidates: 1000,
                threads,
            };
            Session::with_options(model.clone(), options).unwrap()
        })
        .collect();
    let (mut scores, mut order) = (vec![0.0; 1000], vec![0u32; 1000]);
    for b in [1, 50, 200, 1000] {
        g.throughput(Throughput::Elements(b as u64));
        for session in &mut sessions {
            let name = format!("int8/threads-{}", session.threads());
            g.bench_with_input(BenchmarkId::new(name, b), &b, |bench, &b| {
                bench.iter(|| {
                    session.set_request(black_box(req)).unwrap();
                    session
                        .rank(
                            black_box(&cands[..b]),
                            &RankOptions::default(),
                            &mut scores,
                            &mut order,
                        )
                        .unwrap()
                })
            });
        }
    }
}

/// The int8 GEMMs of a ranking of B candidates and nothing else: per 48-row chunk
/// (`forward::CHUNK`) and expert, the first cross layer on x0's candidate columns, the
/// other cross layers and the MLP layers on the previous layer's padded output, as
/// `forward::expert_i8` calls them (random weights and activations of the same shapes).
fn gemm_floor(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    cfg: &ModelConfig,
    tier: Tier,
) {
    let (d, dr) = (cfg.x0_width(), cfg.request_width());
    let a = &cfg.arch;
    assert_eq!(a.cross_rank, 0, "the floor follows full-rank cross layers");
    let mut rng = SplitMix(9);
    // (inputs, outputs, first column, columns) of each layer of one expert.
    let mut shapes = vec![(d, d, dr, d - dr)];
    shapes.extend((1..a.cross_layers).map(|_| (d, d, 0, d)));
    let mut w_in = d;
    for &h in &a.expert_mlp {
        shapes.push((w_in, h as usize, 0, w_in));
        w_in = h as usize;
    }
    let experts: Vec<Vec<PackedI8>> = (0..a.experts)
        .map(|_| {
            shapes
                .iter()
                .map(|&(i, o, c0, k)| {
                    let w: Vec<i8> = (0..i * o)
                        .map(|_| (rng.below(255) as i32 - 127) as i8)
                        .collect();
                    PackedI8::pack(&w, i, o, c0, k)
                })
                .collect()
        })
        .collect();
    const CHUNK: usize = 48;
    let widest = experts[0]
        .iter()
        .map(|p| p.k4.max(p.out_pad))
        .max()
        .unwrap();
    let x: Vec<i8> = (0..CHUNK * widest)
        .map(|_| (rng.below(255) as i32 - 127) as i8)
        .collect();
    let mut acc = vec![0i32; CHUNK * widest];
    let k = kernels_for(tier).unwrap();
    for b in [200usize, 1000] {
        g.throughput(Throughput::Elements(b as u64));
        let name = format!("int8-gemm-floor/{}", tier.name());
        g.bench_with_input(BenchmarkId::new(name, b), &b, |bench, &b| {
            bench.iter(|| {
                for c0 in (0..b).step_by(CHUNK) {
                    let rows = CHUNK.min(b - c0);
                    for layers in &experts {
                        let mut stride = layers[0].k4;
                        for p in layers {
                            let xv = RowView::new(black_box(&x), stride, rows);
                            (k.gemm_i8.0)(p, xv, &mut acc, p.out_pad);
                            stride = p.out_pad;
                        }
                    }
                }
            })
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
