//! The int8-static mode (calibrated activation scales, fused GEMM epilogue): its file
//! section round-trips and is validated, its rankings stay close to the float model's,
//! and it allocates nothing new per call beyond what dynamic int8 does.

mod common;

use camoe::hash::SplitMix;
use camoe::spec::{ModelSpec, Side};
use camoe::{
    max_abs_scales, write_model, write_model_static, ActivationScales, Model, ModelConfig,
    RankOptions, Session, Status, WriteOptions,
};
use common::*;

/// Scores of `n` random candidates for one random request (seeded) on `model`.
fn scores(model: &std::sync::Arc<Model>, seed: u64, n: usize) -> Vec<f32> {
    let cfg = model.config().clone();
    let mut rng = SplitMix(seed);
    let req = random_side(&cfg, Side::Request, &mut rng);
    let cands = random_candidates(&cfg, n, cfg.tasks.len() as u64, &mut rng);
    let feats = borrow_candidates(&cands);
    let list = candidate_list(&feats);
    let mut s = Session::new(model.clone(), n).unwrap();
    s.set_request(&borrow(&req)).unwrap();
    let mut out = vec![0.0; n];
    s.rank(&list, &RankOptions::default(), &mut out, &mut vec![0; n])
        .unwrap();
    out
}

/// Min/max scales from the float model's inputs on requests `seeds` (as the converter's
/// calibration does, on random requests instead of data rows).
pub fn calibrate(spec: &ModelSpec, seeds: std::ops::Range<u64>) -> ActivationScales {
    let f32_model = Model::from_bytes(&write_model(spec, WriteOptions::F32).unwrap()).unwrap();
    max_abs_scales(&spec.config, || {
        for seed in seeds {
            scores(&f32_model, seed, 20);
        }
    })
}

fn configs() -> Vec<ModelConfig> {
    let mut v = config_grid();
    v.push(ModelConfig::demo());
    v
}

#[test]
fn scales_round_trip_and_dynamic_files_have_none() {
    for cfg in configs() {
        let spec = ModelSpec::random(cfg, 3);
        let scales = calibrate(&spec, 0..4);
        let bytes = write_model_static(&spec, WriteOptions::INT8, Some(&scales)).unwrap();
        let m = Model::from_bytes(&bytes).unwrap();
        assert_eq!(m.activation_scales(), Some(scales.clone()));
        let dynamic = Model::from_bytes(&write_model(&spec, WriteOptions::INT8).unwrap()).unwrap();
        assert_eq!(dynamic.activation_scales(), None);
        // The same weights: only the scales section and its reference differ in size.
        let d = write_model(&spec, WriteOptions::INT8).unwrap();
        assert!(bytes.len() > d.len() && bytes.len() - d.len() <= 64 + 32 + 64 + 4 * 2 * 64);
    }
}

#[test]
fn bad_scales_are_refused_naming_the_section() {
    let spec = ModelSpec::random(tiny_config(2, 2, 1, 0, &[6], &[3]), 1);
    let good = calibrate(&spec, 0..2);
    let refuse = |s: &ActivationScales, opts: WriteOptions, want: &str| {
        let e = write_model_static(&spec, opts, Some(s)).unwrap_err();
        assert_eq!(e.status(), Status::BadModel);
        assert!(e.message().contains(want), "{} (want {want})", e.message());
    };
    for bad in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let mut s = good.clone();
        s.layers[1] = bad;
        refuse(&s, WriteOptions::INT8, "activation scales: value");
        let mut s = good.clone();
        s.request = bad;
        refuse(&s, WriteOptions::INT8, "not a positive finite scale");
    }
    // A layer reading x0 must use the candidate part's scale.
    let mut s = good.clone();
    s.layers[0] *= 2.0;
    refuse(&s, WriteOptions::INT8, "reads x0");
    // Scales need int8 layers.
    refuse(&good, WriteOptions::F16, "is not int8");
    // One value per layer plus two.
    let mut s = good.clone();
    s.layers.pop();
    refuse(&s, WriteOptions::INT8, "activation scales: expected");
}

/// Mean and max |Δp| of `a` against `b`.
fn delta(a: &[f32], b: &[f32]) -> (f64, f64) {
    let d: Vec<f64> = a.iter().zip(b).map(|(x, y)| (x - y).abs() as f64).collect();
    (
        d.iter().sum::<f64>() / d.len() as f64,
        d.iter().fold(0f64, |m, &x| m.max(x)),
    )
}

#[test]
fn static_rankings_stay_close_to_float() {
    for cfg in configs() {
        let name = format!("{:?}", cfg.arch);
        let spec = ModelSpec::random(cfg, 7);
        let load = |b: Vec<u8>| Model::from_bytes(&b).unwrap();
        let float = load(write_model(&spec, WriteOptions::F32).unwrap());
        let dynamic = load(write_model(&spec, WriteOptions::INT8).unwrap());
        let scales = calibrate(&spec, 0..30);
        let fixed = load(write_model_static(&spec, WriteOptions::INT8, Some(&scales)).unwrap());
        let (mut ds, mut dd) = ((0.0, 0.0), (0.0, 0.0));
        // Requests the calibration did not see.
        for seed in 100..110 {
            let f = scores(&float, seed, 40);
            let (s, d) = (
                delta(&scores(&fixed, seed, 40), &f),
                delta(&scores(&dynamic, seed, 40), &f),
            );
            ds = (ds.0 + s.0 / 10.0, f64::max(ds.1, s.1));
            dd = (dd.0 + d.0 / 10.0, f64::max(dd.1, d.1));
        }
        eprintln!("{name}: static mean/max |Δp| {ds:?}, dynamic {dd:?}");
        assert!(
            ds.0 < 0.01 && ds.1 < 0.08,
            "{name}: static {ds:?} (dynamic {dd:?})"
        );
    }
}

/// Corrupt scales in a written file (checksum refreshed, so the values themselves are
/// what the loader checks): zero, negative, NaN and infinite values anywhere in the
/// section, a layer reading x0 with its own scale, and a reference to a missing section,
/// each refused as `BAD_MODEL` naming the activation scales.
#[test]
fn corrupt_scales_in_a_file_are_refused() {
    let spec = ModelSpec::random(tiny_config(3, 2, 2, 0, &[6], &[4]), 2);
    let scales = calibrate(&spec, 0..3);
    let good = write_model_static(&spec, WriteOptions::INT8, Some(&scales)).unwrap();
    let layout = camoe::format::parse(&good).unwrap();
    let at = layout.activation_scales.unwrap();
    let refused = |b: &mut Vec<u8>, what: &str| {
        let n = b.len() - 8;
        let sum = camoe::hash::checksum(&b[..n]);
        b[n..].copy_from_slice(&sum.to_le_bytes());
        let e = Model::from_bytes(b).unwrap_err();
        assert_eq!(e.status(), Status::BadModel, "{what}");
        assert!(
            e.message().starts_with("activation scales"),
            "{what}: {}",
            e.message()
        );
    };
    let values = 2 + layout.linears.len();
    for i in 0..values {
        for bad in [0.0f32, -0.5, f32::NAN, f32::INFINITY] {
            let mut b = good.clone();
            b[at + 4 * i..at + 4 * i + 4].copy_from_slice(&bad.to_le_bytes());
            refused(&mut b, &format!("value {i} = {bad}"));
        }
    }
    // Layer 0 reads x0: a scale of its own (positive, finite) is still refused.
    let mut b = good.clone();
    b[at + 8..at + 12].copy_from_slice(&(scales.candidate * 2.0).to_le_bytes());
    refused(&mut b, "x0 layer");
    // The config's last u32 names the section: point it past the table.
    let cfg_at = u64::from_le_bytes(good[64 + 8..64 + 16].try_into().unwrap()) as usize;
    let cfg_len = u64::from_le_bytes(good[64 + 16..64 + 24].try_into().unwrap()) as usize;
    let mut b = good.clone();
    b[cfg_at + cfg_len - 4..cfg_at + cfg_len].copy_from_slice(&9999u32.to_le_bytes());
    refused(&mut b, "missing section");
    // Untouched, it loads.
    assert!(Model::from_bytes(&good)
        .unwrap()
        .activation_scales()
        .is_some());
}
