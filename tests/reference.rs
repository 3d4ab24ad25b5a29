//! The runtime's scores against the independent float reference, on a grid of shapes,
//! for f32, f16 and int8 files.

mod common;

use camoe::hash::SplitMix;
use camoe::spec::{ModelConfig, ModelSpec, Side};
use camoe::{write_model, Candidate, Model, RankOptions, Session, WriteOptions};
use common::*;

/// Max |Δp| between runtime and reference over random requests, per shape.
fn max_error(opts: WriteOptions) -> f32 {
    max_error_top_k(opts, 0)
}

fn max_error_top_k(opts: WriteOptions, top_k: usize) -> f32 {
    max_error_on(config_grid(), opts, top_k)
}

/// Max |Δp| over random requests on each of `configs`.
fn max_error_on(configs: Vec<ModelConfig>, opts: WriteOptions, top_k: usize) -> f32 {
    let mut worst = 0.0f32;
    for (ci, cfg) in configs.into_iter().enumerate() {
        let spec = ModelSpec::random(cfg, 7 + ci as u64);
        let model = Model::from_bytes(&write_model(&spec, opts).unwrap()).unwrap();
        let mut session = Session::new(model, 130).unwrap();
        let mut rng = SplitMix(ci as u64);
        for _ in 0..4 {
            let req = random_side(&spec.config, Side::Request, &mut rng);
            let n = 1 + rng.below(130) as usize;
            let cands =
                random_candidates(&spec.config, n, spec.config.tasks.len() as u64, &mut rng);
            let feats = borrow_candidates(&cands);
            let list = candidate_list(&feats);
            session.set_request(&borrow(&req)).unwrap();
            let (mut scores, mut order) = (vec![0.0; n], vec![0; n]);
            assert_eq!(
                session
                    .rank(
                        &list,
                        &RankOptions {
                            expert_top_k: top_k,
                            ..RankOptions::default()
                        },
                        &mut scores,
                        &mut order
                    )
                    .unwrap(),
                n
            );
            for (i, (t, c)) in cands.iter().enumerate() {
                let want = reference_pctr_top_k(&spec, &req, c, *t, top_k);
                worst = worst.max((scores[i] - want).abs());
            }
            // The order really is by descending pCTR, ties by index.
            for w in order.windows(2) {
                let (a, b) = (scores[w[0] as usize], scores[w[1] as usize]);
                assert!(
                    a > b || (a == b && w[0] < w[1]),
                    "order broken: {a} then {b}"
                );
            }
        }
    }
    worst
}

#[test]
fn f32_matches_reference() {
    let e = max_error(WriteOptions::F32);
    eprintln!("f32 max abs dp {e:e}");
    assert!(e < 2e-6, "f32 max |dp| = {e}");
}

#[test]
fn f16_weights_stay_close() {
    let e = max_error(WriteOptions::F16);
    eprintln!("f16 max abs dp {e:e}");
    assert!(e < 5e-3, "f16 max |dp| = {e}");
}

#[test]
fn int8_stays_within_budget() {
    let e = max_error(WriteOptions::INT8);
    eprintln!("int8 max abs dp {e:e}");
    assert!(e < 0.05, "int8 max |dp| = {e}");
    // And it is not secretly float: int8 must differ from the f32 path somewhere.
    assert!(
        e > 1e-6,
        "int8 matched float exactly ({e}): is it quantizing?"
    );
}

#[test]
fn expert_top_k_matches_masked_reference() {
    // Experts masked per candidate are skipped, and the scores equal the reference with
    // the same gates masked, for k = 1, 2, 3 (and k ≥ E is the unmasked model).
    for k in [1, 2, 3] {
        let e = max_error_top_k(WriteOptions::F32, k);
        eprintln!("top-{k} f32 max abs dp {e:e}");
        assert!(e < 2e-6, "top-{k}: max |dp| = {e}");
    }
    let e = max_error_top_k(WriteOptions::INT8, 2);
    assert!(e < 0.05, "top-2 int8: max |dp| = {e}");
    // Masking changes scores (it is not a no-op) on a model with several experts.
    let spec = ModelSpec::random(tiny_config(4, 1, 1, 0, &[6], &[]), 3);
    let model = Model::from_bytes(&write_model(&spec, WriteOptions::F32).unwrap()).unwrap();
    let mut s = Session::new(model, 4).unwrap();
    let mut rng = SplitMix(4);
    let req = random_side(&spec.config, Side::Request, &mut rng);
    let c = random_side(&spec.config, Side::Candidate, &mut rng);
    let f = borrow(&c);
    s.set_request(&borrow(&req)).unwrap();
    let one = [Candidate {
        task: 0,
        bid: 1.0,
        features: &f,
    }];
    let (mut full, mut masked) = ([0.0f32], [0.0f32]);
    s.rank(&one, &RankOptions::default(), &mut full, &mut [0])
        .unwrap();
    s.rank(
        &one,
        &RankOptions {
            expert_top_k: 1,
            ..RankOptions::default()
        },
        &mut masked,
        &mut [0],
    )
    .unwrap();
    assert_ne!(full[0], masked[0]);
    s.rank(
        &one,
        &RankOptions {
            expert_top_k: 4,
            ..RankOptions::default()
        },
        &mut masked,
        &mut [0],
    )
    .unwrap();
    assert_eq!(full[0].to_bits(), masked[0].to_bits());
}

#[test]
fn every_expert_shape_matches_reference() {
    // Experts that end on a low-rank cross layer (no MLP), start on one and run an MLP,
    // or are one MLP layer: the int8 and float expert walks see every kind of step first
    // and last.
    let shapes = || {
        vec![
            tiny_config(3, 2, 2, 3, &[], &[4]),
            tiny_config(2, 1, 1, 6, &[5], &[]),
            tiny_config(2, 2, 0, 0, &[7], &[3]),
        ]
    };
    for (opts, budget) in [
        (WriteOptions::F32, 2e-6),
        (WriteOptions::F16, 5e-3),
        (WriteOptions::INT8, 0.05),
    ] {
        let e = max_error_on(shapes(), opts, 0);
        eprintln!("{:?}: max abs dp {e:e}", opts.linears);
        assert!(e < budget, "{:?}: max |dp| = {e}", opts.linears);
    }
}
