//! The ranking's rules for careless callers: a failed `set_request` keeps the previous
//! request, options a model cannot honour and bad bids are refused with a status, and
//! a refused call writes nothing.

mod common;

use std::sync::Arc;

use camoe::hash::SplitMix;
use camoe::spec::{ModelSpec, Side};
use camoe::{
    write_model, Candidate, Feature, Model, Objective, RankOptions, Session, Status, Value,
    WriteOptions,
};
use common::*;

struct Fixture {
    model: Arc<Model>,
    req_a: Vec<(u32, Owned)>,
    req_b: Vec<(u32, Owned)>,
    cands: Vec<(u32, Vec<(u32, Owned)>)>,
}

fn fixture() -> Fixture {
    // 4 experts, 2 groups, 3 formats (audio, video, display), tasks 0..5.
    let spec = ModelSpec::random(tiny_config(4, 2, 1, 0, &[6], &[3]), 11);
    let model = Model::from_bytes(&write_model(&spec, WriteOptions::INT8).unwrap()).unwrap();
    let mut rng = SplitMix(5);
    let req_a = random_side(&spec.config, Side::Request, &mut rng);
    let req_b = random_side(&spec.config, Side::Request, &mut rng);
    let cands = random_candidates(&spec.config, 20, 5, &mut rng);
    Fixture {
        model,
        req_a,
        req_b,
        cands,
    }
}

/// Scores and order of one ranking, as bits so NaN compares.
fn rank_bits(
    s: &mut Session,
    cands: &[Candidate<'_>],
    opts: &RankOptions,
) -> Result<(Vec<u32>, Vec<u32>), Status> {
    let (mut scores, mut order) = (vec![f32::NAN; cands.len()], vec![u32::MAX; cands.len()]);
    match s.rank(cands, opts, &mut scores, &mut order) {
        Ok(k) => Ok((
            scores.iter().map(|v| v.to_bits()).collect(),
            order[..k].to_vec(),
        )),
        Err(e) => {
            assert!(
                scores.iter().all(|v| v.is_nan()) && order.iter().all(|&o| o == u32::MAX),
                "a refused rank wrote its outputs ({e})"
            );
            Err(e.status())
        }
    }
}

/// The name of the first request field that is dense, for planting a NaN.
fn dense_request_field(model: &Model) -> u32 {
    let cfg = model.config();
    (0..cfg.fields.len() as u32)
        .find(|&i| {
            let f = &cfg.fields[i as usize];
            f.side == Side::Request && f.width() == 1 && f.name == "minutes"
        })
        .expect("tiny config has a dense request field")
}

#[test]
fn failed_set_request_keeps_the_previous_request() {
    let fx = fixture();
    let feats = borrow_candidates(&fx.cands);
    let list = candidate_list(&feats);
    let opts = RankOptions::default();
    let mut s = Session::new(fx.model.clone(), 32).unwrap();

    s.set_request(&borrow(&fx.req_a)).unwrap();
    let a = rank_bits(&mut s, &list, &opts).unwrap();
    s.set_request(&borrow(&fx.req_b)).unwrap();
    let b = rank_bits(&mut s, &list, &opts).unwrap();
    assert_ne!(
        a.0, b.0,
        "the two requests must score differently for this test to mean anything"
    );

    // Valid request B is in effect; a bad request (NaN dense value, after valid fields
    // were already encoded) fails and leaves B in effect, bit for bit.
    let nan = Feature {
        field: dense_request_field(&fx.model),
        value: Value::Dense(f32::NAN),
    };
    let mut bad = borrow(&fx.req_a);
    bad.retain(|f| f.field != nan.field);
    bad.push(nan);
    let e = s.set_request(&bad).unwrap_err();
    assert_eq!(e.status(), Status::BadFeature, "{e}");
    assert_eq!(rank_bits(&mut s, &list, &opts).unwrap(), b);

    // An unknown field index fails the same way.
    let unknown = [Feature {
        field: 999,
        value: Value::Id(1),
    }];
    assert_eq!(
        s.set_request(&unknown).unwrap_err().status(),
        Status::BadFeature
    );
    assert_eq!(rank_bits(&mut s, &list, &opts).unwrap(), b);

    // A session whose first request failed still has none.
    let mut fresh = Session::new(fx.model.clone(), 32).unwrap();
    assert!(fresh.set_request(&bad).is_err());
    assert_eq!(
        rank_bits(&mut fresh, &list, &opts).unwrap_err(),
        Status::BadFeature
    );
}

#[test]
fn failed_set_request_keeps_the_previous_request_through_the_c_abi() {
    use camoe::ffi::*;
    let spec = ModelSpec::random(tiny_config(4, 2, 1, 0, &[6], &[3]), 11);
    let path = std::env::temp_dir().join(format!("camoe-rank-rules-{}.camoe", std::process::id()));
    std::fs::write(&path, write_model(&spec, WriteOptions::INT8).unwrap()).unwrap();
    let cpath = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let fx = fixture();
    let good: Vec<camoe_feature> = c_features(&borrow(&fx.req_a));
    let mut bad = good.clone();
    bad.push(camoe_feature {
        text: core::ptr::null(),
        text_len: 0,
        id: 0,
        field: dense_request_field(&fx.model),
        kind: CAMOE_VALUE_DENSE,
        dense: f32::NAN,
    });
    let cands: Vec<Vec<camoe_feature>> = borrow_candidates(&fx.cands)
        .iter()
        .map(|(_, f)| c_features(f))
        .collect();
    let list: Vec<camoe_candidate> = fx
        .cands
        .iter()
        .zip(&cands)
        .map(|((task, _), f)| camoe_candidate {
            features: f.as_ptr(),
            n_features: f.len(),
            task: *task,
            bid: 1.0,
        })
        .collect();
    let rank = |session: *mut camoe_session| {
        let (mut scores, mut order, mut k) = (vec![0f32; list.len()], vec![0u32; list.len()], 0);
        let st = camoe_session_rank(
            session,
            list.as_ptr(),
            list.len(),
            core::ptr::null(),
            scores.as_mut_ptr(),
            order.as_mut_ptr(),
            order.len(),
            &mut k,
        );
        (
            st,
            scores.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            order[..k].to_vec(),
        )
    };

    let (mut model, mut session) = (core::ptr::null_mut(), core::ptr::null_mut());
    assert_eq!(
        camoe_model_load_file(cpath.as_ptr(), &mut model),
        camoe::Status::Ok
    );
    assert_eq!(
        camoe_session_new(model, 32, &mut session),
        camoe::Status::Ok
    );
    assert_eq!(
        camoe_session_set_request(session, good.as_ptr(), good.len()),
        camoe::Status::Ok
    );
    let want = rank(session);
    assert_eq!(want.0, camoe::Status::Ok);
    assert_eq!(
        camoe_session_set_request(session, bad.as_ptr(), bad.len()),
        camoe::Status::BadFeature
    );
    assert_eq!(rank(session), want);
    camoe_session_free(&mut session);
    camoe_model_free(&mut model);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn eligible_formats_must_select_a_format_and_expert_top_k_saturates() {
    let fx = fixture();
    let feats = borrow_candidates(&fx.cands);
    let list = candidate_list(&feats);
    let mut s = Session::new(fx.model.clone(), 32).unwrap();
    s.set_request(&borrow(&fx.req_a)).unwrap();
    let with = |f: &dyn Fn(&mut RankOptions)| {
        let mut o = RankOptions::default();
        f(&mut o);
        o
    };

    // expert_top_k at or above the expert count (4) is the unmasked model, bit for bit.
    let all = rank_bits(&mut s, &list, &RankOptions::default()).unwrap();
    for k in [4, 5, 1000] {
        assert_eq!(
            rank_bits(&mut s, &list, &with(&|o| o.expert_top_k = k)).unwrap(),
            all
        );
    }
    assert_ne!(
        rank_bits(&mut s, &list, &with(&|o| o.expert_top_k = 1)).unwrap(),
        all
    );

    // eligible_formats: none of the model's three formats selected is refused...
    for mask in [0u32, 1 << 3, 0xffff_fff8] {
        assert_eq!(
            rank_bits(&mut s, &list, &with(&|o| o.eligible_formats = mask)).unwrap_err(),
            Status::InvalidArgument,
            "mask {mask:#x}"
        );
    }
    // ...while bits past them are ignored: video plus unknown bits ranks as video alone.
    let video = rank_bits(&mut s, &list, &with(&|o| o.eligible_formats = 1 << 1)).unwrap();
    let noisy = rank_bits(
        &mut s,
        &list,
        &with(&|o| o.eligible_formats = (1 << 1) | (1 << 7) | (1 << 31)),
    )
    .unwrap();
    assert_eq!(video, noisy);
    assert!(!video.1.is_empty(), "some candidate must be video");
}

#[test]
fn bad_bids_are_refused_under_every_objective() {
    let fx = fixture();
    let feats = borrow_candidates(&fx.cands);
    let mut s = Session::new(fx.model.clone(), 32).unwrap();
    s.set_request(&borrow(&fx.req_a)).unwrap();
    for objective in [Objective::Pctr, Objective::ExpectedValue] {
        let opts = RankOptions {
            objective,
            ..RankOptions::default()
        };
        for bid in [
            f32::NAN,
            -1.0,
            -f32::MIN_POSITIVE,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            let mut list = candidate_list(&feats);
            list[7].bid = bid;
            assert_eq!(
                rank_bits(&mut s, &list, &opts).unwrap_err(),
                Status::BadFeature,
                "bid {bid} under {objective:?}"
            );
        }
        let mut list = candidate_list(&feats);
        list[7].bid = 0.0;
        list[8].bid = -0.0;
        rank_bits(&mut s, &list, &opts).unwrap();
    }
}
