//! Loading a signed model: the right key and signature load it; a tampered file, another
//! key, or a truncated signature are refused with a status, before the file is parsed.

use camoe::spec::ModelSpec;
use camoe::{write_model, Model, ModelConfig, Status, WriteOptions};
use ed25519_compact::{KeyPair, Seed};

#[test]
fn signed_model_loads_only_with_its_signature_and_key() {
    let bytes = write_model(
        &ModelSpec::random(ModelConfig::demo(), 9),
        WriteOptions::INT8,
    )
    .unwrap();
    let keys = KeyPair::from_seed(Seed::new([7; 32]));
    let other = KeyPair::from_seed(Seed::new([8; 32]));
    let sig = keys.sk.sign(&bytes, None);
    let dir = std::env::temp_dir();
    let path = dir.join(format!("camoe-signed-{}.camoe", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();

    let m = Model::load_signed(&path, sig.as_ref(), keys.pk.as_ref()).unwrap();
    assert_eq!(m.config(), &ModelConfig::demo());
    let status = |r: Result<std::sync::Arc<Model>, camoe::Error>| r.unwrap_err().status();
    assert_eq!(
        status(Model::load_signed(&path, sig.as_ref(), other.pk.as_ref())),
        Status::Signature
    );
    assert_eq!(
        status(Model::load_signed(
            &path,
            &sig.as_ref()[..63],
            keys.pk.as_ref()
        )),
        Status::InvalidArgument
    );
    // One byte changed deep inside a tensor: the checksum would catch it too, but the
    // signature is checked first and names the real problem.
    let mut tampered = bytes.clone();
    let i = tampered.len() / 2;
    tampered[i] ^= 0x01;
    std::fs::write(&path, &tampered).unwrap();
    assert_eq!(
        status(Model::load_signed(&path, sig.as_ref(), keys.pk.as_ref())),
        Status::Signature
    );
    // The unsigned loader still loads an intact file, and refuses the tampered one.
    assert_eq!(status(Model::load(&path)), Status::Checksum);
    std::fs::remove_file(&path).unwrap();
}
