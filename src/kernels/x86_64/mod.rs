//! x86_64 kernels: one shared int8 matrix body fed by per-ISA primitives (AVX2,
//! AVX-VNNI, AVX-512 VNNI), and f32 / f16 dot products (AVX2+FMA+F16C, AVX-512F).
//!
//! The int8 body is `tiled::body`; this file gives it each ISA's multiply-accumulate.

use core::arch::x86_64::*;

use super::tiled::{body, check, Isa};
use super::tiled_f32::{gemm_float, FIsa, LoadW};
use super::{Finish, Kernels, PackedF16, PackedF32, PackedI8, Tier};

pub fn avx2_supported() -> bool {
    is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c")
}
pub fn avxvnni_supported() -> bool {
    avx2_supported() && is_x86_feature_detected!("avxvnni")
}
pub fn avx512vnni_supported() -> bool {
    avx2_supported()
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
}

/// Overlays the table with the kernels of every x86 tier up to `tier`.
pub fn plug(k: &mut Kernels, tier: Tier) {
    if tier >= Tier::Avx2 && tier <= Tier::Avx512Vnni {
        k.gemm_i8 = (gemm_i8_avx2, "x86_64_avx2_gemm_i8_3x16");
        k.gemm_f32 = (gemm_f32_avx2, "x86_64_fma_gemm_f32_4x24");
        k.gemm_f16 = (gemm_f16_avx2, "x86_64_f16c_gemm_f16_4x24");
        k.dot_f32 = (dot_f32_avx2, "x86_64_fma_dot_f32_32");
        k.dot_f16 = (dot_f16_avx2, "x86_64_f16c_dot_f16_16");
        k.quantize = (quantize_avx2, "x86_64_avx2_quantize_rows");
        k.dequantize = (dequantize_avx2, "x86_64_avx2_dequantize");
        k.requantize = (requantize_avx2, "x86_64_avx2_requantize");
        k.exp = (exp_avx2, "x86_64_avx2_exp_8");
        k.sigmoid = (sigmoid_avx2, "x86_64_avx2_sigmoid_8");
    }
    if tier >= Tier::AvxVnni && tier <= Tier::Avx512Vnni {
        k.gemm_i8 = (gemm_i8_avxvnni, "x86_64_avxvnni_gemm_i8_4x16");
    }
    if tier == Tier::Avx512Vnni {
        k.gemm_i8 = (gemm_i8_avx512vnni, "x86_64_avx512vnni_gemm_i8_6x64");
        k.gemm_f32 = (gemm_f32_avx512, "x86_64_avx512_gemm_f32_6x64");
        k.gemm_f16 = (gemm_f16_avx512, "x86_64_avx512_gemm_f16_6x64");
        k.dot_f32 = (dot_f32_avx512, "x86_64_avx512_dot_f32_64");
        k.quantize = (quantize_avx512, "x86_64_avx512_quantize_rows");
        k.dequantize = (dequantize_avx512, "x86_64_avx512_dequantize");
        k.requantize = (requantize_avx512, "x86_64_avx512_requantize_16");
        k.exp = (exp_avx512, "x86_64_avx512_exp_16");
        k.sigmoid = (sigmoid_avx512, "x86_64_avx512_sigmoid_16");
    }
}

struct Avx2;
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

struct AvxVnni;
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

struct Avx512Vnni;
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

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn gemm_i8_avx2_impl(
    w: &PackedI8,
    x: &[i8],
    xs: usize,
    rows: usize,
    acc: &mut [i32],
    accs: usize,
) {
    unsafe { body::<Avx2, 3, 2>(w, x, xs, rows, acc, accs) }
}
#[target_feature(enable = "avx2,fma,f16c,avxvnni")]
unsafe fn gemm_i8_avxvnni_impl(
    w: &PackedI8,
    x: &[i8],
    xs: usize,
    rows: usize,
    acc: &mut [i32],
    accs: usize,
) {
    unsafe { body::<AvxVnni, 4, 2>(w, x, xs, rows, acc, accs) }
}
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vnni")]
unsafe fn gemm_i8_avx512vnni_impl(
    w: &PackedI8,
    x: &[i8],
    xs: usize,
    rows: usize,
    acc: &mut [i32],
    accs: usize,
) {
    unsafe { body::<Avx512Vnni, 6, 4>(w, x, xs, rows, acc, accs) }
}

fn gemm_i8_avx2(w: &PackedI8, x: &[i8], xs: usize, rows: usize, acc: &mut [i32], accs: usize) {
    check(w, x, xs, rows, acc, accs);
    // SAFETY: installed by `plug` only after avx2_supported(); sizes checked above.
    unsafe { gemm_i8_avx2_impl(w, x, xs, rows, acc, accs) }
}
fn gemm_i8_avxvnni(w: &PackedI8, x: &[i8], xs: usize, rows: usize, acc: &mut [i32], accs: usize) {
    check(w, x, xs, rows, acc, accs);
    // SAFETY: installed only after avxvnni_supported(); sizes checked above.
    unsafe { gemm_i8_avxvnni_impl(w, x, xs, rows, acc, accs) }
}
fn gemm_i8_avx512vnni(
    w: &PackedI8,
    x: &[i8],
    xs: usize,
    rows: usize,
    acc: &mut [i32],
    accs: usize,
) {
    check(w, x, xs, rows, acc, accs);
    // SAFETY: installed only after avx512vnni_supported(); sizes checked above.
    unsafe { gemm_i8_avx512vnni_impl(w, x, xs, rows, acc, accs) }
}

struct Fma256;
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

struct Fma512;
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

// The float GEMMs (avx2 implies fma and f16c here; avx512vnni implies avx512f).
gemm_float!(
    gemm_f32_avx2,
    gemm_f32_avx2_impl,
    PackedF32,
    Fma256,
    f32,
    4,
    3,
    "avx2,fma"
);
gemm_float!(
    gemm_f16_avx2,
    gemm_f16_avx2_impl,
    PackedF16,
    Fma256,
    u16,
    4,
    3,
    "avx2,fma,f16c"
);
gemm_float!(
    gemm_f32_avx512,
    gemm_f32_avx512_impl,
    PackedF32,
    Fma512,
    f32,
    6,
    4,
    "avx2,fma,avx512f"
);
gemm_float!(
    gemm_f16_avx512,
    gemm_f16_avx512_impl,
    PackedF16,
    Fma512,
    u16,
    6,
    4,
    "avx2,fma,avx512f"
);

#[target_feature(enable = "avx2,fma")]
unsafe fn dot_f32_avx2_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: every load reads [i, i + 8) with i + 8 ≤ n.
    unsafe {
        while i + 32 <= n {
            for (u, su) in s.iter_mut().enumerate() {
                *su = _mm256_fmadd_ps(
                    _mm256_loadu_ps(pa.add(i + 8 * u)),
                    _mm256_loadu_ps(pb.add(i + 8 * u)),
                    *su,
                );
            }
            i += 32;
        }
        while i + 8 <= n {
            s[0] = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i)), s[0]);
            i += 8;
        }
        let v = _mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3]));
        let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
        let mut t = _mm_cvtss_f32(h);
        while i < n {
            t += a[i] * b[i];
            i += 1;
        }
        t
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn dot_f32_avx512_impl(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s = [_mm512_setzero_ps(); 4];
    let mut i = 0;
    // SAFETY: full loads read [i, i + 16) with i + 16 ≤ n; the tail load is masked to n.
    unsafe {
        while i + 64 <= n {
            for (u, su) in s.iter_mut().enumerate() {
                *su = _mm512_fmadd_ps(
                    _mm512_loadu_ps(pa.add(i + 16 * u)),
                    _mm512_loadu_ps(pb.add(i + 16 * u)),
                    *su,
                );
            }
            i += 64;
        }
        while i + 16 <= n {
            s[0] = _mm512_fmadd_ps(_mm512_loadu_ps(pa.add(i)), _mm512_loadu_ps(pb.add(i)), s[0]);
            i += 16;
        }
        if i < n {
            let m: __mmask16 = (1u32 << (n - i)) as u16 - 1;
            s[1] = _mm512_fmadd_ps(
                _mm512_maskz_loadu_ps(m, pa.add(i)),
                _mm512_maskz_loadu_ps(m, pb.add(i)),
                s[1],
            );
        }
        _mm512_reduce_add_ps(_mm512_add_ps(
            _mm512_add_ps(s[0], s[1]),
            _mm512_add_ps(s[2], s[3]),
        ))
    }
}

#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_f16_avx2_impl(a: &[u16], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut s = [_mm256_setzero_ps(); 2];
    let mut i = 0;
    // SAFETY: each step reads [i, i + 8) with i + 8 ≤ n.
    unsafe {
        while i + 16 <= n {
            for (u, su) in s.iter_mut().enumerate() {
                let w = _mm256_cvtph_ps(_mm_loadu_si128(pa.add(i + 8 * u) as *const __m128i));
                *su = _mm256_fmadd_ps(w, _mm256_loadu_ps(pb.add(i + 8 * u)), *su);
            }
            i += 16;
        }
        while i + 8 <= n {
            let w = _mm256_cvtph_ps(_mm_loadu_si128(pa.add(i) as *const __m128i));
            s[0] = _mm256_fmadd_ps(w, _mm256_loadu_ps(pb.add(i)), s[0]);
            i += 8;
        }
        let v = _mm256_add_ps(s[0], s[1]);
        let h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
        let mut t = _mm_cvtss_f32(h);
        while i < n {
            t += crate::quant::f16_bits_to_f32(a[i]) * b[i];
            i += 1;
        }
        t
    }
}

fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: installed only after avx2_supported().
    unsafe { dot_f32_avx2_impl(a, b) }
}
fn dot_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
    // SAFETY: installed only after avx512vnni_supported() (which implies avx512f).
    unsafe { dot_f32_avx512_impl(a, b) }
}
fn dot_f16_avx2(a: &[u16], b: &[f32]) -> f32 {
    // SAFETY: installed only after avx2_supported() (which includes f16c and fma).
    unsafe { dot_f16_avx2_impl(a, b) }
}

// Quantization, written out per ISA: the portable body does not vectorize well. The
// operations are the reference's (`quant::row_scale`, `quant::quantize_activations`) in the same
// IEEE order, so every tier produces the same bytes (tests/kernels.rs checks it).

/// Finishes a row: scale from the max |x|, and the scalar tail past `done` columns.
#[inline(always)]
fn scale_of(max_abs: f32) -> f32 {
    if max_abs > 0.0 && max_abs.is_finite() {
        max_abs / 127.0
    } else {
        1.0
    }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
unsafe fn quantize_avx512_impl(
    x: &[f32],
    xs: usize,
    xo: usize,
    cols: usize,
    rows: usize,
    q: &mut [i8],
    qs: usize,
    sc: &mut [f32],
) {
    // Two passes, so that no row waits on its own max → scale → 1/scale chain: all
    // rows' scales first, then all rows' bytes.
    for (r, sc) in sc[..rows].iter_mut().enumerate() {
        let xr = &x[r * xs + xo..r * xs + xo + cols];
        // SAFETY: the loads are masked to lanes i + l < cols = xr.len().
        unsafe {
            let mut m = _mm512_setzero_ps();
            for i in (0..cols).step_by(16) {
                // max(|v|, m) keeps m when v is NaN, as the reference does.
                let v = _mm512_maskz_loadu_ps(lanes16(cols - i), xr.as_ptr().add(i));
                m = _mm512_max_ps(_mm512_abs_ps(v), m);
            }
            *sc = scale_of(_mm512_reduce_max_ps(m));
        }
    }
    for (r, &s) in sc[..rows].iter().enumerate() {
        let xr = &x[r * xs + xo..r * xs + xo + cols];
        let qr = &mut q[r * qs..(r + 1) * qs];
        // SAFETY: avx512f/bw are enabled here; the helper checks its bounds.
        unsafe { quantize_row_avx512(xr, s, qr) };
        qr[cols..].fill(0);
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

/// `quant::quantize_row(x, scale, q)` with 16-lane vectors, 64 bytes stored at a time
/// (narrowing by packs, not by `vpmovdb` to memory, which is slow on Zen 4).
///
/// # Safety
/// The CPU supports avx512f and avx512bw. (A target-feature function, not a generic
/// `inline(always)` one: its closure must get the features too.)
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn quantize_row_avx512(x: &[f32], scale: f32, q: &mut [i8]) {
    let cols = x.len();
    assert!(q.len() >= cols);
    // SAFETY: loads are masked to lanes i + l < cols = x.len(), stores to bytes
    // i + l < cols ≤ q.len().
    unsafe {
        let vinv = _mm512_set1_ps(1.0 / scale);
        let (lo, hi) = (_mm512_set1_ps(-127.0), _mm512_set1_ps(127.0));
        let quantize = |i: usize| -> __m512i {
            if i >= cols {
                return _mm512_setzero_si512();
            }
            let v = _mm512_maskz_loadu_ps(lanes16(cols - i), x.as_ptr().add(i));
            // maxps(t, -127) then minps(·, 127): the reference's clamp, NaN → -127; then
            // nearest, ties to even, by the conversion's own rounding (not MXCSR's).
            let c = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(v, vinv), lo), hi);
            _mm512_cvt_roundps_epi32::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(c)
        };
        // Bytes of 4 vectors packed by 128-bit lanes (packs), dwords back in order.
        let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
        for i in (0..cols).step_by(64) {
            // Within ±127: the saturating packs narrow exactly.
            let w01 = _mm512_packs_epi32(quantize(i), quantize(i + 16));
            let w23 = _mm512_packs_epi32(quantize(i + 32), quantize(i + 48));
            let b = _mm512_permutexvar_epi32(order, _mm512_packs_epi16(w01, w23));
            let dst = q.as_mut_ptr().add(i);
            if cols - i >= 64 {
                _mm512_storeu_si512(dst as *mut __m512i, b);
            } else {
                _mm512_mask_storeu_epi8(dst, (1u64 << (cols - i)) - 1, b);
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn quantize_avx2_impl(
    x: &[f32],
    xs: usize,
    xo: usize,
    cols: usize,
    rows: usize,
    q: &mut [i8],
    qs: usize,
    sc: &mut [f32],
) {
    for r in 0..rows {
        let xr = &x[r * xs + xo..r * xs + xo + cols];
        let qr = &mut q[r * qs..(r + 1) * qs];
        // SAFETY: avx2 is enabled here.
        unsafe {
            let s = scale_of(max_abs_avx2(xr));
            sc[r] = s;
            quantize_row_avx2(xr, s, qr);
        }
        qr[cols..].fill(0);
    }
}

/// The largest |x| of a row, NaN ignored (`quant::row_scale`'s maximum).
///
/// # Safety
/// The CPU supports avx2.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn max_abs_avx2(xr: &[f32]) -> f32 {
    let main = xr.len() / 8 * 8;
    // SAFETY: loads touch [i, i + 8) with i + 8 ≤ main ≤ xr.len().
    unsafe {
        let absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fff_ffff));
        let mut m = _mm256_setzero_ps();
        for i in (0..main).step_by(8) {
            m = _mm256_max_ps(
                _mm256_and_ps(_mm256_loadu_ps(xr.as_ptr().add(i)), absmask),
                m,
            );
        }
        let h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        let h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        let h = _mm_max_ss(h, _mm_shuffle_ps(h, h, 1));
        let mut mx = _mm_cvtss_f32(h);
        for &v in &xr[main..] {
            let a = v.abs();
            mx = if a > mx { a } else { mx };
        }
        mx
    }
}

/// `quant::quantize_activations(xr, s, qr)` with 8-lane vectors.
///
/// # Safety
/// The CPU supports avx2.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn quantize_row_avx2(xr: &[f32], s: f32, qr: &mut [i8]) {
    let cols = xr.len();
    assert!(qr.len() >= cols);
    let main = cols / 8 * 8;
    // SAFETY: loads touch [i, i + 8) with i + 8 ≤ main; stores write 8 bytes there.
    unsafe {
        let vinv = _mm256_set1_ps(1.0 / s);
        let (lo, hi) = (_mm256_set1_ps(-127.0), _mm256_set1_ps(127.0));
        for i in (0..main).step_by(8) {
            let t = _mm256_mul_ps(_mm256_loadu_ps(xr.as_ptr().add(i)), vinv);
            // maxps(t, -127) then minps(·, 127): the reference's clamp, NaN → -127.
            let c = _mm256_min_ps(_mm256_max_ps(t, lo), hi);
            // Nearest, ties to even, whatever MXCSR says; exact, then a lossless convert.
            let r = _mm256_round_ps::<{ _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC }>(c);
            let v = _mm256_cvttps_epi32(r);
            // Values are within ±127: the saturating packs narrow them exactly.
            let w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
            let b = _mm_packs_epi16(w, w);
            (qr.as_mut_ptr().add(i) as *mut i64).write_unaligned(_mm_cvtsi128_si64(b));
        }
    }
    crate::quant::quantize_activations(&xr[main..], s, &mut qr[main..cols]);
}

#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dequantize_avx2_impl(
    acc: &[i32],
    accs: usize,
    rows: usize,
    ws: &[f32],
    xs: &[f32],
    init: &[f32],
    relu: bool,
    out: &mut [f32],
) {
    super::generic::dequantize_body(acc, accs, rows, ws, xs, init, relu, out)
}
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
unsafe fn dequantize_avx512_impl(
    acc: &[i32],
    accs: usize,
    rows: usize,
    ws: &[f32],
    xs: &[f32],
    init: &[f32],
    relu: bool,
    out: &mut [f32],
) {
    super::generic::dequantize_body(acc, accs, rows, ws, xs, init, relu, out)
}

#[allow(clippy::too_many_arguments)]
fn quantize_avx2(
    x: &[f32],
    xs: usize,
    xo: usize,
    cols: usize,
    rows: usize,
    q: &mut [i8],
    qs: usize,
    sc: &mut [f32],
) {
    // SAFETY: installed only after avx2_supported(); the body is safe code.
    unsafe { quantize_avx2_impl(x, xs, xo, cols, rows, q, qs, sc) }
}
#[allow(clippy::too_many_arguments)]
fn quantize_avx512(
    x: &[f32],
    xs: usize,
    xo: usize,
    cols: usize,
    rows: usize,
    q: &mut [i8],
    qs: usize,
    sc: &mut [f32],
) {
    // SAFETY: installed only after avx512vnni_supported(); the body is safe code.
    unsafe { quantize_avx512_impl(x, xs, xo, cols, rows, q, qs, sc) }
}
#[allow(clippy::too_many_arguments)]
fn dequantize_avx2(
    acc: &[i32],
    accs: usize,
    rows: usize,
    ws: &[f32],
    xs: &[f32],
    init: &[f32],
    relu: bool,
    out: &mut [f32],
) {
    // SAFETY: installed only after avx2_supported(); the body is safe code.
    unsafe { dequantize_avx2_impl(acc, accs, rows, ws, xs, init, relu, out) }
}
#[allow(clippy::too_many_arguments)]
fn dequantize_avx512(
    acc: &[i32],
    accs: usize,
    rows: usize,
    ws: &[f32],
    xs: &[f32],
    init: &[f32],
    relu: bool,
    out: &mut [f32],
) {
    // SAFETY: installed only after avx512vnni_supported(); the body is safe code.
    unsafe { dequantize_avx512_impl(acc, accs, rows, ws, xs, init, relu, out) }
}

/// The fused epilogue with 8-wide vectors (`n` a multiple of 8): the reference's
/// operations (`generic::requantize`) in the same order, lane by lane; then each row
/// quantized by the AVX2 quantizer.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn requantize_avx2_impl(
    acc: &[i32],
    n: usize,
    rows: usize,
    ws: &[f32],
    xs: &[f32],
    init: &[f32],
    finish: Finish<'_>,
    out: &mut [f32],
    q: Option<(&mut [i8], &mut [f32])>,
) {
    let len = rows * n;
    assert!(n % 8 == 0 && ws.len() >= n && init.len() >= n && xs.len() >= rows);
    assert!(acc.len() >= len && out.len() >= len);
    if let Finish::Cross { x0, x } = finish {
        assert!(x0.len() >= len && x.len() >= len);
    }
    let (ap, op) = (acc.as_ptr(), out.as_mut_ptr());
    // SAFETY: every access is 8 lanes at r·n + j or j with j + 8 ≤ n, r < rows: inside
    // the lengths asserted above.
    unsafe {
        let zero = _mm256_setzero_ps();
        for (r, &x_scale) in xs[..rows].iter().enumerate() {
            let sx = _mm256_set1_ps(x_scale);
            for j in (0..n).step_by(8) {
                let i = r * n + j;
                let a = _mm256_cvtepi32_ps(_mm256_loadu_si256(ap.add(i) as *const __m256i));
                let s = _mm256_mul_ps(_mm256_loadu_ps(ws.as_ptr().add(j)), sx);
                let mut y =
                    _mm256_add_ps(_mm256_loadu_ps(init.as_ptr().add(j)), _mm256_mul_ps(a, s));
                match finish {
                    Finish::Linear => {}
                    // maxps(y, 0) = y > 0 ? y : 0, the reference's form.
                    Finish::Relu => y = _mm256_max_ps(y, zero),
                    Finish::Cross { x0, x } => {
                        y = _mm256_add_ps(
                            _mm256_mul_ps(_mm256_loadu_ps(x0.as_ptr().add(i)), y),
                            _mm256_loadu_ps(x.as_ptr().add(i)),
                        )
                    }
                }
                _mm256_storeu_ps(op.add(i), y);
            }
        }
    }
    let Some((q, sc)) = q else { return };
    assert!(q.len() >= len && sc.len() >= rows);
    for (r, sc) in sc[..rows].iter_mut().enumerate() {
        let span = r * n..(r + 1) * n;
        // SAFETY: avx2 is enabled here.
        unsafe {
            *sc = scale_of(max_abs_avx2(&out[span.clone()]));
            quantize_row_avx2(&out[span.clone()], *sc, &mut q[span]);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn requantize_avx2(
    acc: &[i32],
    n: usize,
    rows: usize,
    ws: &[f32],
    xs: &[f32],
    init: &[f32],
    finish: Finish<'_>,
    out: &mut [f32],
    q: Option<(&mut [i8], &mut [f32])>,
) {
    // SAFETY: installed only after avx2_supported(); the body is safe code.
    unsafe { requantize_avx2_impl(acc, n, rows, ws, xs, init, finish, out, q) }
}

/// The fused epilogue with 16-wide vectors, `n` being a multiple of 16: the reference's
/// operations (`generic::requantize`) in the same order, lane by lane.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx2,fma,f16c,avx512f,avx512bw,avx512vl")]
unsafe fn requantize_avx512_impl(
    acc: &[i32],
    n: usize,
    rows: usize,
    ws: &[f32],
    xs: &[f32],
    init: &[f32],
    finish: Finish<'_>,
    out: &mut [f32],
    mut q: Option<(&mut [i8], &mut [f32])>,
) {
    let len = rows * n;
    assert!(n % 16 == 0 && ws.len() >= n && init.len() >= n && xs.len() >= rows);
    assert!(acc.len() >= len && out.len() >= len);
    if let Finish::Cross { x0, x } = finish {
        assert!(x0.len() >= len && x.len() >= len);
    }
    if let Some((q, sc)) = &q {
        assert!(q.len() >= len && sc.len() >= rows);
    }
    let (ap, op) = (acc.as_ptr(), out.as_mut_ptr());
    // SAFETY: every access is 16 lanes at r·n + j or j with j + 16 ≤ n, r < rows: inside
    // the lengths asserted above.
    unsafe {
        let zero = _mm512_setzero_ps();
        // Two passes, so that no row waits on its own max → scale → 1/scale chain: all
        // rows' values and scales first, then all rows' bytes.
        for (r, &x_scale) in xs[..rows].iter().enumerate() {
            let sx = _mm512_set1_ps(x_scale);
            let mut m = zero;
            for j in (0..n).step_by(16) {
                let i = r * n + j;
                let a = _mm512_cvtepi32_ps(_mm512_loadu_si512(ap.add(i) as *const __m512i));
                let s = _mm512_mul_ps(_mm512_loadu_ps(ws.as_ptr().add(j)), sx);
                let mut y =
                    _mm512_add_ps(_mm512_loadu_ps(init.as_ptr().add(j)), _mm512_mul_ps(a, s));
                match finish {
                    Finish::Linear => {}
                    // maxps(y, 0) = y > 0 ? y : 0, the reference's form.
                    Finish::Relu => y = _mm512_max_ps(y, zero),
                    Finish::Cross { x0, x } => {
                        y = _mm512_add_ps(
                            _mm512_mul_ps(_mm512_loadu_ps(x0.as_ptr().add(i)), y),
                            _mm512_loadu_ps(x.as_ptr().add(i)),
                        )
                    }
                }
                _mm512_storeu_ps(op.add(i), y);
                // max(|y|, m) keeps m when y is NaN, as `row_scale` does; after a ReLU
                // y is +0 or positive, so |y| = y.
                m = match finish {
                    Finish::Relu => _mm512_max_ps(y, m),
                    _ => _mm512_max_ps(_mm512_abs_ps(y), m),
                };
            }
            if let Some((_, sc)) = q.as_mut() {
                sc[r] = scale_of(_mm512_reduce_max_ps(m));
            }
        }
        let Some((q, sc)) = q else { return };
        for (r, &s) in sc[..rows].iter().enumerate() {
            let span = r * n..(r + 1) * n;
            quantize_row_avx512(&out[span.clone()], s, &mut q[span]);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn requantize_avx512(
    acc: &[i32],
    n: usize,
    rows: usize,
    ws: &[f32],
    xs: &[f32],
    init: &[f32],
    finish: Finish<'_>,
    out: &mut [f32],
    q: Option<(&mut [i8], &mut [f32])>,
) {
    // SAFETY: installed only after avx512vnni_supported(); the body checks its bounds.
    unsafe { requantize_avx512_impl(acc, n, rows, ws, xs, init, finish, out, q) }
}

// exp and sigmoid: the generic bodies compiled with the tier's features (vectorized by
// the compiler: the same IEEE operations lane by lane, so the same bits as the scalar
// tier; tests/kernels.rs checks it).
#[target_feature(enable = "avx2,fma")]
unsafe fn exp_avx2_impl(v: &mut [f32]) {
    super::generic::exp_body(v)
}
#[target_feature(enable = "avx2,fma")]
unsafe fn sigmoid_avx2_impl(v: &mut [f32]) {
    super::generic::sigmoid_body(v)
}
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn exp_avx512_impl(v: &mut [f32]) {
    super::generic::exp_body(v)
}
#[target_feature(enable = "avx512f,avx512bw,avx512vl")]
unsafe fn sigmoid_avx512_impl(v: &mut [f32]) {
    super::generic::sigmoid_body(v)
}
fn exp_avx2(v: &mut [f32]) {
    // SAFETY: installed only after avx2_supported(); the body is safe code.
    unsafe { exp_avx2_impl(v) }
}
fn sigmoid_avx2(v: &mut [f32]) {
    // SAFETY: as exp_avx2.
    unsafe { sigmoid_avx2_impl(v) }
}
fn exp_avx512(v: &mut [f32]) {
    // SAFETY: installed only after avx512vnni_supported() (which implies avx512f/bw/vl).
    unsafe { exp_avx512_impl(v) }
}
fn sigmoid_avx512(v: &mut [f32]) {
    // SAFETY: as exp_avx512.
    unsafe { sigmoid_avx512_impl(v) }
}
