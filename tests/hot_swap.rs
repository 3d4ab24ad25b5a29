//! Hot swap under load, through the C ABI: four threads rank continuously while a
//! fifth loads the other model, hands each worker a fresh session on it and frees its
//! model handle at once (the sessions keep the model alive), 1,000 times. Every result
//! equals the expected result of the session's model, bit for bit. Run under
//! LeakSanitizer and ThreadSanitizer by `tools/sanitize-threads.sh`.

mod common;

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use camoe::ffi::*;
use camoe::spec::{FieldKind, ModelConfig, ModelSpec, Side};
use camoe::{write_model, WriteOptions};
use common::tiny_config;

const WORKERS: usize = 4;
const SWAPS: usize = 1000;
const CANDIDATES: usize = 12;

/// A session handle in transit from the swapper to a worker, with the index of the
/// model it was opened on.
struct Handoff(*mut camoe_session, usize);

// SAFETY: a session is used by one thread at a time: the swapper creates it and
// puts it in a mailbox without touching it again; the worker that takes it out owns
// it from then on. The mailbox's Mutex orders the handover.
unsafe impl Send for Handoff {}

/// Values for every field of `side` of `cfg`; `k` varies the candidate.
fn features(cfg: &ModelConfig, side: Side, k: u64) -> Vec<camoe_feature> {
    let fields = cfg.fields.iter().enumerate();
    fields
        .filter(|(_, f)| f.side == side)
        .map(|(i, f)| {
            let (kind, id, dense) = match f.kind {
                FieldKind::Categorical { .. } => (CAMOE_VALUE_ID, k * 131 + i as u64, 0.0),
                FieldKind::Dense { .. } => (CAMOE_VALUE_DENSE, 0, k as f32 * 0.7 - 2.0),
            };
            camoe_feature {
                text: std::ptr::null(),
                text_len: 0,
                id,
                field: i as u32,
                kind,
                dense,
            }
        })
        .collect()
}

/// The fixed request and slate every session ranks.
struct Slate {
    request: Vec<camoe_feature>,
    features: Vec<Vec<camoe_feature>>,
}

impl Slate {
    fn new(cfg: &ModelConfig) -> Slate {
        Slate {
            request: features(cfg, Side::Request, 0),
            features: (0..CANDIDATES as u64)
                .map(|k| features(cfg, Side::Candidate, k + 1))
                .collect(),
        }
    }

    /// Sets the request on `session` and ranks the slate: the scores' bits and the order.
    fn rank(&self, session: *mut camoe_session, tasks: u32) -> (Vec<u32>, Vec<u32>) {
        let status = camoe_session_set_request(session, self.request.as_ptr(), self.request.len());
        assert_eq!(status, camoe::Status::Ok);
        let candidates: Vec<camoe_candidate> = (self.features.iter().enumerate())
            .map(|(k, f)| camoe_candidate {
                features: f.as_ptr(),
                n_features: f.len(),
                task: k as u32 % tasks,
                bid: 1.0,
            })
            .collect();
        let (mut scores, mut order, mut len) = ([0f32; CANDIDATES], [0u32; CANDIDATES], 0);
        let status = camoe_session_rank(
            session,
            candidates.as_ptr(),
            candidates.len(),
            std::ptr::null(),
            scores.as_mut_ptr(),
            order.as_mut_ptr(),
            order.len(),
            &mut len,
        );
        assert_eq!(status, camoe::Status::Ok);
        let bits = scores.iter().map(|s| s.to_bits()).collect();
        (bits, order[..len].to_vec())
    }
}

fn load(path: &CString) -> *mut camoe_model {
    let mut model = std::ptr::null_mut();
    assert_eq!(
        camoe_model_load_file(path.as_ptr(), &mut model),
        camoe::Status::Ok
    );
    model
}

fn open(model: *mut camoe_model) -> *mut camoe_session {
    let mut session = std::ptr::null_mut();
    assert_eq!(
        camoe_session_new(model, CANDIDATES, &mut session),
        camoe::Status::Ok
    );
    session
}

#[test]
fn four_rankers_survive_a_thousand_model_swaps() {
    let cfg = tiny_config(4, 2, 1, 0, &[16, 8], &[4]);
    let tasks = cfg.tasks.len() as u32;
    let dir = std::env::temp_dir().join(format!("camoe-hot-swap-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let paths: Vec<CString> = [1u64, 2]
        .iter()
        .map(|&seed| {
            let path = dir.join(format!("seed{seed}.camoe"));
            let spec = ModelSpec::random(cfg.clone(), seed);
            std::fs::write(&path, write_model(&spec, WriteOptions::INT8).unwrap()).unwrap();
            CString::new(path.to_str().unwrap()).unwrap()
        })
        .collect();

    let slate = Slate::new(&cfg);
    let expected: Vec<_> = paths
        .iter()
        .map(|p| {
            let mut model = load(p);
            let mut session = open(model);
            let result = slate.rank(session, tasks);
            camoe_session_free(&mut session);
            camoe_model_free(&mut model);
            result
        })
        .collect();
    assert_ne!(
        expected[0], expected[1],
        "the two models must be told apart"
    );

    let mailboxes: Vec<Mutex<Option<Handoff>>> = (0..WORKERS).map(|_| Mutex::new(None)).collect();
    let done = AtomicBool::new(false);
    let per_worker: Vec<[usize; 2]> = std::thread::scope(|s| {
        let workers: Vec<_> = (mailboxes.iter())
            .map(|mailbox| {
                let (expected, done, cfg) = (&expected, &done, &cfg);
                s.spawn(move || {
                    let slate = Slate::new(cfg);
                    // Ranks done with each model, and sessions taken.
                    let (mut ranked, mut taken) = ([0usize; 2], 0);
                    let mut current: Option<Handoff> = None;
                    loop {
                        let fresh = mailbox.lock().unwrap().take();
                        if let Some(fresh) = fresh {
                            if let Some(mut old) = current.replace(fresh) {
                                camoe_session_free(&mut old.0);
                            }
                            taken += 1;
                        } else if done.load(Ordering::Acquire) {
                            break;
                        }
                        if let Some(Handoff(session, which)) = current {
                            let got = slate.rank(session, tasks);
                            assert!(
                                got == expected[which],
                                "a result differs from model {which}'s"
                            );
                            ranked[which] += 1;
                        }
                        // Let the swapper and the other workers run: with more threads
                        // than cores, a spinning worker would hold each swap a time slice.
                        std::thread::yield_now();
                    }
                    if let Some(mut last) = current {
                        camoe_session_free(&mut last.0);
                    }
                    assert_eq!(taken, SWAPS + 1, "a worker missed a session");
                    ranked
                })
            })
            .collect();

        // The first load, then SWAPS swaps to the other model. The next swap waits until
        // every worker took its session, so each worker ranks with every session.
        'swaps: for load_no in 0..=SWAPS {
            let which = load_no % 2;
            let mut model = load(&paths[which]);
            for mailbox in &mailboxes {
                let handoff = Handoff(open(model), which);
                assert!(mailbox.lock().unwrap().replace(handoff).is_none());
            }
            camoe_model_free(&mut model);
            while mailboxes.iter().any(|m| m.lock().unwrap().is_some()) {
                // A worker that failed never empties its mailbox: stop and report it.
                if workers.iter().any(|w| w.is_finished()) {
                    break 'swaps;
                }
                std::thread::yield_now();
            }
        }
        done.store(true, Ordering::Release);
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    std::fs::remove_dir_all(&dir).unwrap();
    for ranked in per_worker {
        // Each session ranked at least once: 501 sessions on model 0, 500 on model 1.
        assert!(
            ranked[0] > SWAPS / 2 && ranked[1] >= SWAPS / 2,
            "{ranked:?}"
        );
    }
}
