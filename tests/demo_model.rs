//! The shipped random-weight demo model is exactly what the writer produces from
//! `ModelSpec::random(ModelConfig::demo(), seed)`: regenerate it with
//! `CAMOE_BLESS=1 cargo test --test demo_model`.

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
