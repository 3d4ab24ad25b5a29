//! The shared int8 matrix body: a tile of R rows × NB vectors of output channels stays
//! in registers; for each group of 4 inputs every row's 4 activation bytes are
//! broadcast and multiply-accumulated against the packed weights (`[k/4][out][4]`),
//! so no horizontal reduction is ever needed. Each ISA supplies the primitives
//! ([`Isa`]); the body is compiled once per ISA inside a `#[target_feature]` wrapper.
//! The static int8 layers ([`gemm_i8_fused`]) finish each tile in registers with the
//! ISA's f32 primitives ([`FusedIsa`]).

use super::simd::F32Simd;
use super::{Fused, FusedFinish, FusedOut, PackedI8, Residual, RowView};

/// The primitives one ISA gives the shared int8 body.
pub(crate) trait Isa {
    type V: Copy;
    /// Output channels per vector.
    const LANES: usize;
    unsafe fn zero() -> Self::V;
    /// Broadcast 4 activation bytes (as a little-endian u32) in the form `dot` expects.
    unsafe fn prep(x4: u32) -> Self::V;
    unsafe fn load(p: *const i8) -> Self::V;
    /// `acc + Σ_{i<4} x[i]·w[i]` per 32-bit lane.
    unsafe fn dot(acc: Self::V, x: Self::V, w: Self::V) -> Self::V;
    /// Undo any activation offset (`rowsum` points at LANES sums) and store.
    unsafe fn finish(acc: Self::V, rowsum: *const i32, out: *mut i32);
}

/// Checks the buffer sizes the kernels rely on; every kernel calls it first.
pub(crate) fn check(w: &PackedI8, x: RowView<'_, i8>, acc: &[i32], acc_stride: usize) {
    let rows = x.rows;
    assert!(x.stride >= w.k4 && acc_stride >= w.out_pad);
    assert!(
        rows == 0
            || (x.data.len() >= (rows - 1) * x.stride + w.k4
                && acc.len() >= (rows - 1) * acc_stride + w.out_pad)
    );
    assert!(w.data().len() >= w.k4 * w.out_pad && w.rowsum.len() >= w.out_pad);
}

/// One tile: R rows from `x` × output vectors `o0..o0+NB·LANES`; each finished
/// accumulator vector goes to `sink(row in the tile, first output, sums)` while in
/// registers.
#[inline(always)]
unsafe fn tile<I: Isa, const R: usize, const NB: usize>(
    w: &PackedI8,
    x: *const i8,
    x_stride: usize,
    o0: usize,
    sink: &mut impl FnMut(usize, usize, I::V),
) {
    let mut a = [[unsafe { I::zero() }; NB]; R];
    let wp = w.data().as_ptr();
    for kb in 0..w.k4 / 4 {
        let wrow = unsafe { wp.add((kb * w.out_pad + o0) * 4) };
        let mut wv = [unsafe { I::zero() }; NB];
        for (j, v) in wv.iter_mut().enumerate() {
            *v = unsafe { I::load(wrow.add(j * I::LANES * 4)) };
        }
        for (r, ar) in a.iter_mut().enumerate() {
            let x4 = unsafe { (x.add(r * x_stride + kb * 4) as *const u32).read_unaligned() };
            let xv = unsafe { I::prep(x4) };
            for (j, aj) in ar.iter_mut().enumerate() {
                *aj = unsafe { I::dot(*aj, xv, wv[j]) };
            }
        }
    }
    for (r, ar) in a.iter().enumerate() {
        for (j, aj) in ar.iter().enumerate() {
            sink(r, o0 + j * I::LANES, *aj);
        }
    }
}

/// Every tile of `x` × `w`: rows by R and outputs by NB vectors, with smaller tiles at the
/// edges ([`tiles`]); each accumulator vector goes to `sink(row, first output, sums)`.
///
/// # Safety
/// The CPU supports `I`'s instructions; `check` passed for `w` and `x`.
#[inline(always)]
unsafe fn each_tile<I: Isa, const R: usize, const NB: usize>(
    w: &PackedI8,
    x: RowView<'_, i8>,
    sink: &mut impl FnMut(usize, usize, I::V),
) {
    let (xp, x_stride) = (x.data.as_ptr(), x.stride);
    for (r, j, full, nb) in tiles::<R, NB>(x.rows, w.out_pad / I::LANES) {
        let xr = unsafe { xp.add(r * x_stride) };
        let o0 = j * I::LANES;
        let at = &mut |rr: usize, o: usize, v: I::V| sink(r + rr, o, v);
        // SAFETY (all arms): the caller's CPU supports I; rows r.. r+R' and inputs < k4
        // lie inside `x` (checked by the caller).
        unsafe {
            match (full, nb) {
                (true, b) if b == NB => tile::<I, R, NB>(w, xr, x_stride, o0, at),
                (true, 2) => tile::<I, R, 2>(w, xr, x_stride, o0, at),
                (true, _) => tile::<I, R, 1>(w, xr, x_stride, o0, at),
                (false, b) if b == NB => tile::<I, 1, NB>(w, xr, x_stride, o0, at),
                (false, 2) => tile::<I, 1, 2>(w, xr, x_stride, o0, at),
                (false, _) => tile::<I, 1, 1>(w, xr, x_stride, o0, at),
            }
        }
    }
}

/// The int8 GEMM ([`super::GemmI8`]) of one ISA and tile: checks the sizes, then stores
/// every tile ([`each_tile`]).
///
/// # Safety
/// The CPU supports `I`'s instructions.
#[inline(always)]
pub(crate) unsafe fn gemm_i8<I: Isa, const R: usize, const NB: usize>(
    w: &PackedI8,
    x: RowView<'_, i8>,
    acc: &mut [i32],
    acc_stride: usize,
) {
    check(w, x, acc, acc_stride);
    let (ap, rs) = (acc.as_mut_ptr(), w.rowsum.as_ptr());
    // SAFETY: row r < x.rows and outputs o..o+LANES ≤ out_pad lie inside `acc` and
    // `rowsum` (checked).
    let store = &mut |r: usize, o: usize, v: I::V| unsafe {
        I::finish(v, rs.add(o), ap.add(r * acc_stride + o))
    };
    unsafe { each_tile::<I, R, NB>(w, x, store) };
}

/// An int8 ISA whose sums convert to the f32 vectors of `F` (same lane count), for the
/// static layers' fused epilogue.
pub(crate) trait FusedIsa: Isa {
    type F: F32Simd;
    /// The exact sums of `acc` (any activation offset undone with the LANES sums at
    /// `rowsum`), converted to f32 (rounded to nearest).
    unsafe fn sums(acc: Self::V, rowsum: *const i32) -> <Self::F as F32Simd>::V;
}

/// Checks the buffer sizes of a static layer ([`super::GemmI8Fused`]); its kernels call it
/// first.
pub(crate) fn check_fused(w: &PackedI8, x: RowView<'_, i8>, e: &Fused<'_>, out: &FusedOut<'_>) {
    let (rows, n) = (x.rows, w.out_pad);
    assert!(x.stride >= w.k4 && (rows == 0 || x.data.len() >= (rows - 1) * x.stride + w.k4));
    assert!(w.data().len() >= w.k4 * n && w.rowsum.len() >= n);
    assert!(e.scale.len() >= n && e.init.len() >= n);
    let fits =
        |len: usize, stride: usize| stride >= n && (rows == 0 || len >= (rows - 1) * stride + n);
    if let FusedFinish::Cross { x0, x } = e.finish {
        assert!(
            fits(x0.data.len(), x0.stride),
            "cross layer: x0 rows too short"
        );
        let res = match x {
            Residual::F32(v) => fits(v.data.len(), v.stride),
            Residual::I8(v, _) => fits(v.data.len(), v.stride),
        };
        assert!(res, "cross layer: residual rows too short");
    }
    let dst = match out {
        FusedOut::I8 { q, stride, .. } => fits(q.len(), *stride),
        FusedOut::F32 { y, stride } => fits(y.len(), *stride),
        FusedOut::Both { q, y, stride, .. } => fits(q.len(), *stride) && fits(y.len(), *stride),
    };
    assert!(dst, "static layer: output rows too short");
}

/// A static int8 layer ([`super::GemmI8Fused`]) of one ISA and tile: each tile's sums
/// are scaled, offset, finished and stored (int8 or f32) straight from registers, with
/// the scalar reference's IEEE operations in its order.
///
/// # Safety
/// The CPU supports `I`'s and `I::F`'s instructions.
#[inline(always)]
pub(crate) unsafe fn gemm_i8_fused<I: FusedIsa, const R: usize, const NB: usize>(
    w: &PackedI8,
    x: RowView<'_, i8>,
    e: Fused<'_>,
    out: FusedOut<'_>,
) {
    check_fused(w, x, &e, &out);
    assert_eq!(I::LANES, <I::F as F32Simd>::LANES);
    let (sp, ip, rs) = (e.scale.as_ptr(), e.init.as_ptr(), w.rowsum.as_ptr());
    // Raw destinations: the sink writes rows × out_pad values, inside the checked sizes.
    use core::ptr::null_mut;
    let (q8, f32s, stride, inv) = match out {
        FusedOut::I8 { q, stride, scale } => (q.as_mut_ptr(), null_mut(), stride, 1.0 / scale),
        FusedOut::F32 { y, stride } => (null_mut(), y.as_mut_ptr(), stride, 0.0),
        FusedOut::Both {
            q,
            y,
            stride,
            scale,
        } => (q.as_mut_ptr(), y.as_mut_ptr(), stride, 1.0 / scale),
    };
    // SAFETY: every pointer below addresses LANES values at row r < x.rows, outputs
    // o..o+LANES ≤ out_pad, of buffers `check_fused` validated; the CPU has the features.
    unsafe {
        let zero = <I::F as F32Simd>::zero();
        let vinv = <I::F as F32Simd>::set1(inv);
        let sink = &mut |r: usize, o: usize, acc: I::V| {
            type F<I> = <I as FusedIsa>::F;
            let a = I::sums(acc, rs.add(o));
            let mut y = F::<I>::add(
                F::<I>::load(ip.add(o)),
                F::<I>::mul(a, F::<I>::load(sp.add(o))),
            );
            match e.finish {
                FusedFinish::Linear => {}
                // max(y, 0) = y > 0 ? y : 0: `relu`, bit for bit.
                FusedFinish::Relu => y = F::<I>::max(y, zero),
                FusedFinish::Cross { x0, x } => {
                    let res = match x {
                        Residual::F32(v) => F::<I>::load(v.data.as_ptr().add(r * v.stride + o)),
                        Residual::I8(v, s) => F::<I>::mul(
                            F::<I>::load_i8(v.data.as_ptr().add(r * v.stride + o)),
                            F::<I>::set1(s),
                        ),
                    };
                    let x0v = F::<I>::load(x0.data.as_ptr().add(r * x0.stride + o));
                    y = F::<I>::add(F::<I>::mul(x0v, y), res);
                }
            }
            if !f32s.is_null() {
                F::<I>::store(y, f32s.add(r * stride + o));
            }
            if !q8.is_null() {
                F::<I>::quantize_store(y, vinv, q8.add(r * stride + o));
            }
        };
        each_tile::<I, R, NB>(w, x, sink);
    }
}
/// The tiles of a grid of `rows` rows × `vecs` output vectors, row block by row block:
/// `(first row, first vector, full, nb)`, a tile being R rows when `full` (else the
/// single row left over) × `nb` vectors: NB, then 2, then 1 at the right edge.
#[inline(always)]
pub(crate) fn tiles<const R: usize, const NB: usize>(
    rows: usize,
    vecs: usize,
) -> impl Iterator<Item = (usize, usize, bool, usize)> {
    let (mut r, mut j) = (0, 0);
    core::iter::from_fn(move || {
        if r >= rows || vecs == 0 {
            return None;
        }
        let full = rows - r >= R;
        let nb = if vecs - j >= NB {
            NB
        } else if vecs - j >= 2 {
            2
        } else {
            1
        };
        let tile = (r, j, full, nb);
        j += nb;
        if j >= vecs {
            j = 0;
            r += if full { R } else { 1 };
        }
        Some(tile)
    })
}
