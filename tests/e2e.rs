//! One end-to-end test body, run through two front doors: the Rust API and the C ABI
//! (the `extern "C"` functions called exactly as C would call them).

mod common;

use std::ffi::CStr;
use std::sync::Arc;

use camoe::ffi::*;
use camoe::hash::SplitMix;
use camoe::spec::{FieldKind, Missing, ModelSpec, Side};
use camoe::{
    write_model, Candidate, Feature, Model, Objective, RankOptions, Session, Status, Value,
    WriteOptions,
};
use common::*;

/// What the test body needs from a front door. Errors are (status, message).
trait Front {
    type M;
    type S;
    fn load(&self, bytes: &[u8]) -> Result<Self::M, (i32, String)>;
    fn info(&self, m: &Self::M) -> (u32, u32, u32, u32);
    fn field(&self, m: &Self::M, name: &str) -> Result<u32, (i32, String)>;
    fn task(&self, m: &Self::M, name: &str) -> Result<u32, (i32, String)>;
    fn session(&self, m: &Self::M, max: usize) -> Result<Self::S, (i32, String)>;
    fn set_request(&self, s: &mut Self::S, f: &[Feature]) -> Result<(), (i32, String)>;
    fn rank(
        &self,
        s: &mut Self::S,
        c: &[Candidate],
        o: &RankOptions,
        scores: &mut [f32],
        order: &mut [u32],
    ) -> Result<usize, (i32, String)>;
}

struct RustApi;

fn rust_err(e: camoe::Error) -> (i32, String) {
    (e.status() as i32, e.message().to_owned())
}

impl Front for RustApi {
    type M = Arc<Model>;
    type S = Session;
    fn load(&self, bytes: &[u8]) -> Result<Arc<Model>, (i32, String)> {
        Model::from_bytes(bytes).map_err(rust_err)
    }
    fn info(&self, m: &Arc<Model>) -> (u32, u32, u32, u32) {
        let c = m.config();
        (
            c.fields.len() as u32,
            c.tasks.len() as u32,
            c.groups.len() as u32,
            m.x0_width() as u32,
        )
    }
    fn field(&self, m: &Arc<Model>, name: &str) -> Result<u32, (i32, String)> {
        m.field_index(name)
            .ok_or((Status::BadFeature as i32, format!("unknown field {name:?}")))
    }
    fn task(&self, m: &Arc<Model>, name: &str) -> Result<u32, (i32, String)> {
        m.task_index(name)
            .ok_or((Status::BadFeature as i32, format!("unknown task {name:?}")))
    }
    fn session(&self, m: &Arc<Model>, max: usize) -> Result<Session, (i32, String)> {
        Session::new(m.clone(), max).map_err(rust_err)
    }
    fn set_request(&self, s: &mut Session, f: &[Feature]) -> Result<(), (i32, String)> {
        s.set_request(f).map_err(rust_err)
    }
    fn rank(
        &self,
        s: &mut Session,
        c: &[Candidate],
        o: &RankOptions,
        scores: &mut [f32],
        order: &mut [u32],
    ) -> Result<usize, (i32, String)> {
        s.rank(c, o, scores, order).map_err(rust_err)
    }
}

struct CAbi;

/// Owns a C model handle (freed through the ABI) and the bytes it may borrow.
struct CModel(*mut camoe_model, #[allow(dead_code)] Box<[u8]>);
impl Drop for CModel {
    fn drop(&mut self) {
        camoe_model_free(&mut self.0);
        assert!(self.0.is_null(), "free must NULL the handle");
    }
}
struct CSession(*mut camoe_session);
impl Drop for CSession {
    fn drop(&mut self) {
        camoe_session_free(&mut self.0);
        assert!(self.0.is_null());
    }
}

fn check(st: camoe_status) -> Result<(), (i32, String)> {
    if st == CAMOE_STATUS_OK {
        Ok(())
    } else {
        Err((st, camoe::ffi::last_error_message()))
    }
}

fn to_c(f: &[Feature]) -> Vec<camoe_feature> {
    f.iter()
        .map(|f| {
            let mut c = camoe_feature {
                text: std::ptr::null(),
                text_len: 0,
                id: 0,
                field: f.field,
                kind: CAMOE_VALUE_MISSING,
                dense: 0.0,
            };
            match f.value {
                Value::Missing => {}
                Value::Id(i) => (c.kind, c.id) = (CAMOE_VALUE_ID, i),
                Value::Str(s) => {
                    (c.kind, c.text, c.text_len) = (CAMOE_VALUE_STR, s.as_ptr().cast(), s.len())
                }
                Value::Dense(d) => (c.kind, c.dense) = (CAMOE_VALUE_DENSE, d),
            }
            c
        })
        .collect()
}

impl Front for CAbi {
    type M = CModel;
    type S = CSession;
    fn load(&self, bytes: &[u8]) -> Result<CModel, (i32, String)> {
        let mut m = std::ptr::null_mut();
        // An aligned buffer is borrowed, not copied: it must outlive the model, so the
        // handle owns it and frees it after the model (fields drop after Drop::drop).
        let keep: Box<[u8]> = bytes.to_vec().into_boxed_slice();
        check(camoe_model_load_bytes(keep.as_ptr(), keep.len(), &mut m))?;
        Ok(CModel(m, keep))
    }
    fn info(&self, m: &CModel) -> (u32, u32, u32, u32) {
        let mut i = camoe_model_info::default();
        check(camoe_model_get_info(m.0, &mut i)).unwrap();
        (i.n_fields, i.n_tasks, i.n_groups, i.x0_width)
    }
    fn field(&self, m: &CModel, name: &str) -> Result<u32, (i32, String)> {
        let mut out = u32::MAX;
        check(camoe_model_field_index(
            m.0,
            name.as_ptr().cast(),
            name.len(),
            &mut out,
        ))?;
        Ok(out)
    }
    fn task(&self, m: &CModel, name: &str) -> Result<u32, (i32, String)> {
        let mut out = u32::MAX;
        check(camoe_model_task_index(
            m.0,
            name.as_ptr().cast(),
            name.len(),
            &mut out,
        ))?;
        Ok(out)
    }
    fn session(&self, m: &CModel, max: usize) -> Result<CSession, (i32, String)> {
        let mut s = std::ptr::null_mut();
        check(camoe_session_new(m.0, max, &mut s))?;
        Ok(CSession(s))
    }
    fn set_request(&self, s: &mut CSession, f: &[Feature]) -> Result<(), (i32, String)> {
        let c = to_c(f);
        check(camoe_session_set_request(s.0, c.as_ptr(), c.len()))
    }
    fn rank(
        &self,
        s: &mut CSession,
        c: &[Candidate],
        o: &RankOptions,
        scores: &mut [f32],
        order: &mut [u32],
    ) -> Result<usize, (i32, String)> {
        let feats: Vec<Vec<camoe_feature>> = c.iter().map(|c| to_c(c.features)).collect();
        let cands: Vec<camoe_candidate> = c
            .iter()
            .zip(&feats)
            .map(|(c, f)| camoe_candidate {
                features: f.as_ptr(),
                n_features: f.len(),
                task: c.task,
                bid: c.bid,
            })
            .collect();
        let opts = camoe_rank_options {
            top_k: o.top_k as u32,
            objective: o.objective as i32,
            eligible_formats: o.eligible_formats,
            expert_top_k: o.expert_top_k as u32,
        };
        let mut len = usize::MAX;
        check(camoe_session_rank(
            s.0,
            cands.as_ptr(),
            cands.len(),
            &opts,
            scores.as_mut_ptr(),
            order.as_mut_ptr(),
            order.len(),
            &mut len,
        ))?;
        Ok(len)
    }
}

/// Everything a user of either front door relies on.
fn end_to_end<F: Front>(front: F) -> Vec<f32> {
    let mut cfg = tiny_config(4, 2, 2, 0, &[8], &[4]);
    cfg.fields.push(camoe::spec::FieldSpec {
        name: "required".into(),
        side: Side::Candidate,
        kind: FieldKind::Dense {
            mean: 0.0,
            std: 1.0,
            clip: 4.0,
        },
        missing: Missing::Error,
    });
    let spec = ModelSpec::random(cfg, 5);
    let bytes = write_model(&spec, WriteOptions::INT8).unwrap();

    // Bad bytes never load.
    assert_eq!(
        front.load(&bytes[..100]).err().unwrap().0,
        CAMOE_STATUS_BAD_MODEL
    );
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x10;
    let e = front.load(&flipped).err().unwrap();
    assert_eq!(e.0, CAMOE_STATUS_CHECKSUM, "{e:?}");
    assert!(e.1.contains("checksum"), "{}", e.1);

    let m = front.load(&bytes).unwrap();
    assert_eq!(front.info(&m), (7, 5, 2, 4 + 1 + 3 + 5 + 1 + 2 + 1));
    let user = front.field(&m, "user").unwrap();
    let minutes = front.field(&m, "minutes").unwrap();
    let ad = front.field(&m, "ad").unwrap();
    let required = front.field(&m, "required").unwrap();
    let e = front.field(&m, "no_such_field").unwrap_err();
    assert_eq!(e.0, CAMOE_STATUS_BAD_FEATURE);
    assert!(e.1.contains("no_such_field"), "{}", e.1);
    let audio_task = front.task(&m, "task0").unwrap();
    let video_task = front.task(&m, "task1").unwrap();

    let mut s = front.session(&m, 8).unwrap();
    // Ranking before any request is refused.
    let (mut scores, mut order) = (vec![-1.0f32; 8], vec![99u32; 8]);
    assert_eq!(
        front
            .rank(
                &mut s,
                &[],
                &RankOptions::default(),
                &mut scores,
                &mut order
            )
            .unwrap_err()
            .0,
        CAMOE_STATUS_BAD_FEATURE
    );

    front
        .set_request(
            &mut s,
            &[Feature::str(user, "alice"), Feature::dense(minutes, 12.0)],
        )
        .unwrap();
    let ads: Vec<[Feature; 2]> = (0..8)
        .map(|i| {
            [
                Feature::id(ad, 1000 + i),
                Feature::dense(required, i as f32 / 4.0),
            ]
        })
        .collect();
    let cands: Vec<Candidate> = ads
        .iter()
        .enumerate()
        .map(|(i, f)| Candidate {
            task: if i % 3 == 1 { video_task } else { audio_task },
            bid: 1.0 + i as f32,
            features: f,
        })
        .collect();

    // Full ranking.
    let k = front
        .rank(
            &mut s,
            &cands,
            &RankOptions::default(),
            &mut scores,
            &mut order,
        )
        .unwrap();
    assert_eq!(k, 8);
    assert!(scores.iter().all(|p| *p > 0.0 && *p < 1.0));
    let all_scores = scores.clone();
    let all_order = order.clone();
    let mut sorted: Vec<u32> = (0..8).collect();
    sorted.sort_by(|&a, &b| {
        scores[b as usize]
            .total_cmp(&scores[a as usize])
            .then(a.cmp(&b))
    });
    assert_eq!(order, sorted);

    // Top-k by expected value, audio only.
    let opts = RankOptions {
        top_k: 3,
        objective: Objective::ExpectedValue,
        eligible_formats: 1 << 0,
        expert_top_k: 0,
    };
    let k = front
        .rank(&mut s, &cands, &opts, &mut scores, &mut order)
        .unwrap();
    assert_eq!(k, 3);
    for (i, c) in cands.iter().enumerate() {
        if c.task == video_task {
            assert!(
                scores[i].is_nan(),
                "video must not be scored when only audio is eligible"
            );
        } else {
            assert_eq!(
                scores[i], all_scores[i],
                "eligibility must not change other scores"
            );
        }
    }
    let mut ev: Vec<u32> = (0..8)
        .filter(|&i| cands[i as usize].task != video_task)
        .collect();
    ev.sort_by(|&a, &b| {
        (cands[b as usize].bid * scores[b as usize])
            .total_cmp(&(cands[a as usize].bid * scores[a as usize]))
    });
    assert_eq!(&order[..3], &ev[..3]);

    // Error paths leave the outputs untouched.
    let before = (scores.clone(), order.clone());
    let nine: Vec<Candidate> = (0..9).map(|i| cands[i % 8]).collect();
    let mut big = vec![0.0; 9];
    assert_eq!(
        front
            .rank(&mut s, &nine, &RankOptions::default(), &mut big, &mut order)
            .unwrap_err()
            .0,
        CAMOE_STATUS_CAPACITY
    );
    let nan = [Feature::id(ad, 1), Feature::dense(required, f32::NAN)];
    let bad = [Candidate {
        task: audio_task,
        bid: 1.0,
        features: &nan,
    }];
    let e = front
        .rank(
            &mut s,
            &bad,
            &RankOptions::default(),
            &mut scores,
            &mut order,
        )
        .unwrap_err();
    assert_eq!(e.0, CAMOE_STATUS_BAD_FEATURE);
    assert!(e.1.contains("NaN") && e.1.contains("required"), "{}", e.1);
    let missing = [Feature::id(ad, 1)];
    let e = front
        .rank(
            &mut s,
            &[Candidate {
                task: audio_task,
                bid: 1.0,
                features: &missing,
            }],
            &RankOptions::default(),
            &mut scores,
            &mut order,
        )
        .unwrap_err();
    assert!(
        e.1.contains("required field required is missing"),
        "{}",
        e.1
    );
    let wrong_side = [Feature::id(user, 1), Feature::dense(required, 0.0)];
    assert_eq!(
        front
            .rank(
                &mut s,
                &[Candidate {
                    task: audio_task,
                    bid: 1.0,
                    features: &wrong_side
                }],
                &RankOptions::default(),
                &mut scores,
                &mut order
            )
            .unwrap_err()
            .0,
        CAMOE_STATUS_BAD_FEATURE
    );
    let twice = [
        Feature::id(ad, 1),
        Feature::id(ad, 2),
        Feature::dense(required, 0.0),
    ];
    assert_eq!(
        front
            .rank(
                &mut s,
                &[Candidate {
                    task: audio_task,
                    bid: 1.0,
                    features: &twice
                }],
                &RankOptions::default(),
                &mut scores,
                &mut order
            )
            .unwrap_err()
            .0,
        CAMOE_STATUS_BAD_FEATURE
    );
    let ok = [Feature::id(ad, 1), Feature::dense(required, 0.0)];
    assert_eq!(
        front
            .rank(
                &mut s,
                &[Candidate {
                    task: 77,
                    bid: 1.0,
                    features: &ok
                }],
                &RankOptions::default(),
                &mut scores,
                &mut order
            )
            .unwrap_err()
            .0,
        CAMOE_STATUS_BAD_FEATURE
    );
    let ev_opts = RankOptions {
        objective: Objective::ExpectedValue,
        ..RankOptions::default()
    };
    assert_eq!(
        front
            .rank(
                &mut s,
                &[Candidate {
                    task: audio_task,
                    bid: -1.0,
                    features: &ok
                }],
                &ev_opts,
                &mut scores,
                &mut order
            )
            .unwrap_err()
            .0,
        CAMOE_STATUS_BAD_FEATURE
    );
    assert_eq!(
        front
            .set_request(&mut s, &[Feature::dense(user, 1.0)])
            .unwrap_err()
            .0,
        CAMOE_STATUS_BAD_FEATURE
    );
    assert!(
        scores[..8] == before.0[..8]
            || scores
                .iter()
                .zip(&before.0)
                .all(|(a, b)| a.to_bits() == b.to_bits())
    );
    assert_eq!(order, before.1);

    // A failed set_request leaves the previous request in effect: the same ranking.
    assert_eq!(
        front
            .rank(
                &mut s,
                &cands,
                &RankOptions::default(),
                &mut scores,
                &mut order
            )
            .unwrap(),
        8
    );
    assert_eq!((&scores, &order), (&all_scores, &all_order));

    // Infinite and out-of-range dense values clamp to ±clip (both give the same score).
    front
        .set_request(
            &mut s,
            &[
                Feature::str(user, "alice"),
                Feature::dense(minutes, f32::INFINITY),
            ],
        )
        .unwrap();
    let one = [Candidate {
        task: audio_task,
        bid: 1.0,
        features: &ok,
    }];
    front
        .rank(
            &mut s,
            &one,
            &RankOptions::default(),
            &mut scores,
            &mut order,
        )
        .unwrap();
    let inf = scores[0];
    front
        .set_request(
            &mut s,
            &[Feature::str(user, "alice"), Feature::dense(minutes, 1e6)],
        )
        .unwrap();
    front
        .rank(
            &mut s,
            &one,
            &RankOptions::default(),
            &mut scores,
            &mut order,
        )
        .unwrap();
    assert_eq!(inf.to_bits(), scores[0].to_bits());
    // A missing optional field equals an explicit Missing.
    front
        .set_request(&mut s, &[Feature::str(user, "alice")])
        .unwrap();
    front
        .rank(
            &mut s,
            &one,
            &RankOptions::default(),
            &mut scores,
            &mut order,
        )
        .unwrap();
    let absent = scores[0];
    front
        .set_request(
            &mut s,
            &[
                Feature::str(user, "alice"),
                Feature {
                    field: minutes,
                    value: Value::Missing,
                },
            ],
        )
        .unwrap();
    front
        .rank(
            &mut s,
            &one,
            &RankOptions::default(),
            &mut scores,
            &mut order,
        )
        .unwrap();
    assert_eq!(absent.to_bits(), scores[0].to_bits());
    all_scores
}

#[test]
fn rust_api_and_c_abi_agree() {
    let a = end_to_end(RustApi);
    let b = end_to_end(CAbi);
    assert_eq!(
        a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn c_abi_null_arguments_and_names() {
    let bytes = write_model(
        &ModelSpec::random(tiny_config(2, 1, 1, 0, &[4], &[]), 1),
        WriteOptions::F32,
    )
    .unwrap();
    let mut m = std::ptr::null_mut();
    assert_eq!(
        camoe_model_load_bytes(std::ptr::null(), 10, &mut m),
        CAMOE_STATUS_NULL_ARGUMENT
    );
    assert_eq!(
        camoe_model_load_bytes(bytes.as_ptr(), bytes.len(), std::ptr::null_mut()),
        CAMOE_STATUS_NULL_ARGUMENT
    );
    assert!(camoe::ffi::last_error_message().contains("NULL"));
    assert_eq!(
        camoe_model_load_file(std::ptr::null(), &mut m),
        CAMOE_STATUS_NULL_ARGUMENT
    );
    assert_eq!(
        camoe_model_load_file(c"/nonexistent/model.camoe".as_ptr(), &mut m),
        CAMOE_STATUS_IO
    );
    assert!(camoe::ffi::last_error_message().contains("/nonexistent/model.camoe"));
    assert!(m.is_null(), "outputs are written only on success");
    assert_eq!(
        camoe_model_load_bytes(bytes.as_ptr(), bytes.len(), &mut m),
        CAMOE_STATUS_OK
    );
    let mut info = camoe_model_info::default();
    assert_eq!(
        camoe_model_get_info(std::ptr::null(), &mut info),
        CAMOE_STATUS_NULL_ARGUMENT
    );
    assert_eq!(
        camoe_model_get_info(m, std::ptr::null_mut()),
        CAMOE_STATUS_NULL_ARGUMENT
    );
    let mut s = std::ptr::null_mut();
    assert_eq!(
        camoe_session_new(m, 0, &mut s),
        CAMOE_STATUS_INVALID_ARGUMENT
    );
    assert_eq!(camoe_session_new(m, 4, &mut s), CAMOE_STATUS_OK);
    let mut len = 0;
    assert_eq!(
        camoe_session_rank(
            std::ptr::null_mut(),
            std::ptr::null(),
            0,
            std::ptr::null(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            &mut len
        ),
        CAMOE_STATUS_NULL_ARGUMENT
    );
    assert_eq!(
        camoe_session_set_request(s, std::ptr::null(), 0),
        CAMOE_STATUS_OK,
        "empty arrays may be NULL"
    );
    assert_eq!(
        camoe_session_rank(
            s,
            std::ptr::null(),
            3,
            std::ptr::null(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            &mut len
        ),
        CAMOE_STATUS_NULL_ARGUMENT
    );
    assert_eq!(
        camoe_session_rank(
            s,
            std::ptr::null(),
            0,
            std::ptr::null(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            &mut len
        ),
        CAMOE_STATUS_OK
    );
    assert_eq!(len, 0);
    let bad_kind = [camoe_feature {
        text: std::ptr::null(),
        text_len: 0,
        id: 0,
        field: 0,
        kind: 42,
        dense: 0.0,
    }];
    assert_eq!(
        camoe_session_set_request(s, bad_kind.as_ptr(), 1),
        CAMOE_STATUS_BAD_FEATURE
    );
    let null_text = [camoe_feature {
        text: std::ptr::null(),
        text_len: 3,
        id: 0,
        field: 0,
        kind: CAMOE_VALUE_STR,
        dense: 0.0,
    }];
    assert_eq!(
        camoe_session_set_request(s, null_text.as_ptr(), 1),
        CAMOE_STATUS_NULL_ARGUMENT
    );
    let bad_opts = camoe_rank_options {
        top_k: 0,
        objective: 9,
        eligible_formats: 0,
        expert_top_k: 0,
    };
    camoe_session_set_request(s, std::ptr::null(), 0);
    assert_eq!(
        camoe_session_rank(
            s,
            std::ptr::null(),
            0,
            &bad_opts,
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            0,
            &mut len
        ),
        CAMOE_STATUS_INVALID_ARGUMENT
    );

    let mut fi = camoe_field_info {
        name: std::ptr::null(),
        name_len: 0,
        side: -1,
        kind: -1,
        vocab: 0,
        dim: 0,
        missing: -1,
    };
    assert_eq!(camoe_model_field(m, 0, &mut fi), CAMOE_STATUS_OK);
    let name = unsafe { std::slice::from_raw_parts(fi.name as *const u8, fi.name_len) };
    assert_eq!(
        (name, fi.side, fi.kind, fi.vocab, fi.dim),
        (
            &b"user"[..],
            CAMOE_SIDE_REQUEST,
            CAMOE_FIELD_CATEGORICAL,
            50,
            4
        )
    );
    assert_eq!(
        camoe_model_field(m, 99, &mut fi),
        CAMOE_STATUS_INVALID_ARGUMENT
    );
    let (mut p, mut n) = (std::ptr::null(), 0usize);
    assert_eq!(
        camoe_model_format_name(m, 1, &mut p, &mut n),
        CAMOE_STATUS_OK
    );
    assert_eq!(
        unsafe { std::slice::from_raw_parts(p as *const u8, n) },
        b"video"
    );
    let mut id = 0u64;
    assert_eq!(
        camoe_model_hash_str(m, c"pop".as_ptr(), 3, &mut id),
        CAMOE_STATUS_OK
    );
    assert_eq!(id, camoe::hash::hash_bytes(b"pop", 99));

    // The model may be freed before its sessions: they keep it alive.
    camoe_model_free(&mut m);
    assert!(m.is_null());
    camoe_model_free(&mut m);
    camoe_model_free(std::ptr::null_mut());
    assert_eq!(
        camoe_session_set_request(s, std::ptr::null(), 0),
        CAMOE_STATUS_OK
    );
    camoe_session_free(&mut s);
    camoe_session_free(&mut s);
    assert!(s.is_null());

    for st in [
        CAMOE_STATUS_OK,
        CAMOE_STATUS_NULL_ARGUMENT,
        CAMOE_STATUS_IO,
        CAMOE_STATUS_BAD_MODEL,
        CAMOE_STATUS_VERSION,
        CAMOE_STATUS_CHECKSUM,
        CAMOE_STATUS_CAPACITY,
        CAMOE_STATUS_BAD_FEATURE,
        CAMOE_STATUS_PANIC,
        CAMOE_STATUS_INVALID_ARGUMENT,
    ] {
        let name = unsafe { CStr::from_ptr(camoe_status_name(st)) }
            .to_str()
            .unwrap();
        let status = [
            Status::Ok,
            Status::NullArgument,
            Status::Io,
            Status::BadModel,
            Status::Version,
            Status::Checksum,
            Status::Capacity,
            Status::BadFeature,
            Status::Panic,
            Status::InvalidArgument,
        ]
        .into_iter()
        .find(|s| *s as i32 == st)
        .unwrap();
        assert_eq!(
            name,
            status.name(),
            "C constant and Rust status disagree for {st}"
        );
    }
    assert_eq!(
        unsafe { CStr::from_ptr(camoe_status_name(12345)) }
            .to_str()
            .unwrap(),
        "UNKNOWN"
    );
}

#[test]
fn random_requests_agree_between_front_doors() {
    // Random shapes and inputs: the C ABI and the Rust API give bit-identical scores.
    let mut rng = SplitMix(3);
    for cfg in config_grid() {
        let spec = ModelSpec::random(cfg, rng.next_u64());
        let bytes = write_model(&spec, WriteOptions::INT8).unwrap();
        let (rm, cm) = (RustApi.load(&bytes).unwrap(), CAbi.load(&bytes).unwrap());
        let (mut rs, mut cs) = (
            RustApi.session(&rm, 16).unwrap(),
            CAbi.session(&cm, 16).unwrap(),
        );
        let req = random_side(&spec.config, Side::Request, &mut rng);
        let cands = random_candidates(&spec.config, 16, 5, &mut rng);
        let feats = borrow_candidates(&cands);
        let list = candidate_list(&feats);
        RustApi.set_request(&mut rs, &borrow(&req)).unwrap();
        CAbi.set_request(&mut cs, &borrow(&req)).unwrap();
        let (mut a, mut b, mut oa, mut ob) =
            (vec![0.0; 16], vec![0.0; 16], vec![0; 16], vec![0; 16]);
        RustApi
            .rank(&mut rs, &list, &RankOptions::default(), &mut a, &mut oa)
            .unwrap();
        CAbi.rank(&mut cs, &list, &RankOptions::default(), &mut b, &mut ob)
            .unwrap();
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(oa, ob);
    }
}
