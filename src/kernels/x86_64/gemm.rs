//! The x86_64 matrix kernels' primitives: the int8 multiply-accumulate of AVX2, AVX-VNNI
//! and AVX-512 VNNI for the shared int8 body (`tiled`), and the f32 FMA of AVX2 and
//! AVX-512 with their f32 / f16 weight loads for the shared float body (`tiled_f32`).

use core::arch::x86_64::*;

use super::quantize::lanes16;
use crate::kernels::tiled::Isa;
use crate::kernels::tiled_f32::{FIsa, LoadW};

pub(crate) struct Avx2;
impl Isa for Avx2 {
    type V = __m256i;
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> __m256i {
        unsafe { _mm256_setzero_si256() }
    }
    #[inline(always)]
    unsafe fn prep(x4: u32) -> __m256i {
        unsafe { _mm256_set1_epi32(x4 as i32) }
    }
    #[inline(always)]
    unsafe fn load(p: *const i8) -> __m256i {
        unsafe { _mm256_loadu_si256(p as *const __m256i) }
    }
    #[inline(always)]
    unsafe fn dot(acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
        // |x| ≤ 127 and |w| ≤ 127, so the pairwise i16 sums of maddubs (≤ 2·127·127)
        // never saturate: move x's sign onto w and multiply |x| (unsigned) by it.
        unsafe {
            let p = _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(w, x));
            _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)))
        }
    }
    #[inline(always)]
    unsafe fn finish(acc: __m256i, _rowsum: *const i32, out: *mut i32) {
        unsafe { _mm256_storeu_si256(out as *mut __m256i, acc) }
    }
}

pub(crate) struct AvxVnni;
impl Isa for AvxVnni {
    type V = __m256i;
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn zero() -> __m256i {
        unsafe { _mm256_setzero_si256() }
    }
    #[inline(always)]
    unsafe fn prep(x4: u32) -> __m256i {
        // vpdpbusd multiplies unsigned by signed bytes: offset x by 128 (x ^ 0x80).
        unsafe { _mm256_set1_epi32((x4 ^ 0x8080_8080) as i32) }
    }
    #[inline(always)]
    unsafe fn load(p: *const i8) -> __m256i {
        unsafe { _mm256_loadu_si256(p as *const __m256i) }
    }
    #[inline(always)]
    unsafe fn dot(acc: __m256i, x: __m256i, w: __m256i) -> __m256i {
        unsafe { _mm256_dpbusd_avx_epi32(acc, x, w) }
    }
    #[inline(always)]
    unsafe fn finish(acc: __m256i, rowsum: *const i32, out: *mut i32) {
        // Σ (x+128)·w − 128·Σ w = Σ x·w.
        unsafe {
            let s = _mm256_slli_epi32(_mm256_loadu_si256(rowsum as *const __m256i), 7);
            _mm256_storeu_si256(out as *mut __m256i, _mm256_sub_epi32(acc, s))
        }
    }
}

pub(crate) struct Avx512Vnni;
impl Isa for Avx512Vnni {
    type V = __m512i;
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn zero() -> __m512i {
        unsafe { _mm512_setzero_si512() }
    }
    #[inline(always)]
    unsafe fn prep(x4: u32) -> __m512i {
        unsafe { _mm512_set1_epi32((x4 ^ 0x8080_8080) as i32) }
    }
    #[inline(always)]
    unsafe fn load(p: *const i8) -> __m512i {
        unsafe { _mm512_loadu_si512(p as *const __m512i) }
    }
    #[inline(always)]
    unsafe fn dot(acc: __m512i, x: __m512i, w: __m512i) -> __m512i {
        unsafe { _mm512_dpbusd_epi32(acc, x, w) }
    }
    #[inline(always)]
    unsafe fn finish(acc: __m512i, rowsum: *const i32, out: *mut i32) {
        unsafe {
            let s = _mm512_slli_epi32(_mm512_loadu_si512(rowsum as *const __m512i), 7);
            _mm512_storeu_si512(out as *mut __m512i, _mm512_sub_epi32(acc, s))
        }
    }
}

pub(crate) struct Fma256;
impl FIsa for Fma256 {
    type V = __m256;
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> __m256 {
        // SAFETY (all): the caller's pointers are valid for the lanes it names.
        unsafe {
            if n >= 8 {
                _mm256_loadu_ps(p)
            } else {
                let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx);
                _mm256_maskload_ps(p, m)
            }
        }
    }
    #[inline(always)]
    unsafe fn splat(p: *const f32) -> __m256 {
        unsafe { _mm256_broadcast_ss(&*p) }
    }
    #[inline(always)]
    unsafe fn fma(acc: __m256, x: __m256, w: __m256) -> __m256 {
        unsafe { _mm256_fmadd_ps(x, w, acc) }
    }
    #[inline(always)]
    unsafe fn store_part(v: __m256, p: *mut f32, n: usize) {
        unsafe {
            if n >= 8 {
                _mm256_storeu_ps(p, v)
            } else {
                let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let m = _mm256_cmpgt_epi32(_mm256_set1_epi32(n as i32), idx);
                _mm256_maskstore_ps(p, m, v)
            }
        }
    }
}

pub(crate) struct Fma512;
impl FIsa for Fma512 {
    type V = __m512;
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> __m512 {
        // SAFETY (all): the caller's pointers are valid for the lanes it names; masked
        // lanes are not accessed.
        unsafe { _mm512_maskz_loadu_ps(lanes16(n), p) }
    }
    #[inline(always)]
    unsafe fn splat(p: *const f32) -> __m512 {
        unsafe { _mm512_set1_ps(*p) }
    }
    #[inline(always)]
    unsafe fn fma(acc: __m512, x: __m512, w: __m512) -> __m512 {
        unsafe { _mm512_fmadd_ps(x, w, acc) }
    }
    #[inline(always)]
    unsafe fn store_part(v: __m512, p: *mut f32, n: usize) {
        unsafe { _mm512_mask_storeu_ps(p, lanes16(n), v) }
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
