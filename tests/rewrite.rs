//! A model file rewritten on disk while the model is in use: the default load (read into
//! memory) survives truncation and rewriting in place; the opt-in mapping survives the
//! documented update path (rename a new file over the old one), and dies of SIGBUS when
//! that rule is broken, which is why it is not the default.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use camoe::hash::SplitMix;
use camoe::spec::{ModelSpec, Side};
use camoe::{write_model, Model, RankOptions, Session, WriteOptions};
use common::*;

const CHILD_ENV: &str = "CAMOE_REWRITE_CHILD";

fn temp_path(tag: &str) -> PathBuf {
    std::env::temp_dir().join(format!("camoe-rewrite-{tag}-{}.camoe", std::process::id()))
}

/// Two different model files' bytes (same config, different weights) and a fixed workload.
struct Fixture {
    a: Vec<u8>,
    b: Vec<u8>,
    req: Vec<(u32, Owned)>,
    cands: Vec<(u32, Vec<(u32, Owned)>)>,
}

fn fixture() -> Fixture {
    let cfg = tiny_config(4, 2, 2, 0, &[8], &[4]);
    let a = write_model(&ModelSpec::random(cfg.clone(), 1), WriteOptions::INT8).unwrap();
    let b = write_model(&ModelSpec::random(cfg.clone(), 2), WriteOptions::INT8).unwrap();
    let mut rng = SplitMix(3);
    let req = random_side(&cfg, Side::Request, &mut rng);
    let cands = random_candidates(&cfg, 40, 5, &mut rng);
    Fixture { a, b, req, cands }
}

fn rank_bits(model: &Arc<Model>, fx: &Fixture) -> Vec<u32> {
    let mut s = Session::new(model.clone(), 64).unwrap();
    rank_with(&mut s, fx)
}

fn rank_with(s: &mut Session, fx: &Fixture) -> Vec<u32> {
    let feats = borrow_candidates(&fx.cands);
    let list = candidate_list(&feats);
    s.set_request(&borrow(&fx.req)).unwrap();
    let (mut scores, mut order) = (vec![0.0f32; list.len()], vec![0u32; list.len()]);
    s.rank(&list, &RankOptions::default(), &mut scores, &mut order)
        .unwrap();
    scores.iter().map(|v| v.to_bits()).collect()
}

/// Runs `disturb` (given the round number) `rounds` times while 4 threads rank with
/// `model` without pause; every ranking must equal `want`.
fn rank_while(
    model: &Arc<Model>,
    fx: &Fixture,
    want: &[u32],
    rounds: usize,
    disturb: impl Fn(usize),
) {
    let stop = AtomicBool::new(false);
    let ranked = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                let mut s = Session::new(model.clone(), 64).unwrap();
                while !stop.load(Ordering::Relaxed) {
                    assert_eq!(rank_with(&mut s, fx), want, "a ranking changed");
                    ranked.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for round in 0..rounds {
            disturb(round);
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(ranked.load(Ordering::Relaxed) > 0, "no ranking ran");
}

fn rewrite_in_place(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    // Truncate to zero, then write in two halves: readers of the file in between see
    // an empty, then a half-written file.
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(&bytes[..bytes.len() / 2]).unwrap();
    f.flush().unwrap();
    f.write_all(&bytes[bytes.len() / 2..]).unwrap();
}

#[test]
fn default_load_survives_the_file_rewritten_in_place() {
    let fx = fixture();
    let path = temp_path("read");
    std::fs::write(&path, &fx.a).unwrap();
    let model = Model::load(&path).unwrap();
    let want = rank_bits(&model, &fx);
    rank_while(&model, &fx, &want, 200, |round| {
        let next = if round % 2 == 0 { &fx.b } else { &fx.a };
        rewrite_in_place(&path, next);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(7)
            .unwrap();
    });
    // The file now holds 7 bytes: a fresh load is refused, the loaded model still ranks.
    assert!(Model::load(&path).is_err());
    assert_eq!(rank_bits(&model, &fx), want);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn mapped_load_survives_replace_by_rename() {
    let fx = fixture();
    let path = temp_path("mapped");
    std::fs::write(&path, &fx.a).unwrap();
    // SAFETY: this test only ever replaces the file by renaming over it.
    let model = unsafe { Model::load_mapped(&path) }.unwrap();
    assert!(model.is_zero_copy());
    let want = rank_bits(&model, &fx);
    let staging = temp_path("mapped-staging");
    rank_while(&model, &fx, &want, 200, |round| {
        let next = if round % 2 == 0 { &fx.b } else { &fx.a };
        std::fs::write(&staging, next).unwrap();
        std::fs::rename(&staging, &path).unwrap();
    });
    // The path now holds model A again (200 rounds: the last wrote A); a new mapping of it
    // ranks like A, and one of B (after one more rename) like B.
    // SAFETY: as above.
    let again = unsafe { Model::load_mapped(&path) }.unwrap();
    assert_eq!(rank_bits(&again, &fx), want);
    std::fs::write(&staging, &fx.b).unwrap();
    std::fs::rename(&staging, &path).unwrap();
    // SAFETY: as above.
    let b = unsafe { Model::load_mapped(&path) }.unwrap();
    assert_ne!(rank_bits(&b, &fx), want);
    std::fs::remove_file(&path).unwrap();
}

/// Breaking the mapping's rule kills the process: run in a child, which must die of
/// SIGBUS after truncating its own mapped model file and ranking. (x86_64 Linux only:
/// under qemu-user the child, an aarch64 binary, cannot be spawned directly.)
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn mapped_load_truncated_in_place_is_fatal_which_is_why_it_is_opt_in() {
    if std::env::var_os(CHILD_ENV).is_some() {
        let fx = fixture();
        let path = temp_path("sigbus");
        std::fs::write(&path, &fx.a).unwrap();
        // SAFETY: deliberately broken below, in a child process the parent watches.
        let model = unsafe { Model::load_mapped(&path) }.unwrap();
        std::fs::File::create(&path).unwrap(); // truncates the mapped file to 0 bytes
        std::fs::remove_file(&path).unwrap();
        rank_bits(&model, &fx);
        std::process::exit(0); // not reached when the mapping faults
    }
    {
        use std::os::unix::process::ExitStatusExt;
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "mapped_load_truncated_in_place_is_fatal_which_is_why_it_is_opt_in",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        assert_eq!(status.signal(), Some(7), "expected SIGBUS, got {status:?}");
    }
}

#[test]
fn read_from_loads_a_model_at_an_offset_of_a_larger_file() {
    use std::io::{Read, Seek, SeekFrom};
    let fx = fixture();
    // An asset pack: 100 junk bytes, the model, 50 junk bytes.
    let mut pack = vec![0xabu8; 100];
    pack.extend_from_slice(&fx.a);
    pack.extend_from_slice(&[0xcd; 50]);
    let path = temp_path("pack");
    std::fs::write(&path, &pack).unwrap();
    let mut f = std::fs::File::open(&path).unwrap();
    f.seek(SeekFrom::Start(100)).unwrap();
    let m = Model::read_from((&mut f).take(fx.a.len() as u64), fx.a.len()).unwrap();
    assert_eq!(
        rank_bits(&m, &fx),
        rank_bits(&Model::from_bytes(&fx.a).unwrap(), &fx)
    );
    // A length running past the end of the file is an IO error, not a crash.
    f.seek(SeekFrom::Start(100)).unwrap();
    let e = Model::read_from(&mut f, fx.a.len() + 51).unwrap_err();
    assert_eq!(e.status(), camoe::Status::Io, "{e}");
    std::fs::remove_file(&path).unwrap();
}
