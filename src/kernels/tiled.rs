//! The shared int8 matrix body: a tile of R rows × NB vectors of output channels stays
//! in registers; for each group of 4 inputs every row's 4 activation bytes are
//! broadcast and multiply-accumulated against the packed weights (`[k/4][out][4]`),
//! so no horizontal reduction is ever needed. Each ISA supplies the primitives
//! ([`Isa`]); the body is compiled once per ISA inside a `#[target_feature]` wrapper.

use super::{PackedI8, RowView};

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

/// One tile: rows `r0..r0+R`, output vectors `j0..j0+NB`.
#[inline(always)]
unsafe fn tile<I: Isa, const R: usize, const NB: usize>(
    w: &PackedI8,
    x: *const i8,
    x_stride: usize,
    acc: *mut i32,
    acc_stride: usize,
    o0: usize,
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
            let o = o0 + j * I::LANES;
            unsafe { I::finish(*aj, w.rowsum.as_ptr().add(o), acc.add(r * acc_stride + o)) };
        }
    }
}

/// The int8 GEMM ([`super::GemmI8`]) of one ISA and tile: checks the sizes, then tiles
/// rows by R and outputs by NB vectors, with smaller tiles at the edges ([`tiles`]).
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
    let (xp, ap, x_stride) = (x.data.as_ptr(), acc.as_mut_ptr(), x.stride);
    for (r, j, full, nb) in tiles::<R, NB>(x.rows, w.out_pad / I::LANES) {
        let (xr, ar) = unsafe { (xp.add(r * x_stride), ap.add(r * acc_stride)) };
        let o0 = j * I::LANES;
        // SAFETY (all arms): the caller's CPU supports I; rows r.. r+R' and outputs o0..
        // o0+nb·LANES lie inside the buffers validated by `check`.
        unsafe {
            match (full, nb) {
                (true, b) if b == NB => tile::<I, R, NB>(w, xr, x_stride, ar, acc_stride, o0),
                (true, 2) => tile::<I, R, 2>(w, xr, x_stride, ar, acc_stride, o0),
                (true, _) => tile::<I, R, 1>(w, xr, x_stride, ar, acc_stride, o0),
                (false, b) if b == NB => tile::<I, 1, NB>(w, xr, x_stride, ar, acc_stride, o0),
                (false, 2) => tile::<I, 1, 2>(w, xr, x_stride, ar, acc_stride, o0),
                (false, _) => tile::<I, 1, 1>(w, xr, x_stride, ar, acc_stride, o0),
            }
        }
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
