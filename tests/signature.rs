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

#[test]
fn signed_model_through_the_c_abi() {
    use camoe::ffi::*;
    let bytes = write_model(
        &ModelSpec::random(ModelConfig::demo(), 9),
        WriteOptions::INT8,
    )
    .unwrap();
    let keys = KeyPair::from_seed(Seed::new([3; 32]));
    let sig = keys.sk.sign(&bytes, None);
    let path = std::env::temp_dir().join(format!("camoe-signed-c-{}.camoe", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let cpath = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    let (s, k) = (sig.as_ref(), keys.pk.as_ref());
    let mut m = std::ptr::null_mut();
    let load = |sig: &[u8], key: &[u8], m: &mut *mut camoe_model| {
        camoe_model_load_file_signed(
            cpath.as_ptr(),
            sig.as_ptr(),
            sig.len(),
            key.as_ptr(),
            key.len(),
            m,
        )
    };
    assert_eq!(load(s, k, &mut m), Status::Ok);
    assert!(!m.is_null());
    camoe_model_free(&mut m);
    let other = KeyPair::from_seed(Seed::new([4; 32]));
    assert_eq!(load(s, other.pk.as_ref(), &mut m), Status::Signature);
    assert!(m.is_null());
    assert!(last_error_message().contains("signature"));
    assert_eq!(load(&s[..10], k, &mut m), Status::InvalidArgument);
    assert_eq!(
        camoe_verify_signature(bytes.as_ptr(), bytes.len(), s.as_ptr(), 64, k.as_ptr(), 32),
        Status::Ok
    );
    assert_eq!(
        camoe_verify_signature(
            bytes.as_ptr(),
            bytes.len() - 1,
            s.as_ptr(),
            64,
            k.as_ptr(),
            32
        ),
        Status::Signature
    );
    std::fs::remove_file(&path).unwrap();
}
