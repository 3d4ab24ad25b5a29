//! The packed weight layouts the matrix kernels read, int8 and f32 / f16: packed here
//! (the writer, tests, benches) or viewed in place in a loaded model file.

use core::ops::Deref;

/// A read-only run of `T` that a packed matrix reads: owned (packed here, 64-byte
/// aligned) or a view into a loaded model's bytes, which the model keeps alive.
pub struct Slab<T> {
    ptr: *const T,
    len: usize,
    /// The allocation `ptr` points into when owned; `None` for a view.
    _owned: Option<Vec<Align64>>,
}

// SAFETY: a Slab is never written after construction; an owned one's heap buffer moves
// with it, and a view's memory is kept alive and unchanged by its owner (`view`'s
// contract).
unsafe impl<T: Sync> Send for Slab<T> {}
// SAFETY: as above: shared reads only.
unsafe impl<T: Sync> Sync for Slab<T> {}

#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Align64([u8; 64]);
const _: () = assert!(core::mem::size_of::<Align64>() == 64);

impl<T: Copy + Default> Slab<T> {
    /// `len` values, filled by `fill` in a fresh 64-byte aligned buffer.
    fn owned(len: usize, fill: impl FnOnce(&mut [T])) -> Slab<T> {
        let bytes = len * core::mem::size_of::<T>();
        let mut blocks = vec![Align64([0; 64]); bytes.div_ceil(64)];
        let ptr = blocks.as_mut_ptr() as *mut T;
        // SAFETY: the blocks hold at least `len` T-sized slots, 64-byte aligned (enough
        // for any T used here: i8, i32, u16, f32), zero bytes are a valid T for each of
        // them, and the borrow ends before `blocks` moves into the Slab (its heap buffer
        // does not move).
        let v = unsafe { core::slice::from_raw_parts_mut(ptr, len) };
        v.fill(T::default());
        fill(v);
        Slab {
            ptr,
            len,
            _owned: Some(blocks),
        }
    }
}

impl<T> Slab<T> {
    /// Views `v` in place.
    ///
    /// # Safety
    /// `v` must stay valid and unchanged for as long as the Slab lives (the model that
    /// holds both the Slab and the bytes guarantees it).
    pub(crate) unsafe fn view(v: &[T]) -> Slab<T> {
        Slab {
            ptr: v.as_ptr(),
            len: v.len(),
            _owned: None,
        }
    }
}

impl<T> Deref for Slab<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: `ptr[..len]` is initialised and alive: owned by `_owned`, or kept
        // alive by the owner of a view (see `view`).
        unsafe { core::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Rounds an output count up to the kernels' tile of 16 outputs.
pub fn out_pad(out: usize) -> usize {
    out.div_ceil(16) * 16
}

/// int8 weights packed for the matrix kernels: `[k4 / 4][out_pad][4]`, i.e. for each
/// group of 4 inputs, 4 consecutive bytes per output channel, outputs padded to a
/// multiple of 16 and inputs to a multiple of 4 with zeros. This is also the layout of
/// a packed int8 section of a `.camoe` file (version 2), row sums after it.
pub struct PackedI8 {
    pub out: usize,
    pub out_pad: usize,
    pub k: usize,
    pub k4: usize,
    data: Slab<i8>,
    /// Σ_k w[o][k] per output, `out_pad` of them (for kernels that offset activations
    /// to unsigned).
    pub rowsum: Slab<i32>,
}

impl PackedI8 {
    /// Packs columns `col0 .. col0 + k` of a `[out][in]` int8 matrix.
    pub fn pack(w: &[i8], inputs: usize, out: usize, col0: usize, k: usize) -> PackedI8 {
        let out_pad = out_pad(out);
        let k4 = k.div_ceil(4) * 4;
        let data = Slab::owned(k4 * out_pad, |flat| {
            for o in 0..out {
                for c in 0..k {
                    flat[(c / 4) * out_pad * 4 + o * 4 + c % 4] = w[o * inputs + col0 + c];
                }
            }
        });
        let rowsum = Slab::owned(out_pad, |s| {
            for (o, s) in s.iter_mut().take(out).enumerate() {
                *s = (0..k).map(|c| i32::from(w[o * inputs + col0 + c])).sum();
            }
        });
        PackedI8 {
            out,
            out_pad,
            k,
            k4,
            data,
            rowsum,
        }
    }

    /// Views a packed matrix of `out` outputs and `k` inputs in place: `data` holds
    /// `k4 × out_pad` values, `rowsum` `out_pad` sums (checked by the caller).
    ///
    /// # Safety
    /// As [`Slab::view`]: both slices outlive the result, unchanged.
    pub(crate) unsafe fn view(out: usize, k: usize, data: &[i8], rowsum: &[i32]) -> PackedI8 {
        let (out_pad, k4) = (out_pad(out), k.div_ceil(4) * 4);
        debug_assert!(data.len() == k4 * out_pad && rowsum.len() == out_pad);
        PackedI8 {
            out,
            out_pad,
            k,
            k4,
            // SAFETY: forwarded caller contract.
            data: unsafe { Slab::view(data) },
            // SAFETY: forwarded caller contract.
            rowsum: unsafe { Slab::view(rowsum) },
        }
    }

    pub fn data(&self) -> &[i8] {
        &self.data
    }
}

/// Float weights packed for the float matrix kernels: `[k][out_pad]`, i.e. for each input
/// the weights of every output channel in a row, outputs padded to a multiple of 16 with
/// zeros. `T` is `f32`, or `u16` for f16 bits (widened by the kernels as they load).
pub struct PackedFloat<T> {
    pub out: usize,
    pub out_pad: usize,
    pub k: usize,
    data: Slab<T>,
}
/// f32 weights packed for `gemm_f32`.
pub type PackedF32 = PackedFloat<f32>;
/// f16 weights (bits) packed for `gemm_f16`.
pub type PackedF16 = PackedFloat<u16>;

/// A packed float weight: f32, or f16 bits (`u16`).
pub trait FloatWeight: Copy + Default {
    fn widen(self) -> f32;
}
impl FloatWeight for f32 {
    #[inline(always)]
    fn widen(self) -> f32 {
        self
    }
}
impl FloatWeight for u16 {
    #[inline(always)]
    fn widen(self) -> f32 {
        crate::quant::f16_bits_to_f32(self)
    }
}

impl<T: FloatWeight> PackedFloat<T> {
    /// Packs columns `col0 .. col0 + k` of a `[out][in]` matrix.
    pub fn pack(w: &[T], inputs: usize, out: usize, col0: usize, k: usize) -> PackedFloat<T> {
        let out_pad = out_pad(out);
        let data = Slab::owned(k * out_pad, |data| {
            for o in 0..out {
                for c in 0..k {
                    data[c * out_pad + o] = w[o * inputs + col0 + c];
                }
            }
        });
        PackedFloat {
            out,
            out_pad,
            k,
            data,
        }
    }
}

impl<T> PackedFloat<T> {
    /// Views `k × out_pad` packed values of `out` outputs in place.
    ///
    /// # Safety
    /// As [`Slab::view`]: `data` outlives the result, unchanged.
    pub(crate) unsafe fn view(out: usize, k: usize, data: &[T]) -> PackedFloat<T> {
        debug_assert_eq!(data.len(), k * out_pad(out));
        PackedFloat {
            out,
            out_pad: out_pad(out),
            k,
            // SAFETY: forwarded caller contract.
            data: unsafe { Slab::view(data) },
        }
    }

    pub fn data(&self) -> &[T] {
        &self.data
    }
}
