//! The x86_64 dot products: f32 (AVX2+FMA, AVX-512F) and f16 weights (AVX2+F16C).

use core::arch::x86_64::*;

/// # Safety
/// The CPU supports avx2 and fma.
#[inline(always)]
pub(crate) unsafe fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
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

/// # Safety
/// The CPU supports avx512f.
#[inline(always)]
pub(crate) unsafe fn dot_f32_avx512(a: &[f32], b: &[f32]) -> f32 {
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

/// # Safety
/// The CPU supports avx2, fma and f16c.
#[inline(always)]
pub(crate) unsafe fn dot_f16_avx2(a: &[u16], b: &[f32]) -> f32 {
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
