//! Intra-rank threads (`SessionOptions::threads`): the same bits as one thread for
//! every thread count, batch size, expert_top_k and model mode; the first error of a
//! batch whichever thread meets it; sessions freed with idle workers; idle workers
//! that use no CPU; many threaded sessions at once; the C ABI's options.

// The Rust API returns the fixed-size `Error` by value (see src/lib.rs).
#![allow(clippy::result_large_err)]

mod common;

use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use camoe::ffi::*;
use camoe::hash::SplitMix;
use camoe::spec::{ModelSpec, Side};
use camoe::{
    write_model, Feature, Model, ModelConfig, Objective, RankOptions, Session, SessionOptions,
    Status, Value, WriteOptions,
};
use common::*;

/// Tests here run one at a time: the idle test reads the whole process's CPU time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn session(model: &Arc<Model>, max_candidates: usize, threads: usize) -> Session {
    Session::with_options(
        model.clone(),
        SessionOptions {
            max_candidates,
            threads,
        },
    )
    .unwrap()
}

/// Every model mode: the shipped models and random ones written each way.
fn models() -> Vec<(String, Arc<Model>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models/");
    let mut v: Vec<_> = [
        "camoe-demo.camoe",
        "camoe-demo.f16.camoe",
        "random-demo.camoe",
    ]
    .iter()
    .map(|f| (f.to_string(), Model::load(format!("{dir}{f}")).unwrap()))
    .collect();
    let spec = ModelSpec::random(ModelConfig::demo(), 5);
    for (name, opts) in [
        ("random int8", WriteOptions::INT8),
        ("random f16", WriteOptions::F16),
        ("random f32", WriteOptions::F32),
    ] {
        let m = Model::from_bytes(&write_model(&spec, opts).unwrap()).unwrap();
        v.push((name.to_string(), m));
    }
    // int8-static: scales from the float model's own inputs on random requests.
    let f32m = Model::from_bytes(&write_model(&spec, WriteOptions::F32).unwrap()).unwrap();
    let scales = camoe::max_abs_scales(&spec.config, || {
        let mut rng = SplitMix(17);
        let mut s = session(&f32m, 16, 1);
        for _ in 0..32 {
            let req = random_side(&spec.config, Side::Request, &mut rng);
            let tasks = spec.config.tasks.len() as u64;
            let cands = random_candidates(&spec.config, 16, tasks, &mut rng);
            let feats = borrow_candidates(&cands);
            s.set_request(&borrow(&req)).unwrap();
            rank_bits(&mut s, &candidate_list(&feats), &RankOptions::default());
        }
    });
    let bytes = camoe::write_model_static(&spec, WriteOptions::INT8, Some(&scales)).unwrap();
    v.push((
        "random int8-static".into(),
        Model::from_bytes(&bytes).unwrap(),
    ));
    v
}

/// Scores (as bits) and order of one ranking.
fn rank_bits(
    s: &mut Session,
    list: &[camoe::Candidate],
    opts: &RankOptions,
) -> (Vec<u32>, Vec<u32>) {
    let (mut scores, mut order) = (vec![0.0f32; list.len()], vec![0u32; list.len()]);
    let n = s.rank(list, opts, &mut scores, &mut order).unwrap();
    order.truncate(n);
    (scores.iter().map(|v| v.to_bits()).collect(), order)
}

#[test]
fn every_thread_count_gives_the_same_bits() {
    let _g = serial();
    for (name, model) in models() {
        let cfg = model.config().clone();
        let tasks = cfg.tasks.len() as u64;
        let mut rng = SplitMix(21);
        let req = random_side(&cfg, Side::Request, &mut rng);
        let cands = random_candidates(&cfg, 200, tasks, &mut rng);
        let feats = borrow_candidates(&cands);
        let list = candidate_list(&feats);
        let mut sessions: Vec<_> = (1..=4).map(|t| session(&model, 200, t)).collect();
        for s in &mut sessions {
            s.set_request(&borrow(&req)).unwrap();
        }
        for b in [1, 2, 3, 5, 47, 48, 49, 97, 200] {
            for expert_top_k in [0, 1, 2] {
                for (objective, eligible_formats) in [
                    (Objective::Pctr, u32::MAX),
                    (Objective::ExpectedValue, 0b101),
                ] {
                    let opts = RankOptions {
                        top_k: 0,
                        objective,
                        eligible_formats,
                        expert_top_k,
                    };
                    let one = rank_bits(&mut sessions[0], &list[..b], &opts);
                    for s in &mut sessions[1..] {
                        let t = s.threads();
                        assert!(
                            rank_bits(s, &list[..b], &opts) == one,
                            "{name}: {t} threads differ from 1 (B={b}, expert_top_k={expert_top_k})"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_first_bad_candidate_is_reported_whichever_thread_meets_it() {
    let _g = serial();
    let spec = ModelSpec::random(ModelConfig::demo(), 9);
    let model = Model::from_bytes(&write_model(&spec, WriteOptions::INT8).unwrap()).unwrap();
    let mut rng = SplitMix(4);
    let req = random_side(&spec.config, Side::Request, &mut rng);
    let cands = random_candidates(&spec.config, 100, 1, &mut rng);
    let feats = borrow_candidates(&cands);
    let mut list = candidate_list(&feats);
    let bad = [Feature {
        field: 9999,
        value: Value::Id(1),
    }];
    // Two bad candidates in different threads' shares: the earlier one is reported.
    list[70].features = &bad;
    list[30].features = &bad;
    let mut messages = Vec::new();
    for t in 1..=4 {
        let mut s = session(&model, 100, t);
        s.set_request(&borrow(&req)).unwrap();
        let (mut scores, mut order) = (vec![0.0; 100], vec![0; 100]);
        let e = s
            .rank(&list, &RankOptions::default(), &mut scores, &mut order)
            .unwrap_err();
        assert_eq!(e.status(), Status::BadFeature);
        messages.push(e.message().to_string());
        // The session ranks on after a failure.
        let good = candidate_list(&feats);
        s.rank(&good, &RankOptions::default(), &mut scores, &mut order)
            .unwrap();
    }
    assert!(messages[0].contains("candidate 30"), "{}", messages[0]);
    assert!(messages.iter().all(|m| *m == messages[0]), "{messages:?}");
}

#[test]
fn thread_counts_out_of_range_are_invalid_arguments() {
    let _g = serial();
    let model = Model::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/random-demo.camoe"
    ))
    .unwrap();
    for threads in [0, camoe::rank::MAX_THREADS + 1] {
        let e = Session::with_options(
            model.clone(),
            SessionOptions {
                max_candidates: 10,
                threads,
            },
        )
        .err()
        .unwrap();
        assert_eq!(e.status(), Status::InvalidArgument);
        assert!(e.message().contains("threads"), "{}", e.message());
    }
    // More threads than candidates: the spare threads get empty shares.
    let mut s = session(&model, 2, camoe::rank::MAX_THREADS);
    assert_eq!(s.threads(), camoe::rank::MAX_THREADS);
    s.set_request(&[]).unwrap();
    let (mut scores, mut order) = ([0.0; 2], [0; 2]);
    let list = [camoe::Candidate {
        task: 0,
        bid: 1.0,
        features: &[],
    }];
    assert_eq!(
        s.rank(&list, &RankOptions::default(), &mut scores, &mut order)
            .unwrap(),
        1
    );
    assert_eq!(SessionOptions::default().threads, 1);
}

/// Runs `f` on another thread and fails if it has not returned within `secs` seconds.
fn within(secs: u64, what: &str, f: impl FnOnce() + Send + 'static) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        f();
        let _ = tx.send(());
    });
    assert!(
        rx.recv_timeout(Duration::from_secs(secs)).is_ok(),
        "{what} did not return within {secs} s"
    );
}

#[test]
fn sessions_with_idle_workers_free_at_once() {
    let _g = serial();
    let model = Model::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/camoe-demo.camoe"
    ))
    .unwrap();
    within(20, "freeing idle threaded sessions", move || {
        // Never used, used once, and left idle long enough to park.
        for (uses, pause) in [(0, 0), (1, 0), (3, 50)] {
            let mut s = session(&model, 64, 4);
            s.set_request(&[]).unwrap();
            for _ in 0..uses {
                let list = [camoe::Candidate {
                    task: 0,
                    bid: 1.0,
                    features: &[],
                }];
                let (mut sc, mut o) = ([0.0; 1], [0; 1]);
                s.rank(&list, &RankOptions::default(), &mut sc, &mut o)
                    .unwrap();
            }
            std::thread::sleep(Duration::from_millis(pause));
            drop(s);
        }
        // Through the C ABI, which frees with camoe_session_free.
        let mut m = std::ptr::null_mut();
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/models/camoe-demo.camoe");
        let path = std::ffi::CString::new(path).unwrap();
        assert_eq!(camoe_model_load_file(path.as_ptr(), &mut m), Status::Ok);
        let o = camoe_session_options::from_rust(&SessionOptions {
            max_candidates: 8,
            threads: 3,
        });
        let mut s = std::ptr::null_mut();
        assert_eq!(camoe_session_new_with_options(m, &o, &mut s), Status::Ok);
        camoe_session_free(&mut s);
        assert!(s.is_null());
        camoe_model_free(&mut m);
    });
}

/// Nanoseconds thread `task` (a directory of /proc/self/task) has run on a CPU.
#[cfg(target_os = "linux")]
fn cpu_ns(task: &std::path::Path) -> u64 {
    let stat = std::fs::read_to_string(task.join("schedstat")).unwrap_or_default();
    stat.split(' ').next().unwrap_or("0").parse().unwrap_or(0)
}

/// The session workers' threads (named `camoe-rank-N`) of this process.
#[cfg(target_os = "linux")]
fn worker_tasks() -> Vec<std::path::PathBuf> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| t.ok().map(|t| t.path()))
        .filter(|t| {
            let comm = std::fs::read_to_string(t.join("comm")).unwrap_or_default();
            comm.starts_with("camoe-rank-")
        })
        .collect()
}

#[cfg(target_os = "linux")]
#[test]
fn idle_workers_use_no_cpu() {
    let _g = serial();
    let model = Model::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/camoe-demo.camoe"
    ))
    .unwrap();
    let mut s = session(&model, 200, 4);
    s.set_request(&[]).unwrap();
    let list = vec![
        camoe::Candidate {
            task: 0,
            bid: 1.0,
            features: &[],
        };
        200
    ];
    let (mut sc, mut o) = (vec![0.0; 200], vec![0; 200]);
    s.rank(&list, &RankOptions::default(), &mut sc, &mut o)
        .unwrap();
    // Each worker has run (and named itself) before the session is handed out.
    let workers = worker_tasks();
    assert_eq!(workers.len(), 3, "{workers:?}");
    std::thread::sleep(Duration::from_millis(20));
    let before: u64 = workers.iter().map(|t| cpu_ns(t)).sum();
    // What one busy thread gets of the machine meanwhile (it may be shared): the yardstick.
    let busy = std::thread::spawn(|| {
        let me = std::path::Path::new("/proc/thread-self");
        let (t0, c0) = (std::time::Instant::now(), cpu_ns(me));
        while t0.elapsed() < Duration::from_millis(300) {
            std::hint::spin_loop();
        }
        cpu_ns(me) - c0
    })
    .join()
    .unwrap();
    let idle = workers.iter().map(|t| cpu_ns(t)).sum::<u64>() - before;
    assert!(
        busy > 0,
        "the busy thread got no CPU in 300 ms: cannot judge"
    );
    assert!(
        idle * 20 < busy,
        "3 idle workers ran {idle} ns while one busy thread ran {busy} ns"
    );
}

#[test]
fn many_threaded_sessions_at_once() {
    let _g = serial();
    let spec = ModelSpec::random(ModelConfig::demo(), 3);
    let model = Model::from_bytes(&write_model(&spec, WriteOptions::INT8).unwrap()).unwrap();
    let mut rng = SplitMix(8);
    let req = random_side(&spec.config, Side::Request, &mut rng);
    let cands = random_candidates(&spec.config, 120, 7, &mut rng);
    let run = |threads: usize| {
        let feats = borrow_candidates(&cands);
        let list = candidate_list(&feats);
        let mut s = session(&model, 120, threads);
        (0..10)
            .map(|k| {
                s.set_request(&borrow(&req)).unwrap();
                rank_bits(&mut s, &list[..12 * (k + 1)], &RankOptions::default())
            })
            .collect::<Vec<_>>()
    };
    let single = run(1);
    std::thread::scope(|sc| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let run = &run;
                sc.spawn(move || run(2 + i % 3))
            })
            .collect();
        for h in handles {
            assert!(h.join().unwrap() == single, "a threaded session differs");
        }
    });
}

#[test]
fn c_abi_session_options() {
    let _g = serial();
    let spec = ModelSpec::random(ModelConfig::demo(), 6);
    let bytes = write_model(&spec, WriteOptions::F16).unwrap();
    let mut m = std::ptr::null_mut();
    assert_eq!(
        camoe_model_load_bytes_copy(bytes.as_ptr(), bytes.len(), &mut m),
        Status::Ok
    );
    let mut o: camoe_session_options = unsafe { std::mem::zeroed() };
    o.struct_size = std::mem::size_of::<camoe_session_options>() as u32;
    assert_eq!(camoe_session_options_default(&mut o), Status::Ok);
    assert_eq!((o.max_candidates, o.threads), (256, 1));

    let mut rng = SplitMix(2);
    let req = random_side(&spec.config, Side::Request, &mut rng);
    let cands = random_candidates(&spec.config, 150, 7, &mut rng);
    let feats = borrow_candidates(&cands);
    let list = candidate_list(&feats);
    let cf: Vec<_> = feats.iter().map(|(_, f)| c_features(f)).collect();
    let cc = c_candidates(&list, &cf);
    let creq = c_features(&borrow(&req));
    let mut rank = |threads: u32| {
        let mut s = std::ptr::null_mut();
        if threads == 0 {
            assert_eq!(camoe_session_new(m, 150, &mut s), Status::Ok);
        } else {
            o.threads = threads;
            o.max_candidates = 150;
            assert_eq!(camoe_session_new_with_options(m, &o, &mut s), Status::Ok);
        }
        assert_eq!(
            camoe_session_set_request(s, creq.as_ptr(), creq.len()),
            Status::Ok
        );
        let (mut scores, mut order, mut len) = (vec![0.0f32; 150], vec![0u32; 150], 0);
        assert_eq!(
            camoe_session_rank(
                s,
                cc.as_ptr(),
                cc.len(),
                std::ptr::null(),
                scores.as_mut_ptr(),
                order.as_mut_ptr(),
                order.len(),
                &mut len
            ),
            Status::Ok
        );
        camoe_session_free(&mut s);
        (
            scores.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            order,
        )
    };
    let plain = rank(0);
    for t in 1..=4 {
        assert!(
            rank(t) == plain,
            "camoe_session_new_with_options threads={t}"
        );
    }

    // NULL options are the defaults; bad values and sizes are refused, naming them.
    let mut s = std::ptr::null_mut();
    assert_eq!(
        camoe_session_new_with_options(m, std::ptr::null(), &mut s),
        Status::Ok
    );
    camoe_session_free(&mut s);
    let mut bad = o;
    bad.threads = 0;
    assert_eq!(
        camoe_session_new_with_options(m, &bad, &mut s),
        Status::InvalidArgument
    );
    assert!(
        last_error_message().contains("threads 0"),
        "{}",
        last_error_message()
    );
    bad.threads = 65;
    assert_eq!(
        camoe_session_new_with_options(m, &bad, &mut s),
        Status::InvalidArgument
    );
    let mut small = o;
    small.struct_size = 8;
    assert_eq!(
        camoe_session_new_with_options(m, &small, &mut s),
        Status::InvalidArgument
    );
    assert!(s.is_null());
    assert_eq!(
        camoe_session_new_with_options(std::ptr::null(), &o, &mut s),
        Status::NullArgument
    );
    camoe_model_free(&mut m);
}

/// Timings, not checks: B = 200 ranked by one session on 1 thread, by two such sessions
/// at once on two threads of this test (what the machine gives two threads: the
/// ceiling of any split), and by one session on 2 threads, interleaved, in one run:
/// `taskset -c 0,1 cargo test --profile ci -p camoe --test intra_threads -- --ignored
/// --nocapture two_thread_timings`.
#[test]
#[ignore = "a timing, not a check: run it by name with --ignored --nocapture"]
fn two_thread_timings() {
    use std::time::Instant;
    let _g = serial();
    let model = Model::load(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/random-demo.camoe"
    ))
    .unwrap();
    let cfg = model.config().clone();
    let mut rng = SplitMix(1);
    let req = random_side(&cfg, Side::Request, &mut rng);
    let cands = random_candidates(&cfg, 200, cfg.tasks.len() as u64, &mut rng);
    let feats = borrow_candidates(&cands);
    let list = candidate_list(&feats);
    let calls = 1000;
    // µs per call of `calls` calls on a session of `threads` threads, after a warm-up.
    let time = |threads: usize| {
        let mut s = session(&model, 200, threads);
        let (mut sc, mut o) = (vec![0.0; 200], vec![0; 200]);
        let mut run = |n: usize| {
            for _ in 0..n {
                s.set_request(&borrow(&req)).unwrap();
                s.rank(&list, &RankOptions::default(), &mut sc, &mut o)
                    .unwrap();
            }
        };
        run(100);
        let t0 = Instant::now();
        run(calls);
        t0.elapsed().as_secs_f64() * 1e6 / calls as f64
    };
    for round in 1..=3 {
        let one = time(1);
        let at_once: Vec<f64> = std::thread::scope(|sc| {
            let h: Vec<_> = (0..2).map(|_| sc.spawn(|| time(1))).collect();
            h.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let two = time(2);
        let ceiling = 2.0 * one / (at_once[0] + at_once[1]) * 2.0;
        println!(
            "round {round}: 1 thread {one:.0} us; two 1-thread sessions at once {:.0} and {:.0} us \
             (the machine's ceiling for 2 threads: {ceiling:.2}x); 2 threads {two:.0} us ({:.2}x)",
            at_once[0],
            at_once[1],
            one / two
        );
    }
}
