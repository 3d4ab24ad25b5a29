//! Fuzz target: the columnar rank call through the C ABI (`camoe_session_rank_columns`)
//! on a valid tiny model, with a batch decoded from the fuzzer's bytes: column kinds
//! (including unknown ones), fields, ids, floats, text with offsets that may decrease
//! or run past the text, missing flags, tasks, optional bids, options and a short order
//! array. A refused call writes nothing; an accepted one scores exactly (bit for bit)
//! like the per-candidate call on the same values, and a value the per-candidate call
//! refuses as BAD_FEATURE is refused the same way.
#![no_main]

use std::sync::{Arc, OnceLock};

use camoe::ffi::*;
use camoe::spec::Side;
use camoe::{write_model, Candidate, Feature, Model, ModelSpec, Session, Status, Value, WriteOptions};
use camoe_fuzz::{fixed_features, tiny_config, Bytes};
use libfuzzer_sys::fuzz_target;

const MAX_CANDIDATES: usize = 8;

/// The tiny model's file in each weight type, and the model loaded from it.
fn models() -> &'static [(Vec<u8>, Arc<Model>); 3] {
    static MODELS: OnceLock<[(Vec<u8>, Arc<Model>); 3]> = OnceLock::new();
    MODELS.get_or_init(|| {
        let spec = ModelSpec::random(tiny_config(), 11);
        [WriteOptions::F32, WriteOptions::F16, WriteOptions::INT8].map(|o| {
            let file = write_model(&spec, o).unwrap();
            let model = Model::from_bytes(&file).unwrap();
            (file, model)
        })
    })
}

/// One decoded column, owning its arrays.
struct Col {
    field: u32,
    kind: i32,
    ids: Vec<u64>,
    dense: Vec<f32>,
    text: Vec<u8>,
    offsets: Vec<u32>,
    missing: Option<Vec<u8>>,
}

fn column(b: &mut Bytes, fields: usize, n: usize) -> Col {
    let field = (b.u8() as usize % (fields + 2)) as u32;
    let kind = match b.u8() % 8 {
        0 => CAMOE_VALUE_MISSING,
        1 | 2 => CAMOE_VALUE_ID,
        3 | 4 => CAMOE_VALUE_STR,
        5 | 6 => CAMOE_VALUE_DENSE,
        _ => 42,
    };
    let ids = (0..n).map(|_| b.u64()).collect();
    let dense = (0..n).map(|_| b.f32()).collect();
    let text_len = b.u8() as usize % 40;
    let text = b.take(text_len).to_vec();
    // Mostly well-formed offsets (non-decreasing, within the text), sometimes raw bytes.
    let offsets = if b.u8() % 4 != 0 {
        let mut at = 0u32;
        (0..=n)
            .map(|i| {
                if i > 0 {
                    at = (at + (b.u8() % 6) as u32).min(text.len() as u32);
                }
                at
            })
            .collect()
    } else {
        (0..=n).map(|_| b.u8() as u32).collect()
    };
    let missing = (b.u8() % 3 == 0).then(|| (0..n).map(|_| (b.u8() % 4 == 0) as u8).collect());
    Col {
        field,
        kind,
        ids,
        dense,
        text,
        offsets,
        missing,
    }
}

impl Col {
    fn c(&self) -> camoe_column {
        camoe_column {
            field: self.field,
            kind: self.kind,
            ids: self.ids.as_ptr(),
            dense: self.dense.as_ptr(),
            text: self.text.as_ptr().cast(),
            text_len: self.text.len(),
            text_offsets: self.offsets.as_ptr(),
            missing: self.missing.as_ref().map_or(core::ptr::null(), |m| m.as_ptr()),
        }
    }

    /// Candidate `i`'s value as a feature (only for a column the library accepted).
    fn feature(&self, i: usize) -> Feature<'_> {
        let value = match (&self.missing, self.kind) {
            (Some(m), _) if m[i] != 0 => Value::Missing,
            (_, CAMOE_VALUE_ID) => Value::Id(self.ids[i]),
            (_, CAMOE_VALUE_DENSE) => Value::Dense(self.dense[i]),
            _ => Value::Str(&self.text[self.offsets[i] as usize..self.offsets[i + 1] as usize]),
        };
        Feature {
            field: self.field,
            value,
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let (bytes, model) = &models()[b.u8() as usize % 3];
    let cfg = model.config().clone();
    let (fields, tasks) = (cfg.fields.len(), cfg.tasks.len());
    let n = b.u8() as usize % (MAX_CANDIDATES + 1);
    let task_ids: Vec<u32> = (0..n).map(|_| (b.u8() as usize % (tasks + 1)) as u32).collect();
    let bids: Option<Vec<f32>> = (b.u8() % 2 == 0).then(|| {
        (0..n)
            .map(|_| match b.u8() {
                0..=223 => b.u8() as f32 / 16.0,
                _ => b.f32(),
            })
            .collect()
    });
    let cols: Vec<Col> = (0..b.u8() % 5).map(|_| column(&mut b, fields, n)).collect();
    let opts = b.options(cfg.arch.experts as usize);
    let order_cap = b.u8() as usize % (n + 2);

    // The C side: a session on a copy of the model, the fixed request, the batch.
    let (mut cm, mut cs) = (core::ptr::null_mut(), core::ptr::null_mut());
    assert_eq!(camoe_model_load_bytes_copy(bytes.as_ptr(), bytes.len(), &mut cm), Status::Ok);
    assert_eq!(camoe_session_new(cm, MAX_CANDIDATES, &mut cs), Status::Ok);
    let req = fixed_features(&cfg, Side::Request);
    let creq: Vec<camoe_feature> = req.iter().map(camoe_feature::from_rust).collect();
    assert_eq!(camoe_session_set_request(cs, creq.as_ptr(), creq.len()), Status::Ok);
    let ccols: Vec<camoe_column> = cols.iter().map(Col::c).collect();
    let batch = camoe_candidate_columns {
        struct_size: core::mem::size_of::<camoe_candidate_columns>() as u32,
        n,
        tasks: task_ids.as_ptr(),
        bids: bids.as_ref().map_or(core::ptr::null(), |v| v.as_ptr()),
        columns: ccols.as_ptr(),
        n_columns: ccols.len(),
    };
    let copts = camoe_rank_options::from_rust(&opts);
    let (mut scores, mut order, mut len) = (vec![-7.0f32; n], vec![u32::MAX; order_cap], 99usize);
    let st = camoe_session_rank_columns(
        cs,
        &batch,
        &copts,
        scores.as_mut_ptr(),
        order.as_mut_ptr(),
        order_cap,
        &mut len,
    );
    camoe_session_free(&mut cs);
    camoe_model_free(&mut cm);
    if st != Status::Ok {
        assert!(st != Status::Panic, "{}", last_error_message());
        assert!(scores.iter().all(|&s| s == -7.0) && len == 99, "written on error");
        assert!(order.iter().all(|&o| o == u32::MAX), "order written on error");
    }

    // The Rust side, per candidate, on the same values (when the shape was accepted).
    if st == Status::Ok || st == Status::BadFeature {
        let feats: Vec<Vec<Feature>> = (0..n).map(|i| cols.iter().map(|c| c.feature(i)).collect()).collect();
        let list: Vec<Candidate> = (0..n)
            .map(|i| Candidate {
                task: task_ids[i],
                bid: bids.as_ref().map_or(0.0, |v| v[i]),
                features: &feats[i],
            })
            .collect();
        let mut s = Session::new(model.clone(), MAX_CANDIDATES).unwrap();
        s.set_request(&req).unwrap();
        let (mut rs, mut ro) = (vec![-7.0f32; n], vec![u32::MAX; order_cap]);
        match s.rank(&list, &opts, &mut rs, &mut ro) {
            Ok(k) => {
                assert_eq!(st, Status::Ok, "columns refused what candidates accept: {}", last_error_message());
                let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!((k, bits(&rs), &ro), (len, bits(&scores), &order), "columns differ");
            }
            Err(e) => assert_eq!(st, e.status(), "columns and candidates disagree: {e}"),
        }
    }
});
