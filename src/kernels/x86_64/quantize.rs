//! x86_64 activation quantization (AVX2, AVX-512), written out per ISA: the portable
//! body does not vectorize well. The operations are the reference's (`quant::row_scale`,
//! `quant::quantize_activations`) in the same IEEE order, so every tier produces the same
//! bytes (tests/kernels.rs checks it).

use core::arch::x86_64::*;

use crate::kernels::RowView;

/// The scale of a row from its largest |x| (NaN skipped), as `quant::row_scale` ends.
#[inline(always)]
pub(crate) fn scale_of(max_abs: f32) -> f32 {
    if max_abs > 0.0 && max_abs.is_finite() {
        max_abs / 127.0
    } else {
        1.0
    }
}

/// The activation quantizer ([`crate::kernels::QuantizeRows`]) with 16-lane vectors.
///
/// # Safety
/// The CPU supports avx512f and avx512bw.
#[inline(always)]
pub(crate) unsafe fn rows_avx512(
    x: RowView<'_, f32>,
    cols: usize,
    q: &mut [i8],
    qs: usize,
    sc: &mut [f32],
) {
    let rows = x.rows;
    // Two passes, so that no row waits on its own max → scale → 1/scale chain: all
    // rows' scales first, then all rows' bytes.
    for (r, sc) in sc[..rows].iter_mut().enumerate() {
        let xr = x.row(r, cols);
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
        let xr = x.row(r, cols);
        let qr = &mut q[r * qs..(r + 1) * qs];
        // SAFETY: the caller's CPU supports avx512f/bw; the helper checks its bounds.
        unsafe { quantize_row_avx512(xr, s, qr) };
        qr[cols..].fill(0);
    }
}

/// The mask of the first `min(left, 16)` lanes.
#[inline(always)]
pub(crate) fn lanes16(left: usize) -> __mmask16 {
    if left >= 16 {
        0xffff
    } else {
        ((1u32 << left) - 1) as u16
    }
}

/// `quant::quantize_activations(x, scale, q)` with 16-lane vectors, 64 bytes stored at a time
/// (narrowing by packs, not by `vpmovdb` to memory, which is slow on Zen 4).
///
/// # Safety
/// The CPU supports avx512f and avx512bw. (A target-feature function, not a generic
/// `inline(always)` one: its closure must get the features too.)
#[inline]
#[target_feature(enable = "avx512f,avx512bw")]
pub(crate) unsafe fn quantize_row_avx512(x: &[f32], scale: f32, q: &mut [i8]) {
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

/// The activation quantizer ([`crate::kernels::QuantizeRows`]) with 8-lane vectors.
///
/// # Safety
/// The CPU supports avx2.
#[inline(always)]
pub(crate) unsafe fn rows_avx2(
    x: RowView<'_, f32>,
    cols: usize,
    q: &mut [i8],
    qs: usize,
    sc: &mut [f32],
) {
    for r in 0..x.rows {
        let xr = x.row(r, cols);
        let qr = &mut q[r * qs..(r + 1) * qs];
        // SAFETY: the caller's CPU supports avx2.
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
pub(crate) unsafe fn max_abs_avx2(xr: &[f32]) -> f32 {
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
pub(crate) unsafe fn quantize_row_avx2(xr: &[f32], s: f32, qr: &mut [i8]) {
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
