//! Hundreds of corrupted variants of a valid model, each loaded through the C ABI:
//! every structurally invalid one is refused with a status and a message; a variant
//! whose damage keeps it valid (a changed weight with the checksum refreshed) must
//! load and rank without crashing. The test command also runs this file under ASan.

mod common;

use camoe::ffi::*;
use camoe::format::{Layout, LinearRef, WeightPart};
use camoe::hash::{checksum, SplitMix};
use camoe::spec::ModelSpec;
use camoe::{write_model, DType, Status, WriteOptions};
use common::*;

const HEADER: usize = 64;
const ENTRY: usize = 32;

/// A named change to a file's bytes.
type Edit = Box<dyn Fn(&mut Vec<u8>)>;

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
            ("version 1", 8, 1, false),
            ("version 3", 8, 3, false),
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
            ("reserved", 44, 7, true),
            ("reserved end", 56, 1 << 56, true),
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
                assert!(msg.contains("camoe convert"), "{what}: {msg}");
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
            let mut edits: Vec<(String, Edit)> = vec![
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

/// Applies `edit` to a copy of `good`, refreshes the checksum and expects BAD_MODEL with
/// a message containing `says`.
fn refused_after(good: &[u8], what: &str, edit: &dyn Fn(&mut Vec<u8>), says: &str) {
    let mut b = good.to_vec();
    edit(&mut b);
    refresh_checksum(&mut b);
    let (st, msg) = load_c(&b);
    assert_eq!(st, Status::BadModel, "{what}: {msg}");
    assert!(
        msg.contains(says),
        "{what}: message {msg:?}, expected {says:?}"
    );
}

/// Plants `value` (already encoded in the tensor's type) at element `index` of a tensor
/// at byte `offset`, refreshes the checksum and expects BAD_MODEL naming `name`.
fn plant_refused(good: &[u8], offset: usize, index: usize, value: &[u8], name: &str) {
    let at = offset + index * value.len();
    let plant = |b: &mut Vec<u8>| b[at..at + value.len()].copy_from_slice(value);
    refused_after(good, &format!("{name} <- {value:?}"), &plant, name);
}

fn layout_of(bytes: &[u8]) -> Layout {
    camoe::format::parse(bytes).unwrap()
}

/// The weight parts of linear layer `i` as stored: (name, offset, columns, row-major).
fn parts(l: &LinearRef, i: usize) -> Vec<(String, usize, usize, bool)> {
    let name = |p: &WeightPart| match p.candidate {
        true => format!("candidate columns of the weight of linear layer {i}"),
        false => format!("weight of linear layer {i}"),
    };
    let parts = l.parts().into_iter();
    parts
        .map(|p| (name(&p), p.offset, p.cols, p.row_major))
        .collect()
}

fn pad16(n: usize) -> usize {
    n.div_ceil(16) * 16
}

/// Byte offset of weight (output `o`, column `c` of the part) in a packed int8 part.
fn i8_at(offset: usize, out: usize, o: usize, c: usize) -> usize {
    offset + (c / 4) * pad16(out) * 4 + o * 4 + c % 4
}

/// Byte offset of the stored row sum of output `o` of a packed int8 part of `k` columns.
fn rowsum_at(offset: usize, out: usize, k: usize, o: usize) -> usize {
    offset + k.div_ceil(4) * 4 * pad16(out) + 4 * o
}

#[test]
fn int8_minus_128_is_refused_naming_the_tensor() {
    // Issue 11.1: the AVX2 kernel's maddubs(|x|, sign(w, x)) needs |w| <= 127, so a
    // shipped model with one weight byte set to 0x80 scored differently per tier.
    let good = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/models/camoe-demo.camoe"
    ))
    .unwrap();
    assert_eq!(load_c(&good).0, Status::Ok);
    let layout = layout_of(&good);
    for (i, l) in layout.linears.iter().enumerate().step_by(7) {
        assert_eq!(l.dtype, DType::I8);
        for (name, offset, k, _) in parts(l, i) {
            let out = l.outputs;
            for (o, c) in [(0, 0), (out / 2, k / 2), (out - 1, k - 1)] {
                let at = i8_at(offset, out, o, c);
                let name = format!("{name}: value -128 at [{o}][{}]", c + offset_col(l, offset));
                plant_refused(&good, at, 0, &[0x80], &name);
            }
        }
    }
    // One rule for every int8 tensor: embedding rows too (the writer never emits -128).
    let (f, t) = layout
        .config
        .fields
        .iter()
        .zip(&layout.embeddings)
        .find_map(|(f, t)| t.map(|t| (f, t)))
        .unwrap();
    plant_refused(
        &good,
        t.offset,
        t.cols + 1,
        &[0x80],
        &format!("embedding of field {}", f.name),
    );
    // -127 is the limit and stays valid (with the row sum it changes).
    let l = &layout.linears[0];
    let mut b = good.clone();
    let old = b[i8_at(l.weight, l.outputs, 0, 0)] as i8 as i32;
    b[i8_at(l.weight, l.outputs, 0, 0)] = 0x81;
    let at = rowsum_at(l.weight, l.outputs, l.first_cols, 0);
    let sum = i32::from_le_bytes(b[at..at + 4].try_into().unwrap()) - old - 127;
    b[at..at + 4].copy_from_slice(&sum.to_le_bytes());
    refresh_checksum(&mut b);
    assert_eq!(load_c(&b).0, Status::Ok);
}

/// The first column of x0 a part at `offset` of layer `l` starts at.
fn offset_col(l: &LinearRef, offset: usize) -> usize {
    if l.candidate == Some(offset) {
        l.first_cols
    } else {
        0
    }
}

#[test]
fn packed_weights_are_checked_padding_row_sums_and_layout() {
    // Rank 3 and MLP width 6: parts whose inputs are not a multiple of 4 (padded columns
    // in the last group of 4) and outputs far from a multiple of 16.
    let spec = ModelSpec::random(tiny_config(3, 2, 2, 3, &[6], &[4]), 17);
    let mut checked = 0;
    for opts in [WriteOptions::INT8, WriteOptions::F32, WriteOptions::F16] {
        let good = write_model(&spec, opts).unwrap();
        assert_eq!(load_c(&good).0, Status::Ok);
        let layout = layout_of(&good);
        let refused = |name: &str, edit: &dyn Fn(&mut Vec<u8>), says: &str| {
            refused_after(&good, name, edit, says)
        };
        for (i, l) in layout.linears.iter().enumerate() {
            let (out, size) = (l.outputs, l.dtype.size());
            for (name, offset, k, row_major) in parts(l, i) {
                let padding = format!("{name}: padding is not zero");
                if l.dtype == DType::I8 {
                    // An output past `out` (when there is one), then a column past `k`.
                    if out % 16 != 0 {
                        let at = i8_at(offset, out, out, 0);
                        refused(&name, &|b| b[at] = 1, &padding);
                    }
                    if k % 4 != 0 {
                        let at = i8_at(offset, out, out - 1, k);
                        refused(&name, &|b| b[at] = 0xff, &padding);
                    }
                    // A row sum off by one, and a weight changed without its row sum.
                    let at = rowsum_at(offset, out, k, out / 2);
                    refused(&name, &|b| b[at] ^= 1, "is not its weights' sum");
                    if out % 16 != 0 {
                        let at = rowsum_at(offset, out, k, out);
                        refused(&name, &|b| b[at] = 1, "is not its weights' sum");
                    }
                    let at = i8_at(offset, out, out - 1, k - 1);
                    let says = format!("{name}: stored row sum");
                    refused(&name, &|b| b[at] = b[at].wrapping_add(1) & 0x7f, &says);
                    checked += 5;
                } else if !row_major && out % 16 != 0 {
                    let at = offset + (k - 1) * pad16(out) * size + out * size;
                    refused(&name, &|b| b[at] = 1, &padding);
                    checked += 1;
                }
            }
            let vectors = [(l.scales, "scales"), (l.bias, "bias")];
            for (v, what) in vectors.into_iter().filter_map(|(v, w)| Some((v?, w))) {
                if out % 16 != 0 {
                    let at = v + 4 * out;
                    let says = format!("{what} of linear layer {i}: padding is not zero");
                    refused(what, &|b| b[at] = 1, &says);
                    checked += 1;
                }
            }
        }
        // Layout: a part's section entry with the other layout's dtype, or transposed.
        let l = layout
            .linears
            .iter()
            .find(|l| l.candidate.is_some())
            .unwrap();
        let entry = (1..)
            .map(|s| HEADER + s * ENTRY)
            .find(|&e| get_u64(&good, e + 8) == l.candidate.unwrap() as u64)
            .unwrap();
        let dtype = u32::from_le_bytes(good[entry + 4..entry + 8].try_into().unwrap());
        let other = if dtype >= 4 {
            l.dtype as u32
        } else {
            dtype + 3
        };
        refused("row-major dtype", &|b| put_u32(b, entry + 4, other), "");
        refused(
            "transposed",
            &|b| {
                let (r, c) = (
                    b[entry + 24..entry + 28].to_vec(),
                    b[entry + 28..entry + 32].to_vec(),
                );
                b[entry + 24..entry + 28].copy_from_slice(&c);
                b[entry + 28..entry + 32].copy_from_slice(&r);
            },
            "",
        );
        checked += 2;
    }
    assert!(checked > 60, "{checked}");
}

#[test]
fn non_finite_values_are_refused_naming_the_tensor() {
    // Issue 11.2: NaN or ±inf in a weight, an embedding row, a scale or a bias used to
    // load and rank to NaN scores, which the C ABI also uses for "not eligible".
    let spec = ModelSpec::random(tiny_config(2, 2, 1, 3, &[4], &[3]), 5);
    let f32s = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY].map(|v| v.to_le_bytes().to_vec());
    let f16s = [0x7e00u16, 0x7c00, 0xfc00].map(|v| v.to_le_bytes().to_vec());
    let more = [0.0f32, -1.0].map(|v| v.to_le_bytes().to_vec());
    let mut planted = 0;
    for opts in [WriteOptions::F32, WriteOptions::F16, WriteOptions::INT8] {
        let good = write_model(&spec, opts).unwrap();
        let layout = layout_of(&good);
        let embeddings = layout.config.fields.iter().zip(&layout.embeddings);
        for (f, t) in embeddings.filter_map(|(f, t)| t.map(|t| (f, t))) {
            let name = format!("embedding of field {}", f.name);
            let last = t.rows * t.cols - 1;
            match t.dtype {
                DType::F32 | DType::F16 => {
                    let bad = if t.dtype == DType::F32 { &f32s } else { &f16s };
                    for (k, v) in bad.iter().enumerate() {
                        // First, a middle row (an embedding row past the missing row), last.
                        let at = [0, t.cols * (t.rows / 2) + 1, last][k];
                        plant_refused(&good, t.offset, at, v, &name);
                        planted += 1;
                    }
                }
                DType::I8 => {
                    let name = format!("scales of the {name}");
                    for (k, v) in f32s.iter().chain(&more).enumerate() {
                        plant_refused(&good, t.scales.unwrap(), k % t.rows, v, &name);
                        planted += 1;
                    }
                }
            }
        }
        for (i, l) in layout.linears.iter().enumerate() {
            let out = l.outputs;
            if let Some(b) = l.bias {
                for bad in &f32s {
                    let name = format!("bias of linear layer {i}");
                    plant_refused(&good, b, out - 1, bad, &name);
                    planted += 1;
                }
            }
            if let Some(s) = l.scales {
                let name = format!("scales of linear layer {i}");
                for (k, v) in f32s.iter().chain(&more).enumerate() {
                    plant_refused(&good, s, k % out, v, &name);
                    planted += 1;
                }
            }
            if l.dtype == DType::I8 {
                continue;
            }
            let bad = if l.dtype == DType::F32 { &f32s } else { &f16s };
            for (name, offset, k, row_major) in parts(l, i) {
                // Element (output o, column c): row-major [out][k] or packed [k][out_pad].
                let index = |o: usize, c: usize| match row_major {
                    true => o * k + c,
                    false => c * pad16(out) + o,
                };
                for (j, v) in bad.iter().enumerate() {
                    let (o, c) = [(0, 0), (out / 2, k / 2), (out - 1, k - 1)][j];
                    plant_refused(&good, offset, index(o, c), v, &name);
                    planted += 1;
                }
            }
        }
    }
    assert!(planted > 100, "{planted}");
}

#[test]
fn config_section_entry_and_dense_fields_are_checked() {
    let spec = ModelSpec::random(tiny_config(2, 1, 1, 0, &[4], &[]), 9);
    let good = write_model(&spec, WriteOptions::INT8).unwrap();
    let refused = |what: &str, edit: &dyn Fn(&mut Vec<u8>), says: &str| {
        refused_after(&good, what, edit, says)
    };
    // The config's section entry: dtype, rows and cols are 0.
    for (what, at) in [("dtype", 4), ("rows", 24), ("cols", 28)] {
        for v in [1, 3, u32::MAX] {
            refused(
                &format!("config {what} {v}"),
                &|b| put_u32(b, HEADER + at, v),
                "section 0 (config)",
            );
        }
    }
    // A field's record: name, side u8, kind u8, missing u8, reserved u8, vocab u32,
    // dim u32. "minutes" is a dense field of tiny_config.
    let cfg = get_u64(&good, HEADER + 8) as usize;
    let mut key = 7u32.to_le_bytes().to_vec();
    key.extend_from_slice(b"minutes");
    let rec = cfg
        + good[cfg..]
            .windows(key.len())
            .position(|w| w == key)
            .unwrap()
        + key.len();
    assert_eq!(good[rec + 1], 1, "kind dense");
    refused(
        "reserved byte",
        &|b| b[rec + 3] = 1,
        "field minutes: reserved byte",
    );
    for vocab in [1, 2, 1000] {
        refused(
            &format!("dense vocab {vocab}"),
            &|b| put_u32(b, rec + 4, vocab),
            "field minutes: dense field has vocab",
        );
    }
    for dim in [0, 2, 16] {
        refused(
            &format!("dense dim {dim}"),
            &|b| put_u32(b, rec + 8, dim),
            "field minutes: dense field has vocab",
        );
    }
}

#[test]
fn writer_refuses_values_it_cannot_store() {
    let spec = ModelSpec::random(tiny_config(2, 2, 1, 3, &[4], &[3]), 11);
    let refused = |spec: &ModelSpec, opts: WriteOptions, says: &str| {
        let e = write_model(spec, opts).unwrap_err();
        assert_eq!(e.status(), camoe::Status::BadModel, "{e:?}");
        assert!(e.message().starts_with(says), "{says}: {e:?}");
    };
    for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
        for opts in [WriteOptions::F32, WriteOptions::F16, WriteOptions::INT8] {
            let mut s = spec.clone();
            s.linears[3].weight[5] = bad;
            refused(&s, opts, "weight of linear layer 3: value");
            let mut s = spec.clone();
            s.linears[2].bias[1] = bad;
            refused(&s, opts, "bias of linear layer 2: value");
            let mut s = spec.clone();
            s.embeddings[0].as_mut().unwrap()[9] = bad;
            refused(&s, opts, "embedding of field user: value");
        }
    }
    // Finite, but beyond f16's range: refused only where it would be stored as f16.
    let mut s = spec.clone();
    s.linears[0].weight[0] = 1e6;
    refused(
        &s,
        WriteOptions::F16,
        "weight of linear layer 0: value 1000000 at [0][0]",
    );
    for opts in [WriteOptions::F32, WriteOptions::INT8] {
        assert!(camoe::Model::from_bytes(&write_model(&s, opts).unwrap()).is_ok());
    }
}
