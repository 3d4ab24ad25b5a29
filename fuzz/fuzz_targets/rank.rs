//! Fuzz target: `set_request` and `rank` calls on a valid tiny model (f32, f16 and
//! int8 weights) with features, candidates, bids, options and buffer sizes decoded
//! from the fuzzer's bytes.
#![no_main]

use std::sync::{Arc, OnceLock};

use camoe::{write_model, Candidate, Feature, Model, ModelSpec, Session, WriteOptions};
use camoe_fuzz::{check_ranking, tiny_config, Bytes};
use libfuzzer_sys::fuzz_target;

const MAX_CANDIDATES: usize = 8;

fn models() -> &'static [Arc<Model>; 3] {
    static MODELS: OnceLock<[Arc<Model>; 3]> = OnceLock::new();
    MODELS.get_or_init(|| {
        let spec = ModelSpec::random(tiny_config(), 11);
        [WriteOptions::F32, WriteOptions::F16, WriteOptions::INT8]
            .map(|o| Model::from_bytes(&write_model(&spec, o).unwrap()).unwrap())
    })
}

/// Scores and order of one `rank` call, as bits, or its error status.
type Outcome = Result<(usize, Vec<u32>, Vec<u32>), camoe::Status>;

fn rank(
    session: &mut Session,
    list: &[Candidate],
    opts: &camoe::RankOptions,
    lens: (usize, usize),
) -> Outcome {
    // Sentinels: on error nothing may be written.
    let (mut scores, mut order) = (vec![-7.0f32; lens.0], vec![u32::MAX; lens.1]);
    match session.rank(list, opts, &mut scores, &mut order) {
        Ok(got) => {
            let cfg = session.model().config();
            check_ranking(cfg, list, opts, &scores, &order, got, true);
            let bits = scores.iter().map(|s| s.to_bits()).collect();
            Ok((got, bits, order))
        }
        Err(e) => {
            assert!(scores.iter().all(|&s| s == -7.0), "scores written on error");
            assert!(
                order.iter().all(|&o| o == u32::MAX),
                "order written on error"
            );
            Err(e.status())
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let model = models()[b.u8() as usize % 3].clone();
    let (fields, tasks) = (model.config().fields.len(), model.config().tasks.len());
    let experts = model.config().arch.experts as usize;
    let mut session = Session::new(model.clone(), MAX_CANDIDATES).unwrap();
    // The last request `set_request` accepted: a failed one must leave it in effect.
    let mut request: Option<Vec<Feature>> = None;
    for _ in 0..16 {
        if b.is_empty() {
            break;
        }
        if b.u8() % 3 == 0 {
            let req = b.features(fields, 6);
            if session.set_request(&req).is_ok() {
                request = Some(req);
            }
            continue;
        }
        let n = b.u8() as usize % (MAX_CANDIDATES + 2);
        let feats: Vec<Vec<Feature>> = (0..n).map(|_| b.features(fields, 5)).collect();
        let list: Vec<Candidate> = feats
            .iter()
            .map(|features| Candidate {
                task: (b.u8() as usize % (tasks + 1)) as u32,
                bid: match b.u8() {
                    0..=191 => b.u8() as f32 / 16.0,
                    _ => b.f32(),
                },
                features,
            })
            .collect();
        let opts = b.options(experts);
        let short = b.u8();
        let lens = (
            n - (short & 1 == 1 && n > 0) as usize,
            (short >> 1) as usize % (n + 2),
        );
        let got = rank(&mut session, &list, &opts, lens);

        // The same call on a fresh session holding only the last accepted request
        // gives the same bits: no state leaks from earlier calls or failures.
        let mut fresh = Session::new(model.clone(), MAX_CANDIDATES).unwrap();
        if let Some(req) = &request {
            fresh.set_request(req).unwrap();
        }
        assert_eq!(
            got,
            rank(&mut fresh, &list, &opts, lens),
            "fresh session differs"
        );

        // Masking to the top E (or more) experts is the unmasked model.
        if opts.expert_top_k == 0 {
            for k in [experts, experts + 1] {
                let all = camoe::RankOptions {
                    expert_top_k: k,
                    ..opts
                };
                let masked = rank(&mut session, &list, &all, lens);
                assert_eq!(got, masked, "expert_top_k {k} differs from 0");
            }
        }
    }
});
