//! The f32 SIMD primitives one ISA gives ([`F32Simd`]), and the bodies written once over
//! them: the dot products, the activation quantizer and the fused int8 epilogue. Each is
//! compiled per ISA inside a registry line's `#[target_feature]` wrapper, and does the
//! scalar reference's IEEE operations in the same order lane by lane, so that the
//! quantizer and the epilogue give the reference's bits on every tier.

use super::{Finish, FloatWeight, RowView, Scaled};

/// The f32 primitives of one ISA.
pub(crate) trait F32Simd {
    type V: Copy;
    /// Lanes per vector.
    const LANES: usize;
    /// Values [`F32Simd::quantize_block`] takes at a time.
    const QBLOCK: usize;
    unsafe fn zero() -> Self::V;
    unsafe fn set1(v: f32) -> Self::V;
    /// The value at `p` in every lane.
    #[inline(always)]
    unsafe fn splat(p: *const f32) -> Self::V {
        unsafe { Self::set1(*p) }
    }
    unsafe fn load(p: *const f32) -> Self::V;
    /// `LANES` values from `p`; only the first `n` (≤ LANES) are read, the rest are 0.
    unsafe fn load_part(p: *const f32, n: usize) -> Self::V;
    /// `LANES` i32 from `p`, converted to f32 (rounded to nearest).
    unsafe fn load_i32(p: *const i32) -> Self::V;
    unsafe fn store(v: Self::V, p: *mut f32);
    /// Stores the first `n` (≤ LANES) lanes at `p`.
    unsafe fn store_part(v: Self::V, p: *mut f32, n: usize);
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// `acc + x·w` per lane, fused.
    unsafe fn fma(acc: Self::V, x: Self::V, w: Self::V) -> Self::V;
    /// `a > b ? a : b` per lane (x86's `maxps`: `b` when either is NaN).
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn abs(a: Self::V) -> Self::V;
    unsafe fn reduce_add(v: Self::V) -> f32;
    /// The largest lane (no lane is NaN).
    unsafe fn reduce_max(v: Self::V) -> f32;
    /// `quant::quantize_activations` of the first `min(n, QBLOCK)` values at `x`, with
    /// `inv` = 1/scale, into the bytes at `q` (no byte past them is written).
    unsafe fn quantize_block(x: *const f32, inv: f32, q: *mut i8, n: usize);
    /// `LANES` int8 values from `p`, converted to f32 (exactly).
    #[inline(always)]
    unsafe fn load_i8(p: *const i8) -> Self::V {
        let mut t = [0.0f32; 16];
        for (i, v) in t[..Self::LANES].iter_mut().enumerate() {
            *v = unsafe { *p.add(i) } as f32;
        }
        unsafe { Self::load(t.as_ptr()) }
    }
    /// `quant::quantize_activation(v, inv)` of every lane, stored as `LANES` bytes at `q`
    /// (`inv` = 1/scale in every lane).
    #[inline(always)]
    unsafe fn quantize_store(v: Self::V, inv: Self::V, q: *mut i8) {
        let mut t = [0.0f32; 16];
        let mut i = [0.0f32; 16];
        // SAFETY: LANES ≤ 16; the caller's `q` holds LANES bytes.
        unsafe {
            Self::store(v, t.as_mut_ptr());
            Self::store(inv, i.as_mut_ptr());
            Self::quantize_block(t.as_ptr(), i[0], q, Self::LANES);
        }
    }
}

/// Implements a trait of primitives for one ISA, or for two from one table: each row
/// gives a method's signature once, then its body for each ISA. Every body may use the
/// ISA's intrinsics: the trait's contract is that the caller's CPU has them, and that its
/// pointers are valid for the lanes they name.
macro_rules! primitives {
    (impl $tr:ident for $a:ty, $b:ty {
        $(type $t:ident = $ta:ty, $tb:ty;)*
        $(const $c:ident: $ct:ty = $ca:expr, $cb:expr;)*
        $(fn $m:ident($($p:ident: $pt:ty),*) $(-> $r:ty)? = $ea:expr, $eb:expr;)*
    }) => {
        $crate::kernels::simd::primitives!(impl $tr for $a {
            $(type $t = $ta;)* $(const $c: $ct = $ca;)* $(fn $m($($p: $pt),*) $(-> $r)? = $ea;)*
        });
        $crate::kernels::simd::primitives!(impl $tr for $b {
            $(type $t = $tb;)* $(const $c: $ct = $cb;)* $(fn $m($($p: $pt),*) $(-> $r)? = $eb;)*
        });
    };
    (impl $tr:ident $(<$g:ty>)? for $a:ty {
        $(type $t:ident = $ta:ty;)*
        $(const $c:ident: $ct:ty = $ca:expr;)*
        $(fn $m:ident($($p:ident: $pt:ty),*) $(-> $r:ty)? = $ea:expr;)*
    }) => {
        impl $tr $(<$g>)? for $a {
            $(type $t = $ta;)*
            $(const $c: $ct = $ca;)*
            $(
                #[inline(always)]
                #[allow(unused_unsafe)]
                unsafe fn $m($($p: $pt),*) $(-> $r)? {
                    // SAFETY: the trait's contract (above).
                    unsafe { $ea }
                }
            )*
        }
    };
}
pub(crate) use primitives;

/// A packed float weight type the ISA `S` loads `S::LANES` of at a time, as f32.
pub(crate) trait LoadW<S: F32Simd>: FloatWeight {
    unsafe fn load(p: *const Self) -> S::V;
}

/// `Σ a[i]·b[i]` ([`super::DotF32`], [`super::DotF16`]): four vector accumulators, then
/// the scalar tail.
///
/// # Safety
/// The CPU supports `S`'s instructions and `W`'s loads.
#[inline(always)]
pub(crate) unsafe fn dot<S: F32Simd, W: LoadW<S>>(a: &[W], b: &[f32]) -> f32 {
    let (n, l) = (a.len().min(b.len()), S::LANES);
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    // SAFETY: every load reads [i, i + LANES) with i + LANES ≤ n.
    let mut t = unsafe {
        let mut s = [S::zero(); 4];
        while i + 4 * l <= n {
            for (u, su) in s.iter_mut().enumerate() {
                *su = S::fma(*su, W::load(pa.add(i + u * l)), S::load(pb.add(i + u * l)));
            }
            i += 4 * l;
        }
        while i + l <= n {
            s[0] = S::fma(s[0], W::load(pa.add(i)), S::load(pb.add(i)));
            i += l;
        }
        S::reduce_add(S::add(S::add(s[0], s[1]), S::add(s[2], s[3])))
    };
    for (x, y) in a[i..n].iter().zip(&b[i..n]) {
        t += x.widen() * y;
    }
    t
}

/// The scale of a row from its largest |x| (NaN skipped), as `quant::row_scale` ends.
#[inline(always)]
fn scale_of(max_abs: f32) -> f32 {
    if max_abs > 0.0 && max_abs.is_finite() {
        max_abs / 127.0
    } else {
        1.0
    }
}

/// The largest |x| of a row, NaN skipped (`quant::row_scale`'s maximum).
#[inline(always)]
unsafe fn max_abs<S: F32Simd>(x: &[f32]) -> f32 {
    // SAFETY: loads are limited to the lanes below x.len().
    unsafe {
        let mut m = S::zero();
        for i in (0..x.len()).step_by(S::LANES) {
            // max(|v|, m) keeps m when v is NaN.
            let v = S::load_part(x.as_ptr().add(i), (x.len() - i).min(S::LANES));
            m = S::max(S::abs(v), m);
        }
        S::reduce_max(m)
    }
}

/// `quant::quantize_activations(x, scale, q)`.
#[inline(always)]
unsafe fn quantize_row<S: F32Simd>(x: &[f32], scale: f32, q: &mut [i8]) {
    assert!(q.len() >= x.len());
    let inv = 1.0 / scale;
    for i in (0..x.len()).step_by(S::QBLOCK) {
        // SAFETY: the block reads and writes below x.len() ≤ q.len().
        unsafe { S::quantize_block(x.as_ptr().add(i), inv, q.as_mut_ptr().add(i), x.len() - i) }
    }
}

/// The activation quantizer ([`super::QuantizeRows`]). Two passes, so that no row waits
/// on its own max → scale → 1/scale chain: all rows' scales, then all rows' bytes.
///
/// # Safety
/// The CPU supports `S`'s instructions.
#[inline(always)]
pub(crate) unsafe fn quantize_rows<S: F32Simd>(
    x: RowView<'_, f32>,
    cols: usize,
    q: &mut [i8],
    q_stride: usize,
    scales: &mut [f32],
) {
    assert!(q_stride >= cols);
    for (r, sc) in scales[..x.rows].iter_mut().enumerate() {
        *sc = scale_of(unsafe { max_abs::<S>(x.row(r, cols)) });
    }
    for (r, &s) in scales[..x.rows].iter().enumerate() {
        let qr = &mut q[r * q_stride..(r + 1) * q_stride];
        unsafe { quantize_row::<S>(x.row(r, cols), s, qr) };
        qr[cols..].fill(0);
    }
}

/// The fixed-scale activation quantizer ([`super::QuantizeFixed`]).
///
/// # Safety
/// The CPU supports `S`'s instructions.
#[inline(always)]
pub(crate) unsafe fn quantize_fixed<S: F32Simd>(
    x: RowView<'_, f32>,
    cols: usize,
    q: &mut [i8],
    q_stride: usize,
    scale: f32,
) {
    assert!(q_stride >= cols);
    for r in 0..x.rows {
        let qr = &mut q[r * q_stride..(r + 1) * q_stride];
        unsafe { quantize_row::<S>(x.row(r, cols), scale, qr) };
        qr[cols..].fill(0);
    }
}

/// The fused int8 epilogue ([`super::Requantize`]), `n` a multiple of `LANES`. Two passes
/// as in [`quantize_rows`]: all rows' values and scales, then all rows' bytes.
///
/// # Safety
/// The CPU supports `S`'s instructions.
#[inline(always)]
pub(crate) unsafe fn requantize<S: F32Simd>(
    y: Scaled<'_>,
    finish: Finish<'_>,
    out: &mut [f32],
    mut q: Option<(&mut [i8], &mut [f32])>,
) {
    let (n, rows) = (y.cols, y.acc.rows);
    let (ws, xs, init) = (y.w_scale, y.x_scale, y.init);
    let len = rows * n;
    assert!(y.acc.stride == n && n % S::LANES == 0);
    assert!(ws.len() >= n && init.len() >= n && xs.len() >= rows);
    assert!(y.acc.data.len() >= len && out.len() >= len);
    if let Finish::Cross { x0, x } = finish {
        assert!(x0.len() >= len && x.len() >= len);
    }
    if let Some((q, sc)) = &q {
        assert!(q.len() >= len && sc.len() >= rows);
    }
    let (ap, op) = (y.acc.data.as_ptr(), out.as_mut_ptr());
    // SAFETY: every access is LANES lanes at r·n + j or j with j + LANES ≤ n, r < rows:
    // inside the lengths asserted above.
    unsafe {
        let zero = S::zero();
        for (r, &x_scale) in xs[..rows].iter().enumerate() {
            let sx = S::set1(x_scale);
            let mut m = zero;
            for j in (0..n).step_by(S::LANES) {
                let i = r * n + j;
                let s = S::mul(S::load(ws.as_ptr().add(j)), sx);
                let mut v = S::add(
                    S::load(init.as_ptr().add(j)),
                    S::mul(S::load_i32(ap.add(i)), s),
                );
                match finish {
                    Finish::Linear => {}
                    // max(v, 0) = v > 0 ? v : 0: `relu`, bit for bit.
                    Finish::Relu => v = S::max(v, zero),
                    Finish::Cross { x0, x } => {
                        v = S::add(
                            S::mul(S::load(x0.as_ptr().add(i)), v),
                            S::load(x.as_ptr().add(i)),
                        )
                    }
                }
                S::store(v, op.add(i));
                // max(|v|, m) keeps m when v is NaN, as `row_scale` does; after a ReLU
                // v is +0 or positive, so |v| = v.
                m = match finish {
                    Finish::Relu => S::max(v, m),
                    _ => S::max(S::abs(v), m),
                };
            }
            if let Some((_, sc)) = q.as_mut() {
                sc[r] = scale_of(S::reduce_max(m));
            }
        }
        let Some((q, sc)) = q else { return };
        for (r, &s) in sc[..rows].iter().enumerate() {
            let span = r * n..(r + 1) * n;
            quantize_row::<S>(&out[span.clone()], s, &mut q[span]);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::kernels::relu;

    #[test]
    fn relu_is_max_with_zero_in_maxps_form() {
        for v in [
            1.5f32,
            -1.5,
            0.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ] {
            let m = if v > 0.0 { v } else { 0.0 };
            assert_eq!(relu(v).to_bits(), m.to_bits(), "{v}");
        }
        assert_eq!(relu(-0.0).to_bits(), 0);
        assert_eq!(relu(f32::NAN).to_bits(), 0);
    }
}
