//! Ed25519 verification of a model file's detached signature, for over-the-air updates.
//!
//! A signature is 64 bytes over the whole `.camoe` file as shipped; the app passes the
//! 32-byte public key it trusts. `camoe sign` (tools) makes the signature.

use crate::err;
use crate::error::{Error, Status};

/// Bytes of an Ed25519 public key.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Bytes of an Ed25519 signature.
pub const SIGNATURE_LEN: usize = 64;

/// Checks that `signature` is `public_key`'s Ed25519 signature of `bytes`.
///
/// A key or signature of the wrong length is [`Status::InvalidArgument`]; a signature
/// that does not verify (tampered bytes, another key, a malformed signature) is
/// [`Status::Signature`].
pub fn verify(bytes: &[u8], signature: &[u8], public_key: &[u8]) -> Result<(), Error> {
    if public_key.len() != PUBLIC_KEY_LEN {
        return Err(err!(
            Status::InvalidArgument,
            "an Ed25519 public key is {PUBLIC_KEY_LEN} bytes, got {}",
            public_key.len()
        ));
    }
    if signature.len() != SIGNATURE_LEN {
        return Err(err!(
            Status::InvalidArgument,
            "an Ed25519 signature is {SIGNATURE_LEN} bytes, got {}",
            signature.len()
        ));
    }
    let key = ed25519_compact::PublicKey::from_slice(public_key)
        .map_err(|_| err!(Status::InvalidArgument, "not an Ed25519 public key"))?;
    let sig = ed25519_compact::Signature::from_slice(signature)
        .map_err(|_| err!(Status::Signature, "malformed Ed25519 signature"))?;
    key.verify(bytes, &sig).map_err(|_| {
        err!(
            Status::Signature,
            "the model's signature does not verify with this public key ({} bytes signed?)",
            bytes.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// RFC 8032, section 7.1: TEST 1 (empty message), TEST 2 (one byte), TEST 3 (two bytes).
    const RFC8032: [(&str, &str, &str); 3] = [
        (
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
            "",
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
        ),
        (
            "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
            "72",
            "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
        ),
        (
            "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025",
            "af82",
            "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a",
        ),
    ];

    #[test]
    fn rfc8032_vectors_verify() {
        for (key, msg, sig) in RFC8032 {
            verify(&hex(msg), &hex(sig), &hex(key)).unwrap();
        }
    }

    #[test]
    fn tampered_message_wrong_key_and_bad_signature_are_refused() {
        let (key, msg, sig) = RFC8032[2];
        let (key, msg, sig) = (hex(key), hex(msg), hex(sig));
        let mut tampered = msg.clone();
        tampered[0] ^= 1;
        assert_eq!(
            verify(&tampered, &sig, &key).unwrap_err().status(),
            Status::Signature
        );
        let other_key = hex(RFC8032[1].0);
        assert_eq!(
            verify(&msg, &sig, &other_key).unwrap_err().status(),
            Status::Signature
        );
        let mut flipped = sig.clone();
        flipped[5] ^= 0x20;
        assert_eq!(
            verify(&msg, &flipped, &key).unwrap_err().status(),
            Status::Signature
        );
        // Truncated signature and key: a length error, not a verification failure.
        assert_eq!(
            verify(&msg, &sig[..63], &key).unwrap_err().status(),
            Status::InvalidArgument
        );
        assert_eq!(
            verify(&msg, &sig, &key[..31]).unwrap_err().status(),
            Status::InvalidArgument
        );
        // A non-canonical S (S + L, with L the group order) must not verify (malleability).
        let mut s_plus_l = sig.clone();
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9,
            0xde, 0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        for i in 0..32 {
            let v = s_plus_l[32 + i] as u16 + l[i] as u16 + carry;
            s_plus_l[32 + i] = v as u8;
            carry = v >> 8;
        }
        assert_eq!(
            verify(&msg, &s_plus_l, &key).unwrap_err().status(),
            Status::Signature
        );
    }
}
