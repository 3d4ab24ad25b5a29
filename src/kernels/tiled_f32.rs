//! The shared float matrix body: a tile of R rows × NB vectors of output channels stays
//! in registers, starting from the layer's init (bias or request-side partial); for each
//! input every row's value is broadcast and multiply-added against the packed weights
//! (`[k][out_pad]`, f32 or f16 widened as loaded), so no horizontal reduction is ever
//! needed. Each ISA supplies the primitives ([`F32Simd`]) and its weight loads
//! ([`LoadW`]); the body is compiled once per ISA and weight type inside a
//! `#[target_feature]` wrapper.

use super::simd::{F32Simd, LoadW};
use super::tiled::tiles;
use super::{PackedFloat, RowView};

/// Checks the buffer sizes the f32 kernels rely on; every kernel calls it first.
pub(crate) fn check<T>(
    w: &PackedFloat<T>,
    x: RowView<'_, f32>,
    init: &[f32],
    out: &[f32],
    out_stride: usize,
) {
    let rows = x.rows;
    assert!(x.stride >= w.k && out_stride >= w.out && init.len() >= w.out);
    assert!(
        rows == 0
            || (x.data.len() >= (rows - 1) * x.stride + w.k
                && out.len() >= (rows - 1) * out_stride + w.out)
    );
    assert!(w.data().len() >= w.k * w.out_pad && w.out_pad % 16 == 0);
}

/// One tile: rows `0..R` at `x`/`out`, output vectors `o0 .. o0 + NB·LANES` (those at
/// or past `w.out` are computed on the zero padding and not stored).
#[inline(always)]
unsafe fn tile<I: F32Simd, T: LoadW<I>, const R: usize, const NB: usize>(
    w: &PackedFloat<T>,
    x: *const f32,
    x_stride: usize,
    init: &[f32],
    out: *mut f32,
    out_stride: usize,
    o0: usize,
) {
    let valid = |j: usize| w.out.saturating_sub(o0 + j * I::LANES).min(I::LANES);
    let mut first = [unsafe { I::load_part(init.as_ptr(), 0) }; NB];
    for (j, v) in first.iter_mut().enumerate() {
        let n = valid(j);
        // SAFETY: init holds w.out values; n lanes from o0 + j·LANES stay below w.out.
        *v = unsafe { I::load_part(init.as_ptr().add((o0 + j * I::LANES).min(w.out)), n) };
    }
    let mut a = [first; R];
    let wp = w.data().as_ptr();
    for c in 0..w.k {
        let wrow = unsafe { wp.add(c * w.out_pad + o0) };
        let mut wv = first;
        for (j, v) in wv.iter_mut().enumerate() {
            *v = unsafe { T::load(wrow.add(j * I::LANES)) };
        }
        for (r, ar) in a.iter_mut().enumerate() {
            let xv = unsafe { I::splat(x.add(r * x_stride + c)) };
            for (j, aj) in ar.iter_mut().enumerate() {
                *aj = unsafe { I::fma(*aj, xv, wv[j]) };
            }
        }
    }
    for (r, ar) in a.iter().enumerate() {
        for (j, aj) in ar.iter().enumerate() {
            let n = valid(j);
            if n > 0 {
                unsafe { I::store_part(*aj, out.add(r * out_stride + o0 + j * I::LANES), n) };
            }
        }
    }
}

/// The float GEMM ([`super::GemmFloat`]) of one ISA, weight type and tile: checks the
/// sizes, then tiles rows by R and outputs by NB vectors, with smaller tiles at the edges
/// ([`tiles`]).
///
/// # Safety
/// The CPU supports `I`'s instructions and `T`'s loads.
#[inline(always)]
pub(crate) unsafe fn gemm<I: F32Simd, T: LoadW<I>, const R: usize, const NB: usize>(
    w: &PackedFloat<T>,
    x: RowView<'_, f32>,
    init: &[f32],
    out: &mut [f32],
    out_stride: usize,
) {
    check(w, x, init, out, out_stride);
    let xs = x.stride;
    let (xp, op) = (x.data.as_ptr(), out.as_mut_ptr());
    for (r, j, full, nb) in tiles::<R, NB>(x.rows, w.out_pad / I::LANES) {
        let (xr, or) = unsafe { (xp.add(r * xs), op.add(r * out_stride)) };
        let o0 = j * I::LANES;
        // SAFETY (all arms): rows r .. r + R' read inputs below k and write outputs below
        // w.out of rows inside the buffers checked above; weights are read below
        // k·out_pad.
        unsafe {
            match (full, nb) {
                (true, b) if b == NB => tile::<I, T, R, NB>(w, xr, xs, init, or, out_stride, o0),
                (true, 2) => tile::<I, T, R, 2>(w, xr, xs, init, or, out_stride, o0),
                (true, _) => tile::<I, T, R, 1>(w, xr, xs, init, or, out_stride, o0),
                (false, b) if b == NB => tile::<I, T, 1, NB>(w, xr, xs, init, or, out_stride, o0),
                (false, 2) => tile::<I, T, 1, 2>(w, xr, xs, init, or, out_stride, o0),
                (false, _) => tile::<I, T, 1, 1>(w, xr, xs, init, or, out_stride, o0),
            }
        }
    }
}
