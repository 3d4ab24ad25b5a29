//! Hundreds of corrupted variants of a valid model, each loaded through the C ABI:
//! every structurally invalid one is refused with a status and a message; a variant
//! whose damage keeps it valid (a changed weight with the checksum refreshed) must
//! load and rank without crashing. The test command also runs this file under ASan.

mod common;

use camoe::ffi::*;
use camoe::hash::{checksum, SplitMix};
use camoe::spec::ModelSpec;
use camoe::{write_model, Status, WriteOptions};
use common::*;

const HEADER: usize = 64;
const ENTRY: usize = 32;

fn refresh_checksum(b: &mut [u8]) {
    let n = b.len() - 8;
    let sum = checksum(&b[..n]);
    b[n..].copy_from_slice(&sum.to_le_bytes());
}

fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn get_u64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

/// Loads through the C ABI. Returns the status; on success also ranks, to prove the
/// loaded model is usable, and frees everything.
fn load_c(bytes: &[u8]) -> (Status, String) {
    let mut m = std::ptr::null_mut();
    let st = camoe_model_load_bytes_copy(bytes.as_ptr(), bytes.len(), &mut m);
    if st != Status::Ok {
        assert!(m.is_null());
        return (st, camoe::ffi::last_error_message());
    }
    let mut s = std::ptr::null_mut();
    assert_eq!(camoe_session_new(m, 4, &mut s), Status::Ok);
    assert_eq!(
        camoe_session_set_request(s, std::ptr::null(), 0),
        Status::Ok
    );
    let c = [camoe_candidate {
        features: std::ptr::null(),
        n_features: 0,
        task: 0,
        bid: 1.0,
    }; 4];
    let (mut scores, mut order, mut len) = ([0.0f32; 4], [0u32; 4], 0usize);
    let st = camoe_session_rank(
        s,
        c.as_ptr(),
        4,
        std::ptr::null(),
        scores.as_mut_ptr(),
        order.as_mut_ptr(),
        4,
        &mut len,
    );
    assert!(
        st == Status::Ok || st == Status::BadFeature,
        "rank on a loaded variant: {st:?}"
    );
    camoe_session_free(&mut s);
    camoe_model_free(&mut m);
    (Status::Ok, String::new())
}

fn must_fail(what: &str, bytes: &[u8], failures: &mut usize) {
    let (st, msg) = load_c(bytes);
    assert_ne!(st, Status::Ok, "{what}: a corrupt model loaded");
    assert!(!msg.is_empty(), "{what}: status {st:?} without a message");
    assert_ne!(st, Status::Panic, "{what}: panicked: {msg}");
    *failures += 1;
}

#[test]
fn corrupt_models_are_refused_cleanly() {
    let spec = ModelSpec::random(tiny_config(3, 2, 2, 3, &[6], &[4]), 17);
    for opts in [WriteOptions::INT8, WriteOptions::F16] {
        let good = write_model(&spec, opts).unwrap();
        assert_eq!(load_c(&good).0, Status::Ok);
        let n = good.len();
        let sections = u32::from_le_bytes(good[32..36].try_into().unwrap()) as usize;
        let mut refused = 0;
        let mut rng = SplitMix(n as u64);

        // Truncated at every length up to 300, then at 100 lengths spread over the file.
        for len in (0..300).chain((0..100).map(|i| 300 + i * (n - 301) / 100)) {
            must_fail(&format!("truncated to {len}"), &good[..len], &mut refused);
        }
        // Padded.
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 64]);
        must_fail("padded", &padded, &mut refused);

        // Random bit flips anywhere (the checksum catches them).
        for _ in 0..200 {
            let mut b = good.clone();
            let i = rng.below(n as u64) as usize;
            b[i] ^= 1 << rng.below(8);
            let (st, msg) = load_c(&b);
            assert!(
                st == Status::Checksum || st == Status::BadModel || st == Status::Version,
                "flip at {i}: {st:?} {msg}"
            );
            refused += 1;
        }
        let mut b = good.clone();
        b[n - 1] ^= 0x80;
        assert_eq!(load_c(&b).0, Status::Checksum);

        // Header fields set to extremes, checksum refreshed so the parser must see them.
        let header_edits: &[(&str, usize, u64, bool)] = &[
            ("version 2", 8, 2, false),
            ("version 0", 8, 0, false),
            ("header length", 12, 65, false),
            ("file length +1", 16, n as u64 + 1, true),
            ("file length max", 16, u64::MAX, true),
            ("table offset 0", 24, 0, true),
            ("table offset past end", 24, n as u64 * 4, true),
            ("table offset max", 24, u64::MAX - 7, true),
            ("section count 0", 32, 0, false),
            ("section count huge", 32, u32::MAX as u64, false),
            ("section count +1", 32, sections as u64 + 1, false),
            ("section count -1", 32, sections as u64 - 1, false),
            ("flags", 36, 1, false),
            ("reserved", 40, 7, true),
        ];
        for &(what, at, v, wide) in header_edits {
            let mut b = good.clone();
            if wide {
                put_u64(&mut b, at, v)
            } else {
                put_u32(&mut b, at, v as u32)
            }
            refresh_checksum(&mut b);
            let (st, msg) = load_c(&b);
            assert!(st != Status::Ok && !msg.is_empty(), "{what}: loaded");
            if what.starts_with("version") {
                assert_eq!(st, Status::Version, "{what}: {msg}");
            }
            refused += 1;
        }
        let mut b = good.clone();
        b[0] = b'X';
        refresh_checksum(&mut b);
        must_fail("magic", &b, &mut refused);

        // Section table entries: offsets past the end, overlapping, misaligned, huge
        // dims and counts, wrong kinds and dtypes.
        for s in 0..sections {
            let e = HEADER + s * ENTRY;
            let off = get_u64(&good, e + 8);
            let len = get_u64(&good, e + 16);
            let mut edits: Vec<(String, Box<dyn Fn(&mut Vec<u8>)>)> = vec![
                (format!("s{s} kind 9"), Box::new(move |b| put_u32(b, e, 9))),
                (
                    format!("s{s} offset past end"),
                    Box::new(move |b| put_u64(b, e + 8, n as u64 + 64)),
                ),
                (
                    format!("s{s} offset max"),
                    Box::new(move |b| put_u64(b, e + 8, u64::MAX - 63)),
                ),
                (
                    format!("s{s} misaligned"),
                    Box::new(move |b| put_u64(b, e + 8, off + 4)),
                ),
                (
                    format!("s{s} length max"),
                    Box::new(move |b| put_u64(b, e + 16, u64::MAX)),
                ),
                (
                    format!("s{s} length past end"),
                    Box::new(move |b| put_u64(b, e + 16, n as u64)),
                ),
                (
                    format!("s{s} into the table"),
                    Box::new(move |b| put_u64(b, e + 8, 0)),
                ),
            ];
            if s > 0 {
                edits.push((
                    format!("s{s} dtype 0"),
                    Box::new(move |b| put_u32(b, e + 4, 0)),
                ));
                edits.push((
                    format!("s{s} dtype 77"),
                    Box::new(move |b| put_u32(b, e + 4, 77)),
                ));
                edits.push((
                    format!("s{s} rows huge"),
                    Box::new(move |b| put_u32(b, e + 24, u32::MAX)),
                ));
                edits.push((
                    format!("s{s} cols huge"),
                    Box::new(move |b| put_u32(b, e + 28, u32::MAX)),
                ));
                edits.push((
                    format!("s{s} rows+1"),
                    Box::new(move |b| {
                        let r = u32::from_le_bytes(b[e + 24..e + 28].try_into().unwrap());
                        put_u32(b, e + 24, r + 1)
                    }),
                ));
                edits.push((
                    format!("s{s} overlaps previous"),
                    Box::new(move |b| {
                        let p = get_u64(b, e - ENTRY + 8);
                        put_u64(b, e + 8, p)
                    }),
                ));
                edits.push((
                    format!("s{s} shorter"),
                    Box::new(move |b| put_u64(b, e + 16, len.saturating_sub(1))),
                ));
            }
            for (what, edit) in edits {
                let mut b = good.clone();
                edit(&mut b);
                refresh_checksum(&mut b);
                must_fail(&what, &b, &mut refused);
            }
        }

        // Random damage inside the config section with the checksum refreshed: each must
        // either be refused cleanly or (if the damage happens to stay valid) work.
        let cfg_off = get_u64(&good, HEADER + 8) as usize;
        let cfg_len = get_u64(&good, HEADER + 16) as usize;
        let mut loaded = 0;
        for k in 0..400 {
            let mut b = good.clone();
            for _ in 0..1 + k % 3 {
                let i = cfg_off + rng.below(cfg_len as u64) as usize;
                b[i] = match rng.below(4) {
                    0 => 0xff,
                    1 => 0,
                    2 => b[i] ^ (1 << rng.below(8)),
                    _ => rng.below(256) as u8,
                };
            }
            refresh_checksum(&mut b);
            let (st, msg) = load_c(&b);
            assert_ne!(st, Status::Panic, "config damage {k}: {msg}");
            if st == Status::Ok {
                loaded += 1;
            } else {
                assert!(!msg.is_empty());
                refused += 1;
            }
        }
        // Counts: changed names or calibration floats may stay valid, structure may not.
        assert!(
            loaded < 200,
            "{loaded} of 400 damaged configs loaded: is the parser checking?"
        );
        eprintln!("{}: {refused} corrupt variants refused, {loaded} benign config edits loaded and ranked", if opts == WriteOptions::INT8 { "int8" } else { "f16" });
        assert!(refused > 700);
    }
}

#[test]
fn damaged_scales_and_biases_are_refused() {
    // Non-finite or non-positive int8 scales are BAD_MODEL even with a valid checksum.
    let spec = ModelSpec::random(tiny_config(1, 1, 1, 0, &[4], &[]), 2);
    let good = write_model(&spec, WriteOptions::INT8).unwrap();
    let sections = u32::from_le_bytes(good[32..36].try_into().unwrap()) as usize;
    let mut hit = 0;
    for s in 1..sections {
        let e = HEADER + s * ENTRY;
        let (dtype, cols) = (
            u32::from_le_bytes(good[e + 4..e + 8].try_into().unwrap()),
            u32::from_le_bytes(good[e + 28..e + 32].try_into().unwrap()),
        );
        if dtype == 1 && cols == 1 {
            let off = get_u64(&good, e + 8) as usize;
            for bad in [f32::NAN, f32::INFINITY] {
                let mut b = good.clone();
                b[off..off + 4].copy_from_slice(&bad.to_le_bytes());
                refresh_checksum(&mut b);
                let (st, msg) = load_c(&b);
                assert_eq!(st, Status::BadModel, "section {s} {bad}: {msg}");
                hit += 1;
            }
        }
    }
    assert!(hit >= 4);
}
