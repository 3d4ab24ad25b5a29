//! The x86_64 f32 primitives ([`F32Simd`]): 8 lanes with AVX2+FMA(+F16C for f16 weight
//! loads), 16 lanes with AVX-512 F/BW; for the float GEMM, the dots, the quantizer and
//! the fused epilogue.

use core::arch::x86_64::*;

use crate::kernels::simd::{primitives, F32Simd, LoadW};

/// Nearest, ties to even, whatever MXCSR says (and no exception flags).
const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

/// 8 lanes: AVX2, FMA and F16C.
pub(crate) struct Fma256;
/// 16 lanes: AVX-512 F and BW.
pub(crate) struct Fma512;

primitives! {
    impl F32Simd for Fma256, Fma512 {
        type V = __m256, __m512;
        const LANES: usize = 8, 16;
        const QBLOCK: usize = 8, 64;
        fn zero() -> Self::V = _mm256_setzero_ps(), _mm512_setzero_ps();
        fn set1(v: f32) -> Self::V = _mm256_set1_ps(v), _mm512_set1_ps(v);
        fn splat(p: *const f32) -> Self::V = _mm256_broadcast_ss(&*p), _mm512_set1_ps(*p);
        fn load(p: *const f32) -> Self::V = _mm256_loadu_ps(p), _mm512_loadu_ps(p);
        fn load_part(p: *const f32, n: usize) -> Self::V =
            if n >= 8 { _mm256_loadu_ps(p) } else { _mm256_maskload_ps(p, mask8(n)) },
            _mm512_maskz_loadu_ps(lanes16(n), p);
        fn load_i32(p: *const i32) -> Self::V =
            _mm256_cvtepi32_ps(_mm256_loadu_si256(p as *const __m256i)),
            _mm512_cvtepi32_ps(_mm512_loadu_si512(p as *const __m512i));
        fn store(v: Self::V, p: *mut f32) = _mm256_storeu_ps(p, v), _mm512_storeu_ps(p, v);
        fn store_part(v: Self::V, p: *mut f32, n: usize) =
            if n >= 8 { _mm256_storeu_ps(p, v) } else { _mm256_maskstore_ps(p, mask8(n), v) },
            _mm512_mask_storeu_ps(p, lanes16(n), v);
        fn add(a: Self::V, b: Self::V) -> Self::V = _mm256_add_ps(a, b), _mm512_add_ps(a, b);
        fn mul(a: Self::V, b: Self::V) -> Self::V = _mm256_mul_ps(a, b), _mm512_mul_ps(a, b);
        fn fma(acc: Self::V, x: Self::V, w: Self::V) -> Self::V =
            _mm256_fmadd_ps(x, w, acc), _mm512_fmadd_ps(x, w, acc);
        fn max(a: Self::V, b: Self::V) -> Self::V = _mm256_max_ps(a, b), _mm512_max_ps(a, b);
        fn abs(a: Self::V) -> Self::V =
            _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff))),
            _mm512_abs_ps(a);
        fn reduce_add(v: Self::V) -> f32 =
            reduce8(v, |a, b| _mm_add_ps(a, b)), _mm512_reduce_add_ps(v);
        fn reduce_max(v: Self::V) -> f32 =
            reduce8(v, |a, b| _mm_max_ps(a, b)), _mm512_reduce_max_ps(v);
        fn quantize_block(x: *const f32, inv: f32, q: *mut i8, n: usize) =
            quantize_8(x, inv, q, n), quantize_64(x, inv, q, n);
        fn quantize_store(v: Self::V, inv: Self::V, q: *mut i8) =
            store_8(v, inv, q), store_16(v, inv, q);
    }
}

/// `quant::quantize_activation` of 8 lanes from a register, stored as 8 bytes.
///
/// # Safety
/// The CPU supports avx2; `q` is valid for 8 bytes.
#[inline(always)]
unsafe fn store_8(v: __m256, inv: __m256, q: *mut i8) {
    // SAFETY: the caller's contract.
    unsafe {
        // maxps(t, -127) then minps(·, 127): the reference's clamp, NaN → -127.
        let t = _mm256_mul_ps(v, inv);
        let c = _mm256_min_ps(
            _mm256_max_ps(t, _mm256_set1_ps(-127.0)),
            _mm256_set1_ps(127.0),
        );
        let i = _mm256_cvttps_epi32(_mm256_round_ps::<NEAREST>(c));
        // Within ±127: the saturating packs narrow exactly.
        let w = _mm_packs_epi32(_mm256_castsi256_si128(i), _mm256_extracti128_si256(i, 1));
        _mm_storel_epi64(q as *mut __m128i, _mm_packs_epi16(w, w));
    }
}

/// `quant::quantize_activation` of 16 lanes from a register, stored as 16 bytes.
///
/// # Safety
/// The CPU supports avx512f; `q` is valid for 16 bytes.
#[inline(always)]
unsafe fn store_16(v: __m512, inv: __m512, q: *mut i8) {
    // SAFETY: the caller's contract.
    unsafe {
        let t = _mm512_mul_ps(v, inv);
        let c = _mm512_min_ps(
            _mm512_max_ps(t, _mm512_set1_ps(-127.0)),
            _mm512_set1_ps(127.0),
        );
        let i = _mm512_cvt_roundps_epi32::<NEAREST>(c);
        // Within ±127: the narrowing is exact; to a register, then one store.
        _mm_storeu_si128(q as *mut __m128i, _mm512_cvtsepi32_epi8(i));
    }
}

/// The 8 lanes of `v` folded by `op` (a tree: lanes 0+4, 1+5, …, then pairs).
#[inline(always)]
unsafe fn reduce8(v: __m256, op: impl Fn(__m128, __m128) -> __m128) -> f32 {
    // SAFETY: the caller's CPU supports avx2.
    unsafe {
        let h = op(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let h = op(h, _mm_movehl_ps(h, h));
        _mm_cvtss_f32(op(h, _mm_shuffle_ps(h, h, 1)))
    }
}

/// 8 values at a time with 8-lane vectors.
///
/// # Safety
/// The CPU supports avx2; `x` and `q` are valid for `min(n, 8)` values.
#[inline(always)]
unsafe fn quantize_8(x: *const f32, inv: f32, q: *mut i8, n: usize) {
    // SAFETY: loads are masked to lanes below n, stores to bytes below n.
    unsafe {
        let t = _mm256_mul_ps(Fma256::load_part(x, n), _mm256_set1_ps(inv));
        // maxps(t, -127) then minps(·, 127): the reference's clamp, NaN → -127.
        let c = _mm256_min_ps(
            _mm256_max_ps(t, _mm256_set1_ps(-127.0)),
            _mm256_set1_ps(127.0),
        );
        // Exact rounding, then a lossless convert.
        let v = _mm256_cvttps_epi32(_mm256_round_ps::<NEAREST>(c));
        // Values are within ±127: the saturating packs narrow them exactly.
        let w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        let b = _mm_cvtsi128_si64(_mm_packs_epi16(w, w));
        if n >= 8 {
            (q as *mut i64).write_unaligned(b);
        } else {
            core::ptr::copy_nonoverlapping(b.to_le_bytes().as_ptr() as *const i8, q, n);
        }
    }
}

/// The mask of the first `n` (< 8) of 8 lanes.
#[inline(always)]
unsafe fn mask8(n: usize) -> __m256i {
    unsafe {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx)
    }
}

/// The mask of the first `min(left, 16)` lanes.
#[inline(always)]
fn lanes16(left: usize) -> __mmask16 {
    if left >= 16 {
        0xffff
    } else {
        ((1u32 << left) - 1) as u16
    }
}

/// 64 values at a time with 16-lane vectors, narrowed by packs (not by `vpmovdb` to
/// memory, which is slow on Zen 4).
///
/// # Safety
/// The CPU supports avx512f and avx512bw; `x` and `q` are valid for `min(n, 64)` values.
/// (A target-feature function, not an `inline(always)` one: its closure must get the
/// features too.)
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn quantize_64(x: *const f32, inv: f32, q: *mut i8, n: usize) {
    // SAFETY: loads are masked to lanes i + l < n, stores to bytes below n.
    unsafe {
        let vinv = _mm512_set1_ps(inv);
        let (lo, hi) = (_mm512_set1_ps(-127.0), _mm512_set1_ps(127.0));
        let quantize = |i: usize| -> __m512i {
            if i >= n {
                return _mm512_setzero_si512();
            }
            let v = _mm512_maskz_loadu_ps(lanes16(n - i), x.add(i));
            // maxps(t, -127) then minps(·, 127): the reference's clamp, NaN → -127; then
            // nearest, ties to even, by the conversion's own rounding (not MXCSR's).
            let c = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, vinv), lo), hi);
            _mm512_cvt_roundps_epi32::<NEAREST>(c)
        };
        // Bytes of 4 vectors packed by 128-bit lanes (packs), dwords back in order.
        let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        // Within ±127: the saturating packs narrow exactly.
        let w01 = _mm512_packs_epi32(quantize(0), quantize(16));
        let w23 = _mm512_packs_epi32(quantize(32), quantize(48));
        let b = _mm512_permutexvar_epi32(order, _mm512_packs_epi16(w01, w23));
        if n >= 64 {
            _mm512_storeu_si512(q as *mut __m512i, b);
        } else {
            _mm512_mask_storeu_epi8(q, (1u64 << n) - 1, b);
        }
    }
}

// Weight loads: f32 as is, f16 widened exactly by vcvtph2ps.
primitives! {
    impl LoadW<Fma256> for f32 { fn load(p: *const f32) -> __m256 = _mm256_loadu_ps(p); }
}
primitives! {
    impl LoadW<Fma256> for u16 {
        fn load(p: *const u16) -> __m256 = _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i));
    }
}
primitives! {
    impl LoadW<Fma512> for f32 { fn load(p: *const f32) -> __m512 = _mm512_loadu_ps(p); }
}
primitives! {
    impl LoadW<Fma512> for u16 {
        fn load(p: *const u16) -> __m512 = _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i));
    }
}
