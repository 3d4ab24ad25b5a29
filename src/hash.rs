//! The stable, seeded hashes of the model file: feature hashing and the file checksum.
//!
//! Every binding and the trainer must produce the same bits, so these functions are
//! specified exactly in `docs/FORMAT.md` ("Hashing") and use only wrapping 64-bit
//! integer arithmetic on little-endian words.

/// Odd 64-bit multipliers used by [`mix64`] and [`hash_bytes`].
const M1: u64 = 0xbf58_476d_1ce4_e5b9;
const M2: u64 = 0x94d0_49bb_1331_11eb;
const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// A bijective 64-bit finalizer: every input bit affects every output bit.
#[inline]
pub const fn mix64(mut z: u64) -> u64 {
    z ^= z >> 30;
    z = z.wrapping_mul(M1);
    z ^= z >> 27;
    z = z.wrapping_mul(M2);
    z ^ (z >> 31)
}

/// Hashes a byte string (a categorical value given as text) to a 64-bit id.
///
/// `h = mix64(seed ^ (len + 1)·GOLDEN)`, then for each 8-byte little-endian word `w`
/// (the last one zero-padded) `h = mix64(h ^ w) + GOLDEN`; the result is `mix64(h)`.
pub fn hash_bytes(bytes: &[u8], seed: u64) -> u64 {
    let mut h = mix64(seed ^ (bytes.len() as u64 + 1).wrapping_mul(GOLDEN));
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = mix64(h ^ w).wrapping_add(GOLDEN);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut tail = [0u8; 8];
        tail[..rest.len()].copy_from_slice(rest);
        h = mix64(h ^ u64::from_le_bytes(tail)).wrapping_add(GOLDEN);
    }
    mix64(h)
}

/// The per-field seed: distinct fields send the same id to unrelated rows.
#[inline]
pub const fn field_seed(model_seed: u64, field_index: u32) -> u64 {
    mix64(model_seed ^ (field_index as u64 + 1).wrapping_mul(GOLDEN))
}

/// Maps a 64-bit id into `1..vocab` (row 0 is reserved for "missing").
/// `vocab` must be at least 2; the loader guarantees it for every field.
#[inline]
pub const fn bucket(id: u64, field_seed: u64, vocab: u32) -> u32 {
    debug_assert!(vocab >= 2);
    1 + (mix64(id ^ field_seed) % (vocab as u64 - 1)) as u32
}

/// The file checksum: four independent lanes over 32-byte blocks, so it runs at
/// memory speed; the tail is folded in word by word. Specified in FORMAT.md.
pub fn checksum(bytes: &[u8]) -> u64 {
    let mut lanes = [
        GOLDEN,
        GOLDEN.rotate_left(16),
        GOLDEN.rotate_left(32),
        GOLDEN.rotate_left(48),
    ];
    let mut blocks = bytes.chunks_exact(32);
    for b in &mut blocks {
        for (i, lane) in lanes.iter_mut().enumerate() {
            let o = i * 8;
            let w = u64::from_le_bytes([
                b[o],
                b[o + 1],
                b[o + 2],
                b[o + 3],
                b[o + 4],
                b[o + 5],
                b[o + 6],
                b[o + 7],
            ]);
            *lane = (*lane ^ w).wrapping_mul(M1).rotate_left(29);
        }
    }
    let mut h = (bytes.len() as u64).wrapping_mul(GOLDEN);
    for lane in lanes {
        h = mix64(h ^ lane);
    }
    hash_bytes(blocks.remainder(), h)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Pinned values: a change here breaks every shipped model and every binding.
    // The same vectors are listed in docs/FORMAT.md for other implementations.
    #[test]
    fn hashes_are_pinned() {
        assert_eq!(hash_bytes(b"", 0), 0x48218226ff3cd4bf);
        assert_eq!(hash_bytes(b"podcast", 7), 0x9a8480e560a158c3);
        assert_eq!(
            hash_bytes(b"0123456789abcdef_tail", 0x00ca_50e0_0000_0001),
            0x53319480278e301f
        );
        assert_eq!(
            checksum(b"camoe checksum test vector, 45 bytes long...."),
            0x462659c9da99a8ba
        );
        assert_eq!(bucket(12345, field_seed(42, 3), 1000), 464);
        assert_ne!(hash_bytes(b"podcast", 8), hash_bytes(b"podcast", 7));
        assert_ne!(hash_bytes(b"abcdefgh", 1), hash_bytes(b"abcdefgh\0", 1));
    }

    #[test]
    fn buckets_stay_in_range_and_spread() {
        let seed = field_seed(42, 3);
        let mut counts = [0u32; 17];
        for id in 0..17_000u64 {
            let b = bucket(id, seed, 17);
            assert!((1..17).contains(&b));
            counts[b as usize] += 1;
        }
        assert_eq!(counts[0], 0);
        for &c in &counts[1..] {
            assert!((800..1330).contains(&c), "uneven bucket count {c}");
        }
    }

    #[test]
    fn checksum_sees_every_byte() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let base = checksum(&data);
        for i in [0usize, 31, 32, 500, 990, 999] {
            let mut d = data.clone();
            d[i] ^= 1;
            assert_ne!(checksum(&d), base, "flip at {i} not seen");
        }
        assert_ne!(checksum(&data[..999]), base);
    }
}

/// A small seeded generator (SplitMix64) for random test models and sample data.
#[derive(Clone, Debug)]
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix64(self.0)
    }
    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Approximately standard normal (sum of four uniforms, rescaled).
    pub fn normal(&mut self) -> f32 {
        let s: f32 = (0..4).map(|_| self.uniform()).sum();
        (s - 2.0) * 3.0f32.sqrt()
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}
