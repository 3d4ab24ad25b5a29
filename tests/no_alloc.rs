//! A session sized for N candidates performs no heap allocation in `set_request` or
//! `rank`, on success and on the error path, through the Rust API and the C ABI, with
//! one thread and with worker threads.

// The Rust API returns the fixed-size `Error` by value (see src/lib.rs).
#![allow(clippy::result_large_err)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use camoe::ffi::*;
use camoe::hash::SplitMix;
use camoe::spec::{ModelSpec, Side};
use camoe::{
    write_model, Candidate, Feature, Model, ModelConfig, Objective, RankOptions, Session,
    SessionOptions, Status, Value, WriteOptions,
};
use common::*;

struct Counting;
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, SeqCst);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, SeqCst);
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations made while `f` runs (tests in this file run one at a time: see main).
fn allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.load(SeqCst);
    let r = f();
    (ALLOCATIONS.load(SeqCst) - before, r)
}

#[test]
fn rank_allocates_nothing() {
    // One test function so no other test allocates concurrently.
    for (cfg, opts, fixed) in [
        (ModelConfig::demo(), WriteOptions::INT8, false),
        (ModelConfig::demo(), WriteOptions::INT8, true),
        (
            tiny_config(3, 3, 2, 4, &[8], &[4]),
            WriteOptions::INT8,
            true,
        ),
        (
            tiny_config(3, 3, 2, 4, &[8], &[4]),
            WriteOptions::F16,
            false,
        ),
        (tiny_config(2, 2, 0, 0, &[8], &[]), WriteOptions::F32, false),
    ] {
        let spec = ModelSpec::random(cfg, 11);
        // int8-static: fixed activation scales (x0's layers share the candidate one).
        let scales = camoe::ActivationScales {
            request: 0.02,
            candidate: 0.03,
            layers: (spec.config.layers().iter())
                .map(|l| match l.source {
                    camoe::layers::Source::X0 => 0.03,
                    _ => 0.05,
                })
                .collect(),
        };
        let bytes = camoe::write_model_static(&spec, opts, fixed.then_some(&scales)).unwrap();
        let model = Model::from_bytes(&bytes).unwrap();
        let n = 200;
        let mut rng = SplitMix(1);
        let req = random_side(&spec.config, Side::Request, &mut rng);
        let req = borrow(&req);
        let cands: Vec<_> = (0..n)
            .map(|_| random_side(&spec.config, Side::Candidate, &mut rng))
            .collect();
        let feats: Vec<Vec<Feature>> = cands.iter().map(|c| borrow(c)).collect();
        let list: Vec<Candidate> = feats
            .iter()
            .enumerate()
            .map(|(i, f)| Candidate {
                task: (i % spec.config.tasks.len()) as u32,
                bid: 1.0,
                features: f,
            })
            .collect();
        let (mut scores, mut order) = (vec![0.0; n], vec![0; n]);
        let opts = RankOptions {
            top_k: 10,
            objective: Objective::ExpectedValue,
            eligible_formats: 0b101,
            expert_top_k: 2,
        };

        let bad = [Feature {
            field: 9999,
            value: Value::Id(1),
        }];
        let mut bad_list = list.clone();
        bad_list[n - 1].features = &bad;
        // One thread, and worker threads (the counter is global, so what the workers
        // allocate counts too).
        for threads in [1, 3] {
            let options = SessionOptions {
                max_candidates: n,
                threads,
            };
            let mut session = Session::with_options(model.clone(), options).unwrap();
            let (count, r) = allocations(|| {
                session.set_request(&req).unwrap();
                session
                    .rank(&list, &RankOptions::default(), &mut scores, &mut order)
                    .unwrap();
                session.rank(&list, &opts, &mut scores, &mut order)
            });
            assert_eq!(r.unwrap(), 10);
            assert_eq!(
                count, 0,
                "rank on {threads} threads allocated {count} times"
            );

            // The error path allocates nothing either (messages live in fixed buffers).
            let all = RankOptions::default();
            // A batch of one bad candidate, and a full one whose last (on the last
            // thread) is bad.
            let (count, r) = allocations(|| {
                [&bad_list[n - 1..], &bad_list[..]]
                    .map(|l| session.rank(l, &all, &mut scores, &mut order).is_err())
            });
            assert_eq!(r, [true, true]);
            assert_eq!(
                count, 0,
                "a failing rank on {threads} threads allocated {count} times"
            );
        }

        // Through the C ABI.
        let bytes = write_model(&spec, WriteOptions::INT8).unwrap();
        let mut m = std::ptr::null_mut();
        assert_eq!(
            camoe_model_load_bytes_copy(bytes.as_ptr(), bytes.len(), &mut m),
            Status::Ok
        );
        let mut s = std::ptr::null_mut();
        assert_eq!(camoe_session_new(m, n, &mut s), Status::Ok);
        let cf: Vec<_> = feats.iter().map(|f| c_features(f)).collect();
        let cc = c_candidates(&list, &cf);
        // Options passed by pointer: reading a sized struct allocates nothing either.
        let c_opts = camoe_rank_options::from_rust(&RankOptions::default());
        // Sets an empty request and ranks every candidate (n = 200) with `c_opts`.
        let c_rank = |session: *mut camoe_session| {
            assert_eq!(
                camoe_session_set_request(session, std::ptr::null(), 0),
                Status::Ok
            );
            let mut len = 0;
            let (mut scores, mut order) = ([0.0f32; 200], [0u32; 200]);
            let st = camoe_session_rank(
                session,
                cc.as_ptr(),
                cc.len(),
                &c_opts,
                scores.as_mut_ptr(),
                order.as_mut_ptr(),
                order.len(),
                &mut len,
            );
            (st, len)
        };
        let (count, r) = allocations(|| c_rank(s));
        assert_eq!(r, (Status::Ok, n));
        assert_eq!(count, 0, "camoe_session_rank allocated {count} times");
        // Its worker starts (and may allocate) inside camoe_session_new_with_options.
        let mut ts = std::ptr::null_mut();
        let so = camoe_session_options::from_rust(&SessionOptions {
            max_candidates: n,
            threads: 2,
        });
        assert_eq!(camoe_session_new_with_options(m, &so, &mut ts), Status::Ok);
        let (count, r) = allocations(|| c_rank(ts));
        assert_eq!(r, (Status::Ok, n));
        assert_eq!(
            count, 0,
            "a threaded camoe_session_rank allocated {count} times"
        );
        camoe_session_free(&mut ts);
        let mut len = 0;
        let (count, st) = allocations(|| {
            camoe_session_rank(
                s,
                cc.as_ptr(),
                n + 1,
                std::ptr::null(),
                scores.as_mut_ptr(),
                order.as_mut_ptr(),
                order.len(),
                &mut len,
            )
        });
        assert_eq!(st, Status::Capacity);
        assert_eq!(
            count, 0,
            "a failing camoe_session_rank allocated {count} times"
        );
        camoe_session_free(&mut s);
        camoe_model_free(&mut m);

        // Sanity: the counter does count.
        let (count, v) = allocations(|| vec![1u8; 10]);
        assert!(count >= 1 && v.len() == 10);
    }
}
