//! Fuzz target: bytes → model; a model that loads must open a session and rank a
//! fixed slate.
#![no_main]

use camoe::Model;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte, bit 0 set: rewrite the trailer with the body's checksum, so mutations
    // reach the parser behind the checksum (clear: the checksum check itself is fuzzed).
    let Some((&flag, file)) = data.split_first() else {
        return;
    };
    let mut bytes = file.to_vec();
    if flag & 1 == 1 && bytes.len() >= 8 {
        let body = bytes.len() - 8;
        let sum = camoe::hash::checksum(&bytes[..body]);
        bytes[body..].copy_from_slice(&sum.to_le_bytes());
    }
    if let Ok(model) = Model::from_bytes(&bytes) {
        camoe_fuzz::rank_fixed(model);
    }
});
