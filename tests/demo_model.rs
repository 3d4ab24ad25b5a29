//! The shipped random-weight demo model is exactly what the writer produces from
//! `ModelSpec::random(ModelConfig::demo(), seed)`: regenerate it with
//! `CAMOE_BLESS=1 cargo test --test demo_model`.

mod common;

use camoe::{write_model, Model, ModelConfig, ModelSpec, WriteOptions};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/models/random-demo.camoe");
pub const DEMO_SEED: u64 = 2025;

#[test]
fn shipped_random_demo_model_is_reproducible() {
    let bytes = write_model(
        &ModelSpec::random(ModelConfig::demo(), DEMO_SEED),
        WriteOptions::INT8,
    )
    .unwrap();
    if std::env::var_os("CAMOE_BLESS").is_some() {
        std::fs::write(PATH, &bytes).unwrap();
    }
    let shipped =
        std::fs::read(PATH).expect("models/random-demo.camoe is missing: run with CAMOE_BLESS=1");
    assert!(
        shipped == bytes,
        "models/random-demo.camoe differs from the writer's output"
    );
    let m = Model::load(PATH).unwrap();
    assert_eq!(m.config(), &ModelConfig::demo());
    assert!(!m.is_zero_copy(), "Model::load reads the file into memory");
    // SAFETY: nothing modifies the shipped file while this test runs.
    let mapped = unsafe { Model::load_mapped(PATH) }.unwrap();
    assert_eq!(mapped.config(), &ModelConfig::demo());
    assert!(
        mapped.is_zero_copy(),
        "load_mapped uses the file's pages in place"
    );
}

/// What the value check (`format::check_values`: finiteness, int8 −128, scales) costs per
/// load, against the whole `Model::from_bytes`, measured in the same run, interleaved:
/// `cargo test --profile ci -p camoe --test demo_model -- --ignored --nocapture load_cost`.
#[test]
#[ignore = "a timing, not a check: run it by name with --ignored --nocapture"]
fn load_cost() {
    use camoe::format::{check_values, parse};
    use camoe::hash::checksum;
    use std::time::Instant;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models/");
    let f32_model = write_model(
        &ModelSpec::random(ModelConfig::demo(), DEMO_SEED),
        WriteOptions::F32,
    )
    .unwrap();
    let models = [
        (
            "camoe-demo.camoe (int8)",
            std::fs::read(format!("{dir}camoe-demo.camoe")).unwrap(),
        ),
        (
            "camoe-demo.f16.camoe (f16)",
            std::fs::read(format!("{dir}camoe-demo.f16.camoe")).unwrap(),
        ),
        ("random demo, f32 (writer)", f32_model),
    ];
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (name, bytes) in &models {
        let layout = parse(bytes).unwrap();
        let (mut load, mut values, mut sum) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..200 {
            let t = Instant::now();
            drop(std::hint::black_box(Model::from_bytes(bytes).unwrap()));
            load.push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            check_values(std::hint::black_box(bytes), &layout).unwrap();
            values.push(t.elapsed().as_secs_f64() * 1e6);
            let t = Instant::now();
            std::hint::black_box(checksum(&bytes[..bytes.len() - 8]));
            sum.push(t.elapsed().as_secs_f64() * 1e6);
        }
        let (load, values, sum) = (median(load), median(values), median(sum));
        eprintln!(
            "{name}: {} bytes; from_bytes median {load:.0} us, of which the value check {values:.0} us ({:.1} %; without it {:.0} us) and the checksum {sum:.0} us",
            bytes.len(),
            100.0 * values / load,
            load - values
        );
    }
}

#[test]
fn model_identity_names_the_file_and_its_writer() {
    let bytes = std::fs::read(PATH).unwrap();
    let m = Model::from_bytes(&bytes).unwrap();
    assert_eq!(m.name(), "camoe-demo");
    assert_eq!(m.format_version(), camoe::format::FORMAT_VERSION);
    assert_eq!(
        bytes[8..12],
        2u32.to_le_bytes(),
        "the header records version 2"
    );
    let version = (camoe::VERSION_MAJOR << 16) | (camoe::VERSION_MINOR << 8) | camoe::VERSION_PATCH;
    assert_eq!(m.writer_version(), version);
    let stored = u64::from_le_bytes(bytes[bytes.len() - 8..].try_into().unwrap());
    assert_eq!(m.content_hash(), stored);
    // A file written before the writer version was recorded (0 in the header) loads and
    // says so; another file has another content hash.
    let mut old = bytes.clone();
    old[40..44].fill(0);
    let n = old.len();
    let sum = camoe::hash::checksum(&old[..n - 8]);
    old[n - 8..].copy_from_slice(&sum.to_le_bytes());
    let o = Model::from_bytes(&old).unwrap();
    assert_eq!(o.writer_version(), 0);
    assert_ne!(o.content_hash(), m.content_hash());
}

/// A fingerprint of the scores a shipped model gives 5 requests × 300 random candidates
/// on kernel tier `tier` (every score's bits, hashed with the file checksum).
fn score_fingerprint(path: &str, tier: camoe::kernels::Tier) -> Option<u64> {
    use camoe::hash::SplitMix;
    use camoe::spec::Side;
    use camoe::{RankOptions, Session};
    let kernels = camoe::kernels::kernels_for(tier)?;
    let model = Model::load(path).unwrap();
    let cfg = model.config().clone();
    let mut session = Session::with_kernels(model, 300, kernels).unwrap();
    let mut rng = SplitMix(7);
    let mut bits = Vec::new();
    for _ in 0..5 {
        let request = common::random_side(&cfg, Side::Request, &mut rng);
        session.set_request(&common::borrow(&request)).unwrap();
        let cands = common::random_candidates(&cfg, 300, cfg.tasks.len() as u64, &mut rng);
        let borrowed = common::borrow_candidates(&cands);
        let list = common::candidate_list(&borrowed);
        let (mut scores, mut order) = (vec![0f32; 300], vec![0u32; 300]);
        session
            .rank(&list, &RankOptions::default(), &mut scores, &mut order)
            .unwrap();
        bits.extend(scores.iter().flat_map(|s| s.to_bits().to_le_bytes()));
    }
    Some(camoe::hash::checksum(&bits))
}

/// The shipped models rank exactly as pinned: rewriting a file (a new format version,
/// a new layout of the same weights) must not move a single score bit. int8 scores are
/// the same on every tier; the float model's are pinned per tier family.
#[test]
fn shipped_models_rank_as_pinned() {
    use camoe::kernels::Tier;
    // Taken from the version 1 files before the format changed.
    const INT8: [(&str, u64); 2] = [
        ("camoe-demo.camoe", 0xf608013907054941),
        ("random-demo.camoe", 0x04f955e5de88a466),
    ];
    // f32 sums are ordered differently by the scalar and the x86 vector tiers.
    let f16 = |tier| match tier {
        Tier::Scalar => Some(0xd20a63eefff48d1e),
        Tier::Avx2 | Tier::AvxVnni | Tier::Avx512Vnni => Some(0x0e601bfbf0494c6d),
        _ => None,
    };
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/models/");
    let mut checked = 0;
    for tier in Tier::ALL {
        let pinned = INT8.into_iter().map(|(f, h)| (f, Some(h)));
        for (file, want) in pinned.chain([("camoe-demo.f16.camoe", f16(tier))]) {
            let Some(got) = score_fingerprint(&format!("{dir}{file}"), tier) else {
                continue;
            };
            eprintln!("{file} on {tier:?}: {got:#018x}");
            if let Some(want) = want {
                assert_eq!(got, want, "{file} on {tier:?}: scores moved");
                checked += 1;
            }
        }
    }
    assert!(checked >= 2, "no tier of this CPU was checked");
}
