//! One model shared by several threads, each with its own session, gives results
//! bit-identical to a single thread.

mod common;

use std::sync::Arc;

use camoe::hash::SplitMix;
use camoe::spec::{ModelSpec, Side};
use camoe::{write_model, Model, ModelConfig, RankOptions, Session, WriteOptions};
use common::*;

/// A request's features and its candidates (task, features).
type Request = (Vec<(u32, Owned)>, Vec<(u32, Vec<(u32, Owned)>)>);

fn rank_all(model: &Arc<Model>, requests: &[Request]) -> Vec<(Vec<u32>, Vec<u32>)> {
    let mut session = Session::new(model.clone(), 64).unwrap();
    requests
        .iter()
        .map(|(req, cands)| {
            let feats = borrow_candidates(cands);
            let list = candidate_list(&feats);
            session.set_request(&borrow(req)).unwrap();
            let (mut s, mut o) = (vec![0.0f32; list.len()], vec![0; list.len()]);
            session
                .rank(&list, &RankOptions::default(), &mut s, &mut o)
                .unwrap();
            (s.iter().map(|v| v.to_bits()).collect(), o)
        })
        .collect()
}

#[test]
fn threads_match_one_thread_bit_for_bit() {
    let spec = ModelSpec::random(ModelConfig::demo(), 3);
    for opts in [WriteOptions::INT8, WriteOptions::F32] {
        let model = Model::from_bytes(&write_model(&spec, opts).unwrap()).unwrap();
        let mut rng = SplitMix(8);
        let requests: Vec<_> = (0..12)
            .map(|_| {
                let req = random_side(&spec.config, Side::Request, &mut rng);
                let cands = random_candidates(&spec.config, 64, 7, &mut rng);
                (req, cands)
            })
            .collect();
        let single = rank_all(&model, &requests);
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..4)
                .map(|_| s.spawn(|| rank_all(&model, &requests)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for r in results {
            assert!(
                r == single,
                "a thread's results differ from the single-thread run"
            );
        }
    }
}
