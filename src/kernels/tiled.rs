//! The shared int8 matrix body: a tile of R rows × NB vectors of output channels stays
//! in registers; for each group of 4 inputs every row's 4 activation bytes are
//! broadcast and multiply-accumulated against the packed weights (`[k/4][out][4]`),
//! so no horizontal reduction is ever needed. Each ISA supplies the primitives
//! ([`Isa`]); the body is compiled once per ISA inside a `#[target_feature]` wrapper.
//! The static int8 layers ([`gemm_i8_fused`]) finish each tile in registers with the
//! ISA's f32 primitives ([`FusedIsa`]).

use core::marker::PhantomData;

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

/// Where a tile's finished accumulator vectors go, while in registers. A trait, not a
/// closure: closures do not get the `#[target_feature]`s of the kernel they are in, so
/// their intrinsics would not inline.
pub(crate) trait Sink<V> {
    /// The sums of row `r`, outputs `o..o+LANES`.
    unsafe fn put(&mut self, r: usize, o: usize, v: V);
}

/// One tile: R rows from `x` (the first being row `r0`) × output vectors
/// `o0..o0+NB·LANES`; each finished accumulator vector goes to `sink`.
#[inline(always)]
unsafe fn tile<I: Isa, S: Sink<I::V>, const R: usize, const NB: usize>(
    w: &PackedI8,
    x: *const i8,
    x_stride: usize,
    (r0, o0): (usize, usize),
    sink: &mut S,
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
            unsafe { sink.put(r0 + r, o0 + j * I::LANES, *aj) };
        }
    }
}

/// Every tile of `x` × `w`: rows by R and outputs by NB vectors, with smaller tiles at the
/// edges ([`tiles`]); each accumulator vector goes to `sink`.
///
/// # Safety
/// The CPU supports `I`'s instructions; `check` passed for `w` and `x`.
#[inline(always)]
unsafe fn each_tile<I: Isa, S: Sink<I::V>, const R: usize, const NB: usize>(
    w: &PackedI8,
    x: RowView<'_, i8>,
    sink: &mut S,
) {
    let (xp, x_stride) = (x.data.as_ptr(), x.stride);
    for (r, j, full, nb) in tiles::<R, NB>(x.rows, w.out_pad / I::LANES) {
        let xr = unsafe { xp.add(r * x_stride) };
        let o0 = j * I::LANES;
        let (at, ro) = (&mut *sink, (r, o0));
        // SAFETY (all arms): the caller's CPU supports I; rows r.. r+R' and inputs < k4
        // lie inside `x` (checked by the caller).
        unsafe {
            match (full, nb) {
                (true, b) if b == NB => tile::<I, S, R, NB>(w, xr, x_stride, ro, at),
                (true, 2) => tile::<I, S, R, 2>(w, xr, x_stride, ro, at),
                (true, _) => tile::<I, S, R, 1>(w, xr, x_stride, ro, at),
                (false, b) if b == NB => tile::<I, S, 1, NB>(w, xr, x_stride, ro, at),
                (false, 2) => tile::<I, S, 1, 2>(w, xr, x_stride, ro, at),
                (false, _) => tile::<I, S, 1, 1>(w, xr, x_stride, ro, at),
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
    let mut store = Store {
        acc: acc.as_mut_ptr(),
        stride: acc_stride,
        rowsum: w.rowsum.as_ptr(),
        isa: PhantomData::<I>,
    };
    // SAFETY: `check` validated every row and output the tiles reach.
    unsafe { each_tile::<I, _, R, NB>(w, x, &mut store) };
}

/// The GEMM's sink: the exact sums into the i32 rows.
struct Store<I> {
    acc: *mut i32,
    stride: usize,
    rowsum: *const i32,
    isa: PhantomData<I>,
}

impl<I: Isa> Sink<I::V> for Store<I> {
    #[inline(always)]
    unsafe fn put(&mut self, r: usize, o: usize, v: I::V) {
        // SAFETY: the caller passes a row and outputs inside the checked buffers.
        unsafe { I::finish(v, self.rowsum.add(o), self.acc.add(r * self.stride + o)) }
    }
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
    // SAFETY: the sink addresses LANES values at row r < x.rows, outputs o..o+LANES ≤
    // out_pad, of buffers `check_fused` validated; the CPU has the features.
    unsafe {
        let mut sink = Finisher::<I> {
            e,
            rowsum: w.rowsum.as_ptr(),
            q8,
            f32s,
            stride,
            inv: <I::F as F32Simd>::set1(inv),
            zero: <I::F as F32Simd>::zero(),
        };
        each_tile::<I, _, R, NB>(w, x, &mut sink);
    }
}

/// The static layer's sink: scale, offset, finish and store one vector of sums.
struct Finisher<'a, I: FusedIsa> {
    e: Fused<'a>,
    rowsum: *const i32,
    /// int8 rows, f32 rows (either may be null), `stride` apart.
    q8: *mut i8,
    f32s: *mut f32,
    stride: usize,
    inv: <I::F as F32Simd>::V,
    zero: <I::F as F32Simd>::V,
}

impl<I: FusedIsa> Sink<I::V> for Finisher<'_, I> {
    #[inline(always)]
    unsafe fn put(&mut self, r: usize, o: usize, acc: I::V) {
        type F<I> = <I as FusedIsa>::F;
        let e = &self.e;
        // SAFETY: the caller passes a row and outputs inside the buffers `check_fused`
        // validated; the CPU has the features.
        unsafe {
            let a = I::sums(acc, self.rowsum.add(o));
            let (ip, sp) = (e.init.as_ptr().add(o), e.scale.as_ptr().add(o));
            let mut y = F::<I>::add(F::<I>::load(ip), F::<I>::mul(a, F::<I>::load(sp)));
            match e.finish {
                FusedFinish::Linear => {}
                // max(y, 0) = y > 0 ? y : 0: `relu`, bit for bit.
                FusedFinish::Relu => y = F::<I>::max(y, self.zero),
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
            let at = r * self.stride + o;
            if !self.f32s.is_null() {
                F::<I>::store(y, self.f32s.add(at));
            }
            if !self.q8.is_null() {
                F::<I>::quantize_store(y, self.inv, self.q8.add(at));
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
