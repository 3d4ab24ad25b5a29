//! The x86_64 int8 multiply-accumulates for the shared int8 body (`tiled`): AVX2
//! (`vpmaddubsw`), and `vpdpbusd` on ymm (AVX-VNNI) or zmm (AVX-512 VNNI).

use core::arch::x86_64::*;
use core::marker::PhantomData;

use super::float::{Fma256, Fma512};
use crate::kernels::simd::{primitives, F32Simd};
use crate::kernels::tiled::{FusedIsa, Isa};

/// The i32 vector operations of one width (ymm, zmm) the int8 primitives use.
pub(crate) trait I32x: Copy {
    /// The f32 vectors of the same width.
    type F: F32Simd;
    const LANES: usize;
    unsafe fn zero() -> Self;
    unsafe fn set1(v: i32) -> Self;
    unsafe fn load(p: *const i8) -> Self;
    unsafe fn store(v: Self, p: *mut i32);
    /// `v − (rowsum << 7)`, `rowsum` loaded from `p`.
    unsafe fn sub_shl7(v: Self, p: *const i32) -> Self;
    /// `vpdpbusd`: `acc + Σ_{i<4} x[i]·w[i]`, x unsigned and w signed bytes.
    unsafe fn dpbusd(acc: Self, x: Self, w: Self) -> Self;
    unsafe fn to_f32(v: Self) -> <Self::F as F32Simd>::V;
}

// ymm's dpbusd needs avxvnni; zmm's, avx512f and avx512vnni.
primitives! {
    impl I32x for __m256i, __m512i {
        type F = Fma256, Fma512;
        const LANES: usize = 8, 16;
        fn zero() -> Self = _mm256_setzero_si256(), _mm512_setzero_si512();
        fn set1(v: i32) -> Self = _mm256_set1_epi32(v), _mm512_set1_epi32(v);
        fn load(p: *const i8) -> Self =
            _mm256_loadu_si256(p as *const __m256i), _mm512_loadu_si512(p as *const __m512i);
        fn store(v: Self, p: *mut i32) =
            _mm256_storeu_si256(p as *mut __m256i, v),
            _mm512_storeu_si512(p as *mut __m512i, v);
        fn sub_shl7(v: Self, p: *const i32) -> Self =
            _mm256_sub_epi32(v, _mm256_slli_epi32(Self::load(p as *const i8), 7)),
            _mm512_sub_epi32(v, _mm512_slli_epi32(Self::load(p as *const i8), 7));
        fn dpbusd(acc: Self, x: Self, w: Self) -> Self =
            _mm256_dpbusd_avx_epi32(acc, x, w), _mm512_dpbusd_epi32(acc, x, w);
        fn to_f32(v: Self) -> <Self::F as F32Simd>::V = _mm256_cvtepi32_ps(v), _mm512_cvtepi32_ps(v);
    }
}

/// AVX2: `vpmaddubsw` + `vpmaddwd` per 4 bytes.
pub(crate) struct Avx2;
primitives! {
    impl Isa for Avx2 {
        type V = __m256i;
        const LANES: usize = 8;
        fn zero() -> __m256i = <__m256i as I32x>::zero();
        fn prep(x4: u32) -> __m256i = <__m256i as I32x>::set1(x4 as i32);
        fn load(p: *const i8) -> __m256i = <__m256i as I32x>::load(p);
        // |x| ≤ 127 and |w| ≤ 127, so the pairwise i16 sums of maddubs (≤ 2·127·127)
        // never saturate: move x's sign onto w and multiply |x| (unsigned) by it.
        fn dot(acc: __m256i, x: __m256i, w: __m256i) -> __m256i = _mm256_add_epi32(
            acc,
            _mm256_madd_epi16(
                _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(w, x)),
                _mm256_set1_epi16(1),
            ),
        );
        fn finish(acc: __m256i, _rowsum: *const i32, out: *mut i32) = I32x::store(acc, out);
    }
}

/// `vpdpbusd` of one width (`__m256i`: AVX-VNNI, `__m512i`: AVX-512 VNNI).
pub(crate) struct Vnni<V>(PhantomData<V>);
impl<V: I32x> Isa for Vnni<V> {
    type V = V;
    const LANES: usize = V::LANES;
    #[inline(always)]
    unsafe fn zero() -> V {
        unsafe { V::zero() }
    }
    #[inline(always)]
    unsafe fn prep(x4: u32) -> V {
        // vpdpbusd multiplies unsigned by signed bytes: offset x by 128 (x ^ 0x80).
        unsafe { V::set1((x4 ^ 0x8080_8080) as i32) }
    }
    #[inline(always)]
    unsafe fn load(p: *const i8) -> V {
        unsafe { V::load(p) }
    }
    #[inline(always)]
    unsafe fn dot(acc: V, x: V, w: V) -> V {
        unsafe { V::dpbusd(acc, x, w) }
    }
    #[inline(always)]
    unsafe fn finish(acc: V, rowsum: *const i32, out: *mut i32) {
        // Σ (x+128)·w − 128·Σ w = Σ x·w.
        unsafe { V::store(V::sub_shl7(acc, rowsum), out) }
    }
}

impl FusedIsa for Avx2 {
    type F = Fma256;
    #[inline(always)]
    unsafe fn sums(acc: __m256i, _rowsum: *const i32) -> __m256 {
        unsafe { _mm256_cvtepi32_ps(acc) }
    }
}

impl<V: I32x> FusedIsa for Vnni<V> {
    type F = V::F;
    #[inline(always)]
    unsafe fn sums(acc: V, rowsum: *const i32) -> <V::F as F32Simd>::V {
        // Σ (x+128)·w − 128·Σ w = Σ x·w, exact in i32, then converted.
        unsafe { V::to_f32(V::sub_shl7(acc, rowsum)) }
    }
}
