//! The x86_64 f32 primitives ([`F32Simd`]): 8 lanes with AVX2+FMA(+F16C for f16 weight
//! loads), 16 lanes with AVX-512 F/BW; for the float GEMM, the dots, the quantizer and
//! the fused epilogue.

use core::arch::x86_64::*;

use crate::kernels::simd::{F32Simd, LoadW};

/// Nearest, ties to even, whatever MXCSR says (and no exception flags).
const NEAREST: i32 = _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC;

pub(crate) struct Fma256;
impl F32Simd for Fma256 {
    type V = __m256;
    const LANES: usize = 8;
    const QBLOCK: usize = 8;
    // SAFETY (all): the caller's CPU supports avx2, fma and f16c, and its pointers are
    // valid for the lanes it names; masked lanes are not accessed.
    #[inline(always)]
    unsafe fn zero() -> __m256 {
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn set1(v: f32) -> __m256 {
        unsafe { _mm256_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn splat(p: *const f32) -> __m256 {
        unsafe { _mm256_broadcast_ss(&*p) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> __m256 {
        unsafe {
            if n >= 8 {
                _mm256_loadu_ps(p)
            } else {
                _mm256_maskload_ps(p, mask8(n))
            }
        }
    }
    #[inline(always)]
    unsafe fn load_i32(p: *const i32) -> __m256 {
        unsafe { _mm256_cvtepi32_ps(_mm256_loadu_si256(p as *const __m256i)) }
    }
    #[inline(always)]
    unsafe fn store(v: __m256, p: *mut f32) {
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn store_part(v: __m256, p: *mut f32, n: usize) {
        unsafe {
            if n >= 8 {
                _mm256_storeu_ps(p, v)
            } else {
                _mm256_maskstore_ps(p, mask8(n), v)
            }
        }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn fma(acc: __m256, x: __m256, w: __m256) -> __m256 {
        unsafe { _mm256_fmadd_ps(x, w, acc) }
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn abs(a: __m256) -> __m256 {
        unsafe { _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff))) }
    }
    #[inline(always)]
    unsafe fn reduce_add(v: __m256) -> f32 {
        unsafe {
            let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
            _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)))
        }
    }
    #[inline(always)]
    unsafe fn reduce_max(v: __m256) -> f32 {
        unsafe {
            let h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
            let h = _mm_max_ps(h, _mm_movehl_ps(h, h));
            _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps(h, h, 1)))
        }
    }
    #[inline(always)]
    unsafe fn quantize_block(x: *const f32, inv: f32, q: *mut i8, n: usize) {
        unsafe {
            let t = _mm256_mul_ps(Self::load_part(x, n), _mm256_set1_ps(inv));
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

pub(crate) struct Fma512;
impl F32Simd for Fma512 {
    type V = __m512;
    const LANES: usize = 16;
    const QBLOCK: usize = 64;
    // SAFETY (all): the caller's CPU supports avx512f and avx512bw, and its pointers are
    // valid for the lanes it names; masked lanes are not accessed.
    #[inline(always)]
    unsafe fn zero() -> __m512 {
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn set1(v: f32) -> __m512 {
        unsafe { _mm512_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> __m512 {
        unsafe { _mm512_maskz_loadu_ps(lanes16(n), p) }
    }
    #[inline(always)]
    unsafe fn load_i32(p: *const i32) -> __m512 {
        unsafe { _mm512_cvtepi32_ps(_mm512_loadu_si512(p as *const __m512i)) }
    }
    #[inline(always)]
    unsafe fn store(v: __m512, p: *mut f32) {
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn store_part(v: __m512, p: *mut f32, n: usize) {
        unsafe { _mm512_mask_storeu_ps(p, lanes16(n), v) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn fma(acc: __m512, x: __m512, w: __m512) -> __m512 {
        unsafe { _mm512_fmadd_ps(x, w, acc) }
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn abs(a: __m512) -> __m512 {
        unsafe { _mm512_abs_ps(a) }
    }
    #[inline(always)]
    unsafe fn reduce_add(v: __m512) -> f32 {
        unsafe { _mm512_reduce_add_ps(v) }
    }
    #[inline(always)]
    unsafe fn reduce_max(v: __m512) -> f32 {
        unsafe { _mm512_reduce_max_ps(v) }
    }
    #[inline(always)]
    unsafe fn quantize_block(x: *const f32, inv: f32, q: *mut i8, n: usize) {
        unsafe { quantize_64(x, inv, q, n) }
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
impl LoadW<Fma256> for f32 {
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        unsafe { _mm256_loadu_ps(p) }
    }
}
impl LoadW<Fma256> for u16 {
    #[inline(always)]
    unsafe fn load(p: *const u16) -> __m256 {
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
    }
}
impl LoadW<Fma512> for f32 {
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        unsafe { _mm512_loadu_ps(p) }
    }
}
impl LoadW<Fma512> for u16 {
    #[inline(always)]
    unsafe fn load(p: *const u16) -> __m512 {
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)) }
    }
}
