//! The x86_64 fused int8 epilogues ([`crate::kernels::Requantize`]): AVX2 and AVX-512.

use core::arch::x86_64::*;

use super::quantize::{max_abs_avx2, quantize_row_avx2, quantize_row_avx512, scale_of};
use crate::kernels::{Finish, Scaled};

/// The fused epilogue with 8-wide vectors (`n` a multiple of 8): the reference's
/// operations (`generic::requantize`) in the same order, lane by lane; then each row
/// quantized by the AVX2 quantizer.
/// # Safety
/// The CPU supports avx2.
#[inline(always)]
pub(crate) unsafe fn requantize_avx2(
    y: Scaled<'_>,
    finish: Finish<'_>,
    out: &mut [f32],
    q: Option<(&mut [i8], &mut [f32])>,
) {
    let (acc, n, rows) = (y.acc.data, y.cols, y.acc.rows);
    let (ws, xs, init) = (y.w_scale, y.x_scale, y.init);
    assert_eq!(y.acc.stride, n, "requantize: acc rows are n apart");
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
                    // maxps(y, 0) = y > 0 ? y : 0: `relu`, bit for bit.
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
        // SAFETY: the caller's CPU supports avx2.
        unsafe {
            *sc = scale_of(max_abs_avx2(&out[span.clone()]));
            quantize_row_avx2(&out[span.clone()], *sc, &mut q[span]);
        }
    }
}

/// The fused epilogue with 16-wide vectors, `n` being a multiple of 16: the reference's
/// operations (`generic::requantize`) in the same order, lane by lane.
/// # Safety
/// The CPU supports avx512f, avx512bw and avx512vl.
#[inline(always)]
pub(crate) unsafe fn requantize_avx512(
    y: Scaled<'_>,
    finish: Finish<'_>,
    out: &mut [f32],
    mut q: Option<(&mut [i8], &mut [f32])>,
) {
    let (acc, n, rows) = (y.acc.data, y.cols, y.acc.rows);
    let (ws, xs, init) = (y.w_scale, y.x_scale, y.init);
    assert_eq!(y.acc.stride, n, "requantize: acc rows are n apart");
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
                    // maxps(y, 0) = y > 0 ? y : 0: `relu`, bit for bit.
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
