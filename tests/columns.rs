//! The columnar batch ranks exactly like the per-candidate list (bit for bit, same
//! errors), refuses a batch of the wrong shape, and allocates nothing.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use camoe::hash::SplitMix;
use camoe::spec::{FieldKind, ModelSpec, Side};
use camoe::{
    write_model, Candidate, CandidateColumns, Column, ColumnValues, Feature, Model, ModelConfig,
    Objective, RankOptions, Session, Status, Value, WriteOptions,
};
use common::*;

/// Counts this thread's allocations only, so tests running alongside do not count.
struct Counting;
thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    // try_with: the thread-local may be gone while a thread shuts down.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

// SAFETY: forwards to the system allocator; only counts calls (a const thread-local
// Cell, which itself never allocates).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A batch held both ways: owned columns, and per-candidate features for the same values.
struct Batch {
    tasks: Vec<u32>,
    bids: Vec<f32>,
    fields: Vec<u32>,
    values: Vec<Owned2>,
    missing: Vec<Vec<u8>>,
}

enum Owned2 {
    Ids(Vec<u64>),
    Text(Vec<u8>, Vec<u32>),
    Dense(Vec<f32>),
}

/// `n` candidates; each categorical field is a text or an id column (by `text_fields`),
/// with some values missing; dense fields are float columns.
fn batch(cfg: &ModelConfig, n: usize, rng: &mut SplitMix, as_text: bool) -> Batch {
    let tasks = (0..n)
        .map(|_| rng.below(cfg.tasks.len() as u64) as u32)
        .collect();
    let bids = (0..n).map(|_| rng.below(1000) as f32 / 100.0).collect();
    let (mut fields, mut values, mut missing) = (vec![], vec![], vec![]);
    for (i, f) in cfg.fields.iter().enumerate() {
        if f.side != Side::Candidate {
            continue;
        }
        fields.push(i as u32);
        missing.push((0..n).map(|_| (rng.below(5) == 0) as u8).collect());
        values.push(match f.kind {
            FieldKind::Categorical { .. } if as_text => {
                let (mut bytes, mut offsets) = (vec![], vec![0u32]);
                for _ in 0..n {
                    bytes.extend(format!("v{}", rng.below(500)).bytes());
                    offsets.push(bytes.len() as u32);
                }
                Owned2::Text(bytes, offsets)
            }
            FieldKind::Categorical { .. } => Owned2::Ids((0..n).map(|_| rng.next_u64()).collect()),
            FieldKind::Dense { .. } => Owned2::Dense((0..n).map(|_| rng.normal() * 3.0).collect()),
        });
    }
    Batch {
        tasks,
        bids,
        fields,
        values,
        missing,
    }
}

impl Batch {
    fn columns(&self) -> Vec<Column<'_>> {
        self.fields
            .iter()
            .zip(&self.values)
            .zip(&self.missing)
            .map(|((&field, v), m)| Column {
                field,
                values: match v {
                    Owned2::Ids(v) => ColumnValues::Ids(v),
                    Owned2::Text(b, o) => ColumnValues::Text {
                        bytes: b,
                        offsets: o,
                    },
                    Owned2::Dense(v) => ColumnValues::Dense(v),
                },
                missing: Some(m),
            })
            .collect()
    }

    /// The same values as per-candidate features (missing ones as `Value::Missing`).
    fn rows(&self) -> Vec<Vec<Feature<'_>>> {
        (0..self.tasks.len())
            .map(|i| {
                self.fields
                    .iter()
                    .zip(&self.values)
                    .zip(&self.missing)
                    .map(|((&field, v), m)| Feature {
                        field,
                        value: if m[i] != 0 {
                            Value::Missing
                        } else {
                            match v {
                                Owned2::Ids(v) => Value::Id(v[i]),
                                Owned2::Text(b, o) => {
                                    Value::Str(&b[o[i] as usize..o[i + 1] as usize])
                                }
                                Owned2::Dense(v) => Value::Dense(v[i]),
                            }
                        },
                    })
                    .collect()
            })
            .collect()
    }
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn columns_rank_like_candidates_and_allocate_nothing() {
    for (cfg, opts) in [
        (ModelConfig::demo(), WriteOptions::INT8),
        (tiny_config(3, 3, 2, 4, &[8], &[4]), WriteOptions::F16),
        (tiny_config(2, 2, 0, 0, &[8], &[]), WriteOptions::F32),
    ] {
        let spec = ModelSpec::random(cfg, 4);
        let model = Model::from_bytes(&write_model(&spec, opts).unwrap()).unwrap();
        let mut session = Session::new(model.clone(), 200).unwrap();
        let mut rng = SplitMix(2);
        let req = random_side(&spec.config, Side::Request, &mut rng);
        session.set_request(&borrow(&req)).unwrap();
        for (n, as_text) in [(0, true), (1, false), (37, true), (200, false), (200, true)] {
            let b = batch(&spec.config, n, &mut rng, as_text);
            let cols = b.columns();
            let rows = b.rows();
            let cands: Vec<Candidate> = rows
                .iter()
                .enumerate()
                .map(|(i, f)| Candidate {
                    task: b.tasks[i],
                    bid: b.bids[i],
                    features: f,
                })
                .collect();
            for ro in [
                RankOptions::default(),
                RankOptions {
                    top_k: 5,
                    objective: Objective::ExpectedValue,
                    eligible_formats: 0b101,
                    expert_top_k: 2,
                },
            ] {
                let (mut s1, mut o1) = (vec![0.0; n], vec![0; n]);
                let k1 = session.rank(&cands, &ro, &mut s1, &mut o1).unwrap();
                let (mut s2, mut o2) = (vec![0.0; n], vec![0; n]);
                let before = allocations();
                let batch = CandidateColumns::new(&b.tasks, Some(&b.bids), &cols[..]).unwrap();
                let k2 = session.rank_columns(&batch, &ro, &mut s2, &mut o2).unwrap();
                assert_eq!(allocations() - before, 0, "rank_columns allocated");
                assert_eq!(
                    (k1, &o1),
                    (k2, &o2),
                    "orders differ (n {n}, text {as_text})"
                );
                assert_eq!(
                    bits(&s1),
                    bits(&s2),
                    "scores differ (n {n}, text {as_text})"
                );
            }
        }
    }
}

#[test]
fn bad_values_and_shapes_are_refused() {
    let spec = ModelSpec::random(tiny_config(2, 2, 1, 0, &[8], &[]), 1);
    let model = Model::from_bytes(&write_model(&spec, WriteOptions::INT8).unwrap()).unwrap();
    let mut session = Session::new(model.clone(), 16).unwrap();
    let mut rng = SplitMix(3);
    session
        .set_request(&borrow(&random_side(&spec.config, Side::Request, &mut rng)))
        .unwrap();
    let b = batch(&spec.config, 4, &mut rng, true);
    let cols = b.columns();
    let (mut scores, mut order) = ([0.0f32; 4], [0u32; 4]);
    let status = |r: Result<CandidateColumns, camoe::Error>| r.unwrap_err().status();

    // Shapes: a short column, short offsets, decreasing offsets, offsets past the text,
    // short missing flags, short bids.
    let ids = [1u64, 2, 3];
    let short = [Column {
        field: b.fields[0],
        values: ColumnValues::Ids(&ids),
        missing: None,
    }];
    assert_eq!(
        status(CandidateColumns::new(&b.tasks, None, &short[..])),
        Status::InvalidArgument
    );
    let text = b"abcdef";
    for offsets in [&[0u32, 1, 2, 3][..], &[0, 2, 1, 3, 4], &[0, 1, 2, 3, 7]] {
        let c = [Column {
            field: b.fields[0],
            values: ColumnValues::Text {
                bytes: text,
                offsets,
            },
            missing: None,
        }];
        assert_eq!(
            status(CandidateColumns::new(&b.tasks, None, &c[..])),
            Status::InvalidArgument,
            "offsets {offsets:?}"
        );
    }
    let flags = [0u8; 3];
    let c = [Column {
        missing: Some(&flags),
        ..cols[0]
    }];
    assert_eq!(
        status(CandidateColumns::new(&b.tasks, None, &c[..])),
        Status::InvalidArgument
    );
    assert_eq!(
        status(CandidateColumns::new(&b.tasks, Some(&[1.0; 3]), &cols)),
        Status::InvalidArgument
    );

    // Values: the same rules and statuses as per-candidate features.
    let ok = CandidateColumns::new(&b.tasks, None, &cols[..]).unwrap();
    let ev = RankOptions {
        objective: Objective::ExpectedValue,
        ..RankOptions::default()
    };
    assert_eq!(
        session
            .rank_columns(&ok, &ev, &mut scores, &mut order)
            .unwrap_err()
            .status(),
        Status::InvalidArgument,
        "expected value without bids"
    );
    let dense_at = cols
        .iter()
        .position(|c| matches!(c.values, ColumnValues::Dense(_)))
        .unwrap();
    let nan = [1.0, f32::NAN, 2.0, 3.0];
    let mut with_nan = cols.clone();
    with_nan[dense_at] = Column {
        values: ColumnValues::Dense(&nan),
        missing: None,
        ..cols[dense_at]
    };
    let tasks = [0u32; 4];
    let nb = CandidateColumns::new(&tasks, None, &with_nan[..]).unwrap();
    let e = session
        .rank_columns(&nb, &RankOptions::default(), &mut scores, &mut order)
        .unwrap_err();
    assert_eq!(e.status(), Status::BadFeature);
    assert!(
        e.to_string().contains("candidate 1") && e.to_string().contains("NaN"),
        "{e}"
    );
    let twice = [cols[0], cols[0]];
    let tb = CandidateColumns::new(&tasks, None, &twice[..]).unwrap();
    assert_eq!(
        session
            .rank_columns(&tb, &RankOptions::default(), &mut scores, &mut order)
            .unwrap_err()
            .status(),
        Status::BadFeature
    );
    let bad_task = [0u32, 1, 99, 0];
    let bt = CandidateColumns::new(&bad_task, None, &cols[..]).unwrap();
    assert_eq!(
        session
            .rank_columns(&bt, &RankOptions::default(), &mut scores, &mut order)
            .unwrap_err()
            .status(),
        Status::BadFeature
    );
}

#[test]
fn the_c_abi_columns_rank_like_the_rust_ones_and_allocate_nothing() {
    use camoe::ffi::*;
    let spec = ModelSpec::random(ModelConfig::demo(), 6);
    let bytes = write_model(&spec, WriteOptions::INT8).unwrap();
    let model = Model::from_bytes(&bytes).unwrap();
    let mut rust = Session::new(model, 200).unwrap();
    let mut rng = SplitMix(9);
    let req = random_side(&spec.config, Side::Request, &mut rng);
    rust.set_request(&borrow(&req)).unwrap();
    let (mut cm, mut cs) = (std::ptr::null_mut(), std::ptr::null_mut());
    assert_eq!(
        camoe_model_load_bytes_copy(bytes.as_ptr(), bytes.len(), &mut cm),
        Status::Ok
    );
    assert_eq!(camoe_session_new(cm, 200, &mut cs), Status::Ok);
    let creq = c_features(&borrow(&req));
    assert_eq!(
        camoe_session_set_request(cs, creq.as_ptr(), creq.len()),
        Status::Ok
    );
    for as_text in [false, true] {
        let b = batch(&spec.config, 200, &mut rng, as_text);
        let cols = b.columns();
        let ccols: Vec<camoe_column> = cols
            .iter()
            .map(|c| {
                let mut cc = camoe_column {
                    field: c.field,
                    kind: 0,
                    ids: std::ptr::null(),
                    dense: std::ptr::null(),
                    text: std::ptr::null(),
                    text_len: 0,
                    text_offsets: std::ptr::null(),
                    missing: c.missing.map_or(std::ptr::null(), |m| m.as_ptr()),
                };
                match c.values {
                    ColumnValues::Ids(v) => (cc.kind, cc.ids) = (CAMOE_VALUE_ID, v.as_ptr()),
                    ColumnValues::Dense(v) => (cc.kind, cc.dense) = (CAMOE_VALUE_DENSE, v.as_ptr()),
                    ColumnValues::Text { bytes, offsets } => {
                        (cc.kind, cc.text, cc.text_len, cc.text_offsets) = (
                            CAMOE_VALUE_STR,
                            bytes.as_ptr().cast(),
                            bytes.len(),
                            offsets.as_ptr(),
                        )
                    }
                }
                cc
            })
            .collect();
        let cbatch = camoe_candidate_columns {
            struct_size: std::mem::size_of::<camoe_candidate_columns>() as u32,
            n: 200,
            tasks: b.tasks.as_ptr(),
            bids: b.bids.as_ptr(),
            columns: ccols.as_ptr(),
            n_columns: ccols.len(),
        };
        let (mut s1, mut o1) = (vec![0.0; 200], vec![0; 200]);
        let k1 = rust
            .rank_columns(
                &CandidateColumns::new(&b.tasks, Some(&b.bids), &cols[..]).unwrap(),
                &RankOptions::default(),
                &mut s1,
                &mut o1,
            )
            .unwrap();
        let (mut s2, mut o2, mut k2) = (vec![0.0; 200], vec![0; 200], 0);
        let before = allocations();
        let st = camoe_session_rank_columns(
            cs,
            &cbatch,
            std::ptr::null(),
            s2.as_mut_ptr(),
            o2.as_mut_ptr(),
            200,
            &mut k2,
        );
        assert_eq!(
            allocations() - before,
            0,
            "camoe_session_rank_columns allocated"
        );
        assert_eq!(st, Status::Ok, "{}", last_error_message());
        assert_eq!((k1, &o1), (k2, &o2));
        assert_eq!(bits(&s1), bits(&s2));
    }
    camoe_session_free(&mut cs);
    camoe_model_free(&mut cm);
}
