//! The runtime's scores against the independent float reference, on a grid of shapes,
//! for f32, f16 and int8 files.

mod common;

use camoe::hash::SplitMix;
use camoe::spec::{ModelSpec, Side};
use camoe::{write_model, Candidate, Model, RankOptions, Session, WriteOptions};
use common::*;

/// Max |Δp| between runtime and reference over random requests, per shape.
fn max_error(opts: WriteOptions) -> f32 {
    let mut worst = 0.0f32;
    for (ci, cfg) in config_grid().into_iter().enumerate() {
        let spec = ModelSpec::random(cfg, 7 + ci as u64);
        let model = Model::from_bytes(&write_model(&spec, opts).unwrap()).unwrap();
        let mut session = Session::new(model, 33).unwrap();
        let mut rng = SplitMix(ci as u64);
        for _ in 0..4 {
            let req = random_side(&spec.config, Side::Request, &mut rng);
            let n = 1 + rng.below(33) as usize;
            let cands: Vec<_> = (0..n)
                .map(|_| {
                    (
                        rng.below(spec.config.tasks.len() as u64) as u32,
                        random_side(&spec.config, Side::Candidate, &mut rng),
                    )
                })
                .collect();
            let feats: Vec<_> = cands.iter().map(|(_, f)| borrow(f)).collect();
            let list: Vec<_> = cands
                .iter()
                .zip(&feats)
                .map(|((t, _), f)| Candidate {
                    task: *t,
                    bid: 1.0,
                    features: f,
                })
                .collect();
            session.set_request(&borrow(&req)).unwrap();
            let (mut scores, mut order) = (vec![0.0; n], vec![0; n]);
            assert_eq!(
                session
                    .rank(&list, &RankOptions::default(), &mut scores, &mut order)
                    .unwrap(),
                n
            );
            for (i, (t, c)) in cands.iter().enumerate() {
                let want = reference_pctr(&spec, &req, c, *t);
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
