//! End-to-end cases, each run through two front doors by `both_doors!`: the Rust API
//! and the C ABI (the `extern "C"` functions called exactly as C would call them), so
//! a failure names its case and its door (`c_abi::dense_values_clamp`). Then the
//! C-only cases: NULL arguments, buffer ownership, growable options.

mod common;

use std::sync::Arc;

use camoe::ffi::*;
use camoe::hash::SplitMix;
use camoe::spec::{FieldKind, FieldSpec, Missing, ModelSpec, Side};
use camoe::{
    write_model, Candidate, Feature, Model, Objective, RankOptions, Session, Status, Value,
    WriteOptions,
};
use common::*;

type Failure = (Status, String);

/// What the cases need from a front door.
trait Front {
    type M;
    type S;
    fn load(&self, bytes: &[u8]) -> Result<Self::M, Failure>;
    fn info(&self, m: &Self::M) -> (u32, u32, u32, u32);
    fn field(&self, m: &Self::M, name: &str) -> Result<u32, Failure>;
    fn task(&self, m: &Self::M, name: &str) -> Result<u32, Failure>;
    /// Name of field `index`.
    fn field_name(&self, m: &Self::M, index: u32) -> Result<String, Failure>;
    fn session(&self, m: &Self::M, max: usize) -> Result<Self::S, Failure>;
    fn set_request(&self, s: &mut Self::S, f: &[Feature]) -> Result<(), Failure>;
    fn rank(
        &self,
        s: &mut Self::S,
        c: &[Candidate],
        o: &RankOptions,
        scores: &mut [f32],
        order: &mut [u32],
    ) -> Result<usize, Failure>;
}

struct RustApi;

fn rust_err(e: camoe::Error) -> Failure {
    (e.status(), e.message().to_owned())
}

/// The Rust API's lookups return Option; the C ABI's status for a miss is the rule's.
fn found<T>(v: Option<T>, what: String) -> Result<T, Failure> {
    v.ok_or((Status::InvalidArgument, what))
}

impl Front for RustApi {
    type M = Arc<Model>;
    type S = Session;
    fn load(&self, bytes: &[u8]) -> Result<Arc<Model>, Failure> {
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
    fn field(&self, m: &Arc<Model>, name: &str) -> Result<u32, Failure> {
        found(m.field_index(name), format!("unknown field {name:?}"))
    }
    fn task(&self, m: &Arc<Model>, name: &str) -> Result<u32, Failure> {
        found(m.task_index(name), format!("unknown task {name:?}"))
    }
    fn field_name(&self, m: &Arc<Model>, index: u32) -> Result<String, Failure> {
        let f = m.config().fields.get(index as usize);
        found(f.map(|f| f.name.clone()), format!("field index {index}"))
    }
    fn session(&self, m: &Arc<Model>, max: usize) -> Result<Session, Failure> {
        Session::new(m.clone(), max).map_err(rust_err)
    }
    fn set_request(&self, s: &mut Session, f: &[Feature]) -> Result<(), Failure> {
        s.set_request(f).map_err(rust_err)
    }
    fn rank(
        &self,
        s: &mut Session,
        c: &[Candidate],
        o: &RankOptions,
        scores: &mut [f32],
        order: &mut [u32],
    ) -> Result<usize, Failure> {
        s.rank(c, o, scores, order).map_err(rust_err)
    }
}

struct CAbi;

/// Owns a C model handle (freed through the ABI).
struct CModel(*mut camoe_model);
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

fn check(st: Status) -> Result<(), Failure> {
    match st {
        Status::Ok => Ok(()),
        _ => Err((st, last_error_message())),
    }
}

fn text(p: *const std::ffi::c_char, n: usize) -> String {
    // SAFETY: the library returned a pointer to `n` bytes that live as long as the model.
    String::from_utf8(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), n) }.to_vec()).unwrap()
}

impl Front for CAbi {
    type M = CModel;
    type S = CSession;
    fn load(&self, bytes: &[u8]) -> Result<CModel, Failure> {
        let mut m = std::ptr::null_mut();
        check(camoe_model_load_bytes_copy(
            bytes.as_ptr(),
            bytes.len(),
            &mut m,
        ))?;
        Ok(CModel(m))
    }
    fn info(&self, m: &CModel) -> (u32, u32, u32, u32) {
        let mut i = camoe_model_info::default();
        check(camoe_model_get_info(m.0, &mut i)).unwrap();
        (i.n_fields, i.n_tasks, i.n_groups, i.x0_width)
    }
    fn field(&self, m: &CModel, name: &str) -> Result<u32, Failure> {
        let mut out = u32::MAX;
        let st = camoe_model_field_index(m.0, name.as_ptr().cast(), name.len(), &mut out);
        check(st).map(|()| out)
    }
    fn task(&self, m: &CModel, name: &str) -> Result<u32, Failure> {
        let mut out = u32::MAX;
        let st = camoe_model_task_index(m.0, name.as_ptr().cast(), name.len(), &mut out);
        check(st).map(|()| out)
    }
    fn field_name(&self, m: &CModel, index: u32) -> Result<String, Failure> {
        let mut fi = std::mem::MaybeUninit::<camoe_field_info>::uninit();
        check(camoe_model_field(m.0, index, fi.as_mut_ptr()))?;
        // SAFETY: written on success.
        let fi = unsafe { fi.assume_init() };
        Ok(text(fi.name, fi.name_len))
    }
    fn session(&self, m: &CModel, max: usize) -> Result<CSession, Failure> {
        let mut s = std::ptr::null_mut();
        check(camoe_session_new(m.0, max, &mut s))?;
        Ok(CSession(s))
    }
    fn set_request(&self, s: &mut CSession, f: &[Feature]) -> Result<(), Failure> {
        let c = c_features(f);
        check(camoe_session_set_request(s.0, c.as_ptr(), c.len()))
    }
    fn rank(
        &self,
        s: &mut CSession,
        c: &[Candidate],
        o: &RankOptions,
        scores: &mut [f32],
        order: &mut [u32],
    ) -> Result<usize, Failure> {
        let feats: Vec<_> = c.iter().map(|c| c_features(c.features)).collect();
        let cands = c_candidates(c, &feats);
        let opts = camoe_rank_options::from_rust(o);
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

/// The cases' model: the tiny config plus a required dense candidate field.
fn model_bytes() -> Vec<u8> {
    let mut cfg = tiny_config(4, 2, 2, 0, &[8], &[4]);
    cfg.fields.push(FieldSpec {
        name: "required".into(),
        side: Side::Candidate,
        kind: FieldKind::Dense {
            mean: 0.0,
            std: 1.0,
            clip: 4.0,
        },
        missing: Missing::Error,
    });
    write_model(&ModelSpec::random(cfg, 5), WriteOptions::INT8).unwrap()
}

/// A loaded model, a session with alice's request set, and the indices the cases use.
struct Fixture<F: Front> {
    front: F,
    _m: F::M,
    s: F::S,
    user: u32,
    minutes: u32,
    ad: u32,
    required: u32,
    audio_task: u32,
    video_task: u32,
}

fn fixture<F: Front>(front: F) -> Fixture<F> {
    // The bytes are dropped right after the load: a model owns (a copy of) its bytes.
    let m = front.load(&model_bytes()).unwrap();
    fixture_on(front, m)
}

/// The fixture on a model loaded by the caller (of `model_bytes()`).
fn fixture_on<F: Front>(front: F, m: F::M) -> Fixture<F> {
    let mut s = front.session(&m, 8).unwrap();
    let field = |n| front.field(&m, n).unwrap();
    let (user, minutes) = (field("user"), field("minutes"));
    front
        .set_request(
            &mut s,
            &[Feature::str(user, "alice"), Feature::dense(minutes, 12.0)],
        )
        .unwrap();
    Fixture {
        ad: field("ad"),
        required: field("required"),
        audio_task: front.task(&m, "task0").unwrap(),
        video_task: front.task(&m, "task1").unwrap(),
        user,
        minutes,
        _m: m,
        s,
        front,
    }
}

impl<F: Front> Fixture<F> {
    /// Eight ads' features (ad id, required value).
    fn ads(&self) -> Vec<[Feature<'static>; 2]> {
        (0..8)
            .map(|i| {
                [
                    Feature::id(self.ad, 1000 + i),
                    Feature::dense(self.required, i as f32 / 4.0),
                ]
            })
            .collect()
    }

    /// One candidate per ad: every third is video, the rest audio; bids 1..8.
    fn candidates<'a>(&self, ads: &'a [[Feature<'a>; 2]]) -> Vec<Candidate<'a>> {
        ads.iter()
            .enumerate()
            .map(|(i, f)| Candidate {
                task: if i % 3 == 1 {
                    self.video_task
                } else {
                    self.audio_task
                },
                bid: 1.0 + i as f32,
                features: f,
            })
            .collect()
    }

    /// One audio candidate with the given features.
    fn one<'a>(&self, features: &'a [Feature<'a>]) -> [Candidate<'a>; 1] {
        [Candidate {
            task: self.audio_task,
            bid: 1.0,
            features,
        }]
    }

    fn rank_with(
        &mut self,
        c: &[Candidate],
        o: &RankOptions,
    ) -> Result<(usize, Vec<f32>, Vec<u32>), Failure> {
        let (mut scores, mut order) = (vec![-1.0; 8], vec![99; 8]);
        let k = self
            .front
            .rank(&mut self.s, c, o, &mut scores, &mut order)?;
        Ok((k, scores, order))
    }

    fn rank(&mut self, c: &[Candidate]) -> Result<(usize, Vec<f32>, Vec<u32>), Failure> {
        self.rank_with(c, &RankOptions::default())
    }

    /// The status of ranking `c`, which must fail.
    fn rank_fails(&mut self, c: &[Candidate], o: &RankOptions) -> Failure {
        self.rank_with(c, o).unwrap_err()
    }

    /// pCTR of one audio candidate with ad 1 under the request `req`.
    fn score_under(&mut self, req: &[Feature]) -> f32 {
        self.front.set_request(&mut self.s, req).unwrap();
        let ok = [Feature::id(self.ad, 1), Feature::dense(self.required, 0.0)];
        let one = self.one(&ok);
        self.rank(&one).unwrap().1[0]
    }
}

fn bad_bytes_never_load<F: Front>(front: F) {
    let bytes = model_bytes();
    assert_eq!(front.load(&bytes[..100]).err().unwrap().0, Status::BadModel);
    let mut flipped = bytes.clone();
    flipped[bytes.len() / 2] ^= 0x10;
    let e = front.load(&flipped).err().unwrap();
    assert_eq!(e.0, Status::Checksum, "{e:?}");
    assert!(e.1.contains("checksum"), "{}", e.1);
}

fn info_and_names<F: Front>(front: F) {
    let m = front.load(&model_bytes()).unwrap();
    assert_eq!(front.info(&m), (7, 5, 2, 4 + 1 + 3 + 5 + 1 + 2 + 1));
    assert_eq!(front.field_name(&m, 3).unwrap(), "ad");
    assert_eq!(front.field(&m, "ad").unwrap(), 3);
}

/// A name or index given to a lookup is the call's fault: INVALID_ARGUMENT.
fn unknown_names_and_indices_are_invalid_arguments<F: Front>(front: F) {
    let m = front.load(&model_bytes()).unwrap();
    let e = front.field(&m, "no_such_field").unwrap_err();
    assert_eq!(e.0, Status::InvalidArgument);
    assert!(e.1.contains("no_such_field"), "{}", e.1);
    assert_eq!(
        front.task(&m, "nope").unwrap_err().0,
        Status::InvalidArgument
    );
    assert_eq!(
        front.field_name(&m, 7).unwrap_err().0,
        Status::InvalidArgument
    );
}

fn max_candidates_is_checked<F: Front>(front: F) {
    let m = front.load(&model_bytes()).unwrap();
    for bad in [0, (1 << 20) + 1] {
        let e = front.session(&m, bad).err().unwrap();
        assert_eq!(e.0, Status::InvalidArgument, "{bad}");
    }
}

fn rank_before_a_request_is_refused<F: Front>(front: F) {
    let m = front.load(&model_bytes()).unwrap();
    let mut s = front.session(&m, 8).unwrap();
    let (mut scores, mut order) = (vec![0.0; 8], vec![0; 8]);
    let e = front.rank(
        &mut s,
        &[],
        &RankOptions::default(),
        &mut scores,
        &mut order,
    );
    assert_eq!(e.unwrap_err().0, Status::BadFeature);
}

fn full_ranking_sorts_by_pctr<F: Front>(front: F) -> Vec<f32> {
    let mut f = fixture(front);
    let ads = f.ads();
    let (k, scores, order) = f.rank(&f.candidates(&ads)).unwrap();
    assert_eq!(k, 8);
    assert!(scores.iter().all(|p| *p > 0.0 && *p < 1.0));
    let mut sorted: Vec<u32> = (0..8).collect();
    sorted.sort_by(|&a, &b| {
        scores[b as usize]
            .total_cmp(&scores[a as usize])
            .then(a.cmp(&b))
    });
    assert_eq!(order, sorted);
    scores
}

fn top_k_by_expected_value_among_eligible_formats<F: Front>(front: F) {
    let mut f = fixture(front);
    let ads = f.ads();
    let cands = f.candidates(&ads);
    let all = f.rank(&cands).unwrap().1;
    let opts = RankOptions {
        top_k: 3,
        objective: Objective::ExpectedValue,
        eligible_formats: 1 << 0,
        expert_top_k: 0,
    };
    let (k, scores, order) = f.rank_with(&cands, &opts).unwrap();
    assert_eq!(k, 3);
    for (i, c) in cands.iter().enumerate() {
        if c.task == f.video_task {
            assert!(scores[i].is_nan(), "video is not eligible");
        } else {
            assert_eq!(
                scores[i], all[i],
                "eligibility must not change other scores"
            );
        }
    }
    let mut ev: Vec<u32> = (0..8)
        .filter(|&i| cands[i as usize].task != f.video_task)
        .collect();
    let value = |i: u32| cands[i as usize].bid * scores[i as usize];
    ev.sort_by(|&a, &b| value(b).total_cmp(&value(a)));
    assert_eq!(&order[..3], &ev[..3]);
}

fn too_many_candidates_is_capacity<F: Front>(front: F) {
    let mut f = fixture(front);
    let ads = f.ads();
    let cands = f.candidates(&ads);
    let nine: Vec<Candidate> = (0..9).map(|i| cands[i % 8]).collect();
    let (mut scores, mut order) = (vec![0.0; 9], vec![0; 9]);
    let e = f.front.rank(
        &mut f.s,
        &nine,
        &RankOptions::default(),
        &mut scores,
        &mut order,
    );
    assert_eq!(e.unwrap_err().0, Status::Capacity);
}

/// Bad data being scored is BAD_FEATURE, with a message naming the problem.
fn bad_candidates_are_bad_features<F: Front>(front: F) {
    let mut f = fixture(front);
    let (ad, required, user) = (f.ad, f.required, f.user);
    let nan = [Feature::id(ad, 1), Feature::dense(required, f32::NAN)];
    let e = f.rank(&f.one(&nan)).unwrap_err();
    assert_eq!(e.0, Status::BadFeature);
    assert!(e.1.contains("NaN") && e.1.contains("required"), "{}", e.1);
    let missing = [Feature::id(ad, 1)];
    let e = f.rank(&f.one(&missing)).unwrap_err();
    assert!(
        e.1.contains("required field required is missing"),
        "{}",
        e.1
    );
    let wrong_side = [Feature::id(user, 1), Feature::dense(required, 0.0)];
    let twice = [
        Feature::id(ad, 1),
        Feature::id(ad, 2),
        Feature::dense(required, 0.0),
    ];
    let no_field = [Feature::id(77, 1), Feature::dense(required, 0.0)];
    for bad in [&wrong_side[..], &twice, &no_field] {
        assert_eq!(
            f.rank(&f.one(bad)).unwrap_err().0,
            Status::BadFeature,
            "{bad:?}"
        );
    }
    let ok = [Feature::id(ad, 1), Feature::dense(required, 0.0)];
    let mut bad_task = f.one(&ok);
    bad_task[0].task = 77;
    assert_eq!(f.rank(&bad_task).unwrap_err().0, Status::BadFeature);
    let mut bad_bid = f.one(&ok);
    bad_bid[0].bid = -1.0;
    let ev = RankOptions {
        objective: Objective::ExpectedValue,
        ..RankOptions::default()
    };
    assert_eq!(f.rank_fails(&bad_bid, &ev).0, Status::BadFeature);
}

fn errors_leave_the_outputs_untouched<F: Front>(front: F) {
    let mut f = fixture(front);
    let nan = [Feature::id(f.ad, 1), Feature::dense(f.required, f32::NAN)];
    let one = f.one(&nan);
    let (mut scores, mut order) = (vec![-1.0; 8], vec![99; 8]);
    let e = f.front.rank(
        &mut f.s,
        &one,
        &RankOptions::default(),
        &mut scores,
        &mut order,
    );
    assert!(e.is_err());
    assert_eq!((scores, order), (vec![-1.0; 8], vec![99; 8]));
}

fn a_failed_request_keeps_the_previous_one<F: Front>(front: F) {
    let mut f = fixture(front);
    let ads = f.ads();
    let before = f.rank(&f.candidates(&ads)).unwrap();
    let e = f
        .front
        .set_request(&mut f.s, &[Feature::dense(f.user, 1.0)]);
    assert_eq!(e.unwrap_err().0, Status::BadFeature);
    let after = f.rank(&f.candidates(&ads)).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        (before.0, bits(&before.1), before.2),
        (after.0, bits(&after.1), after.2)
    );
}

fn dense_values_clamp<F: Front>(front: F) {
    let mut f = fixture(front);
    let (user, minutes) = (f.user, f.minutes);
    let inf = f.score_under(&[
        Feature::str(user, "alice"),
        Feature::dense(minutes, f32::INFINITY),
    ]);
    let big = f.score_under(&[Feature::str(user, "alice"), Feature::dense(minutes, 1e6)]);
    assert_eq!(inf.to_bits(), big.to_bits());
}

fn an_absent_optional_field_equals_an_explicit_missing<F: Front>(front: F) {
    let mut f = fixture(front);
    let (user, minutes) = (f.user, f.minutes);
    let absent = f.score_under(&[Feature::str(user, "alice")]);
    let missing = Feature {
        field: minutes,
        value: Value::Missing,
    };
    let explicit = f.score_under(&[Feature::str(user, "alice"), missing]);
    assert_eq!(absent.to_bits(), explicit.to_bits());
}

/// Runs each case through the Rust API and through the C ABI, as separate tests.
macro_rules! both_doors {
    ($($case:ident),* $(,)?) => {
        mod rust_api {
            $(#[test]
            fn $case() {
                super::$case(super::RustApi);
            })*
        }
        mod c_abi {
            $(#[test]
            fn $case() {
                super::$case(super::CAbi);
            })*
        }
    };
}

both_doors!(
    bad_bytes_never_load,
    info_and_names,
    unknown_names_and_indices_are_invalid_arguments,
    max_candidates_is_checked,
    rank_before_a_request_is_refused,
    full_ranking_sorts_by_pctr,
    top_k_by_expected_value_among_eligible_formats,
    too_many_candidates_is_capacity,
    bad_candidates_are_bad_features,
    errors_leave_the_outputs_untouched,
    a_failed_request_keeps_the_previous_one,
    dense_values_clamp,
    an_absent_optional_field_equals_an_explicit_missing,
);

#[test]
fn rust_api_and_c_abi_give_identical_scores() {
    let bits = |v: Vec<f32>| v.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(
        bits(full_ranking_sorts_by_pctr(RustApi)),
        bits(full_ranking_sorts_by_pctr(CAbi))
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

/// Cases only the C ABI has: NULL arguments, handles, buffer ownership, options
/// structs of other sizes.
mod c_only {
    use super::*;

    const NULL: *const u8 = std::ptr::null();

    fn small_model() -> Vec<u8> {
        let spec = ModelSpec::random(tiny_config(2, 1, 1, 0, &[4], &[]), 1);
        write_model(&spec, WriteOptions::F32).unwrap()
    }

    fn loaded() -> CModel {
        CAbi.load(&small_model()).unwrap()
    }

    fn info(m: *const camoe_model) -> camoe_model_info {
        let mut i = camoe_model_info::default();
        assert_eq!(camoe_model_get_info(m, &mut i), Status::Ok);
        i
    }

    /// Ranks `n` copies of an empty candidate with `opts`; returns the scores.
    fn rank_empty(
        s: *mut camoe_session,
        n: usize,
        opts: *const camoe_rank_options,
    ) -> Result<Vec<f32>, Failure> {
        let c = vec![
            camoe_candidate {
                features: std::ptr::null(),
                n_features: 0,
                task: 0,
                bid: 1.0,
            };
            n
        ];
        let (mut scores, mut order, mut len) = (vec![0.0; n], vec![0; n], 0);
        let st = camoe_session_rank(
            s,
            c.as_ptr(),
            n,
            opts,
            scores.as_mut_ptr(),
            order.as_mut_ptr(),
            n,
            &mut len,
        );
        check(st).map(|()| scores)
    }

    #[test]
    fn load_null_arguments() {
        let bytes = small_model();
        let mut m = std::ptr::null_mut();
        assert_eq!(
            camoe_model_load_bytes_copy(NULL, 10, &mut m),
            Status::NullArgument
        );
        assert_eq!(
            camoe_model_load_bytes_borrowed(NULL, 10, &mut m),
            Status::NullArgument
        );
        let out = std::ptr::null_mut();
        assert_eq!(
            camoe_model_load_bytes_copy(bytes.as_ptr(), bytes.len(), out),
            Status::NullArgument
        );
        assert!(last_error_message().contains("NULL"));
        assert_eq!(
            camoe_model_load_bytes_copy(NULL, 0, &mut m),
            Status::BadModel
        );
        assert_eq!(
            camoe_model_load_file(std::ptr::null(), &mut m),
            Status::NullArgument
        );
        let st = camoe_model_load_file(c"/nonexistent/model.camoe".as_ptr(), &mut m);
        assert_eq!(st, Status::Io);
        assert!(last_error_message().contains("/nonexistent/model.camoe"));
        assert!(m.is_null(), "outputs are written only on success");
    }

    #[test]
    fn info_null_arguments() {
        let m = loaded();
        let mut i = camoe_model_info::default();
        assert_eq!(
            camoe_model_get_info(std::ptr::null(), &mut i),
            Status::NullArgument
        );
        assert_eq!(
            camoe_model_get_info(m.0, std::ptr::null_mut()),
            Status::NullArgument
        );
        let mut p = std::ptr::null();
        let st = camoe_model_list_name(m.0, CAMOE_LIST_FORMATS, 0, &mut p, std::ptr::null_mut());
        assert_eq!(st, Status::NullArgument);
        let mut out = 0;
        let st = camoe_model_field_index(m.0, std::ptr::null(), 3, &mut out);
        assert_eq!(st, Status::NullArgument);
    }

    #[test]
    fn field_format_and_group_info() {
        let m = loaded();
        let mut fi = std::mem::MaybeUninit::<camoe_field_info>::uninit();
        assert_eq!(camoe_model_field(m.0, 0, fi.as_mut_ptr()), Status::Ok);
        // SAFETY: written on success.
        let fi = unsafe { fi.assume_init() };
        assert_eq!(
            (
                text(fi.name, fi.name_len).as_str(),
                fi.side,
                fi.kind,
                fi.vocab,
                fi.dim,
                fi.missing
            ),
            (
                "user",
                CAMOE_SIDE_REQUEST,
                CAMOE_FIELD_CATEGORICAL,
                50,
                4,
                CAMOE_MISSING_USE_DEFAULT
            )
        );
        assert_eq!(info(m.0).mode, CAMOE_MODE_F32);
        let (mut p, mut n) = (std::ptr::null(), 0usize);
        let mut name = |list, i| {
            let st = camoe_model_list_name(m.0, list, i, &mut p, &mut n);
            (
                st,
                if st == Status::Ok {
                    text(p, n)
                } else {
                    String::new()
                },
            )
        };
        assert_eq!(name(CAMOE_LIST_FORMATS, 1), (Status::Ok, "video".into()));
        assert_eq!(name(CAMOE_LIST_FORMATS, 3).0, Status::InvalidArgument);
        assert_eq!(name(CAMOE_LIST_GROUPS, 0), (Status::Ok, "g0".into()));
        assert_eq!(name(CAMOE_LIST_GROUPS, 1).0, Status::InvalidArgument);
        assert_eq!(name(CAMOE_LIST_FIELDS, 3), (Status::Ok, "ad".into()));
        assert_eq!(name(CAMOE_LIST_TASKS, 4), (Status::Ok, "task4".into()));
        assert_eq!(name(CAMOE_LIST_TASKS, 5).0, Status::InvalidArgument);
        assert_eq!(name(4, 0).0, Status::InvalidArgument);
        let mut t = std::mem::MaybeUninit::<camoe_task_info>::uninit();
        assert_eq!(
            camoe_model_task(m.0, 5, t.as_mut_ptr()),
            Status::InvalidArgument
        );
        let mut i = 0;
        let st = camoe_model_format_index(m.0, c"radio".as_ptr(), 5, &mut i);
        assert_eq!(st, Status::InvalidArgument);
        let st = camoe_model_field_index(m.0, c"\xff".as_ptr(), 1, &mut i);
        assert_eq!(st, Status::InvalidArgument, "a name that is not UTF-8");
        let mut id = 0u64;
        assert_eq!(
            camoe_model_hash_str(m.0, c"pop".as_ptr(), 3, &mut id),
            Status::Ok
        );
        assert_eq!(id, camoe::hash::hash_bytes(b"pop", 99));
    }

    #[test]
    fn session_null_arguments_and_empty_arrays() {
        let m = loaded();
        let mut s = std::ptr::null_mut();
        assert_eq!(
            camoe_session_new(std::ptr::null(), 4, &mut s),
            Status::NullArgument
        );
        assert_eq!(
            camoe_session_new(m.0, 4, std::ptr::null_mut()),
            Status::NullArgument
        );
        assert_eq!(camoe_session_new(m.0, 4, &mut s), Status::Ok);
        let s = CSession(s);
        let e = rank_empty(std::ptr::null_mut(), 0, std::ptr::null()).unwrap_err();
        assert_eq!(e.0, Status::NullArgument);
        assert_eq!(
            camoe_session_set_request(s.0, std::ptr::null(), 0),
            Status::Ok,
            "empty arrays may be NULL"
        );
        assert_eq!(
            camoe_session_set_request(s.0, std::ptr::null(), 2),
            Status::NullArgument
        );
        // No candidates may come as NULL; a NULL array of three may not.
        for (n, want) in [(3, Status::NullArgument), (0, Status::Ok)] {
            let mut len = 7;
            let st = camoe_session_rank(
                s.0,
                std::ptr::null(),
                n,
                std::ptr::null(),
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                0,
                &mut len,
            );
            assert_eq!(st, want, "{n} candidates");
            assert_eq!(len, if want == Status::Ok { 0 } else { 7 });
        }
    }

    #[test]
    fn feature_kinds_and_text_pointers() {
        let m = loaded();
        let s = CAbi.session(&m, 4).unwrap();
        let mut f = camoe_feature {
            text: std::ptr::null(),
            text_len: 0,
            id: 0,
            field: 0,
            kind: 42,
            dense: 0.0,
        };
        assert_eq!(camoe_session_set_request(s.0, &f, 1), Status::BadFeature);
        assert!(
            last_error_message().contains("kind 42"),
            "{}",
            last_error_message()
        );
        (f.kind, f.text_len) = (CAMOE_VALUE_STR, 3);
        assert_eq!(camoe_session_set_request(s.0, &f, 1), Status::NullArgument);
        f.text_len = 0;
        assert_eq!(
            camoe_session_set_request(s.0, &f, 1),
            Status::Ok,
            "empty text may be NULL"
        );
    }

    #[test]
    fn a_model_freed_before_its_session_stays_alive() {
        let mut m = loaded();
        let s = CAbi.session(&m, 4).unwrap();
        camoe_model_free(&mut m.0);
        assert!(m.0.is_null());
        camoe_model_free(&mut m.0);
        camoe_model_free(std::ptr::null_mut());
        assert_eq!(
            camoe_session_set_request(s.0, std::ptr::null(), 0),
            Status::Ok
        );
        assert!(rank_empty(s.0, 2, std::ptr::null()).is_ok());
        let mut raw = s.0;
        std::mem::forget(s);
        camoe_session_free(&mut raw);
        assert!(raw.is_null());
        camoe_session_free(&mut raw);
        camoe_session_free(std::ptr::null_mut());
    }

    /// `_copy` owns its bytes: the caller's buffer may be overwritten and freed at once.
    #[test]
    fn a_copied_model_outlives_the_callers_buffer() {
        let want = full_ranking_sorts_by_pctr(RustApi);
        let mut buf = model_bytes();
        let mut m = std::ptr::null_mut();
        assert_eq!(
            camoe_model_load_bytes_copy(buf.as_ptr(), buf.len(), &mut m),
            Status::Ok
        );
        buf.fill(0xa5);
        drop(buf);
        let m = CModel(m);
        assert_eq!(info(m.0).zero_copy, 0);
        // The fixture's ranking, on this model.
        let mut f = fixture_on(CAbi, m);
        let ads = f.ads();
        let got = f.rank(&f.candidates(&ads)).unwrap().1;
        assert_eq!(got, want);
    }

    /// 64-byte aligned storage for a model, so that `_borrowed` accepts it.
    #[repr(C, align(64))]
    #[derive(Clone, Copy)]
    struct Block([u8; 64]);

    fn aligned(bytes: &[u8]) -> Vec<Block> {
        let mut v = vec![Block([0; 64]); bytes.len().div_ceil(64) + 1];
        for (i, b) in bytes.iter().enumerate() {
            v[i / 64].0[i % 64] = *b;
        }
        v
    }

    #[test]
    fn a_borrowed_model_reads_the_callers_buffer_in_place() {
        let bytes = small_model();
        let buf = aligned(&bytes);
        let p = buf.as_ptr().cast::<u8>();
        let mut m = std::ptr::null_mut();
        assert_eq!(
            camoe_model_load_bytes_borrowed(p, bytes.len(), &mut m),
            Status::Ok
        );
        let m = CModel(m);
        assert_eq!(info(m.0).zero_copy, 1);
        drop(m);
        // One byte in: not 16-byte aligned, refused (never silently copied).
        let mut m = std::ptr::null_mut();
        // SAFETY: buf has a spare block, so p+1 .. p+1+len is inside it.
        let st = camoe_model_load_bytes_borrowed(unsafe { p.add(1) }, bytes.len(), &mut m);
        assert_eq!(st, Status::InvalidArgument);
        assert!(
            last_error_message().contains("16-byte"),
            "{}",
            last_error_message()
        );
        assert!(m.is_null());
        // The Rust API has the same rule.
        // SAFETY: buf outlives the (failed) load.
        let e = unsafe {
            Model::from_bytes_borrowed(&std::slice::from_raw_parts(p, bytes.len() + 1)[1..])
        };
        assert_eq!(e.unwrap_err().status(), Status::InvalidArgument);
        assert!(!Model::from_bytes(&bytes).unwrap().is_zero_copy());
    }

    /// A caller built against a later, larger options struct (an unknown field).
    #[repr(C)]
    #[derive(Clone, Copy)]
    struct NewerOptions {
        base: camoe_rank_options,
        added: u32,
    }

    fn sized(size: usize) -> camoe_rank_options {
        let mut o = camoe_rank_options::from_rust(&RankOptions::default());
        o.struct_size = size as u32;
        o
    }

    #[test]
    fn options_default_fills_only_the_callers_size() {
        let mut o = sized(std::mem::size_of::<camoe_rank_options>());
        (o.top_k, o.objective, o.eligible_formats, o.expert_top_k) = (5, 7, 1, 9);
        assert_eq!(camoe_rank_options_default(&mut o), Status::Ok);
        let d = RankOptions::default();
        assert_eq!(
            o.struct_size as usize,
            std::mem::size_of::<camoe_rank_options>()
        );
        assert_eq!(o.to_rust().unwrap(), d);
        // An older caller's 16-byte struct: the field past it is not written.
        let v1 = std::mem::offset_of!(camoe_rank_options, expert_top_k);
        let mut o = sized(v1);
        o.expert_top_k = 1234;
        o.top_k = 5;
        assert_eq!(camoe_rank_options_default(&mut o), Status::Ok);
        assert_eq!(
            (o.top_k, o.expert_top_k, o.struct_size as usize),
            (0, 1234, v1)
        );
        let mut o = sized(0);
        assert_eq!(camoe_rank_options_default(&mut o), Status::InvalidArgument);
        assert_eq!(
            camoe_rank_options_default(std::ptr::null_mut()),
            Status::NullArgument
        );
    }

    #[test]
    fn older_smaller_options_get_the_defaults_for_the_missing_fields() {
        let spec = ModelSpec::random(tiny_config(4, 2, 2, 0, &[8], &[4]), 5);
        let m = CAbi
            .load(&write_model(&spec, WriteOptions::F32).unwrap())
            .unwrap();
        let s = CAbi.session(&m, 8).unwrap();
        assert_eq!(
            camoe_session_set_request(s.0, std::ptr::null(), 0),
            Status::Ok
        );
        let all_experts = rank_empty(s.0, 8, std::ptr::null()).unwrap();
        let mut masked = sized(std::mem::size_of::<camoe_rank_options>());
        masked.expert_top_k = 1;
        let one_expert = rank_empty(s.0, 8, &masked).unwrap();
        assert_ne!(
            all_experts, one_expert,
            "expert_top_k = 1 must change the scores"
        );
        // The same bytes, but a v1 struct_size: expert_top_k lies past it and is ignored.
        let v1 = std::mem::offset_of!(camoe_rank_options, expert_top_k);
        masked.struct_size = v1 as u32;
        assert_eq!(rank_empty(s.0, 8, &masked).unwrap(), all_experts);
        masked.struct_size = u32::MAX;
        let e = rank_empty(s.0, 8, &masked).unwrap_err();
        assert_eq!(
            e.0,
            Status::InvalidArgument,
            "an unset size is not read past"
        );
        masked.struct_size = v1 as u32 - 4;
        let e = rank_empty(s.0, 8, &masked).unwrap_err();
        assert_eq!(e.0, Status::InvalidArgument);
        assert!(e.1.contains("struct_size"), "{}", e.1);
        // A newer caller's larger struct: zero in the unknown field is fine, else refused.
        let mut newer = NewerOptions {
            base: sized(std::mem::size_of::<NewerOptions>()),
            added: 0,
        };
        let p = &newer as *const NewerOptions as *const camoe_rank_options;
        assert_eq!(rank_empty(s.0, 8, p).unwrap(), all_experts);
        newer.added = 1;
        let p = &newer as *const NewerOptions as *const camoe_rank_options;
        assert_eq!(
            rank_empty(s.0, 8, p).unwrap_err().0,
            Status::InvalidArgument
        );
        let mut bad = sized(std::mem::size_of::<camoe_rank_options>());
        bad.objective = 9;
        assert_eq!(
            rank_empty(s.0, 8, &bad).unwrap_err().0,
            Status::InvalidArgument
        );
    }
}
