//! The packed weight layouts the matrix kernels read: int8 and f32 / f16.

/// int8 weights packed for the matrix kernels: `[k4 / 4][out_pad][4]`, i.e. for each
/// group of 4 inputs, 4 consecutive bytes per output channel, outputs padded to a
/// multiple of 16 and inputs to a multiple of 4 with zeros.
pub struct PackedI8 {
    pub out: usize,
    pub out_pad: usize,
    pub k: usize,
    pub k4: usize,
    data: Vec<Align64>,
    /// Σ_k w[o][k] per output (for kernels that offset activations to unsigned).
    pub rowsum: Vec<i32>,
}

#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Align64([i8; 64]);
const _: () = assert!(core::mem::size_of::<Align64>() == 64);

impl PackedI8 {
    /// Packs columns `col0 .. col0 + k` of a `[out][in]` int8 matrix.
    pub fn pack(w: &[i8], inputs: usize, out: usize, col0: usize, k: usize) -> PackedI8 {
        let out_pad = out.div_ceil(16) * 16;
        let k4 = k.div_ceil(4) * 4;
        let len = k4 * out_pad;
        let mut data = vec![Align64([0; 64]); len.div_ceil(64)];
        let mut rowsum = vec![0i32; out_pad];
        {
            let flat = as_flat_mut(&mut data);
            for o in 0..out {
                for c in 0..k {
                    let v = w[o * inputs + col0 + c];
                    flat[(c / 4) * out_pad * 4 + o * 4 + c % 4] = v;
                    rowsum[o] += v as i32;
                }
            }
        }
        PackedI8 {
            out,
            out_pad,
            k,
            k4,
            data,
            rowsum,
        }
    }

    pub fn data(&self) -> &[i8] {
        &as_flat(&self.data)[..self.k4 * self.out_pad]
    }
}

/// Float weights packed for the float matrix kernels: `[k][out_pad]`, i.e. for each input
/// the weights of every output channel in a row, outputs padded to a multiple of 16 with
/// zeros. `T` is `f32`, or `u16` for f16 bits (widened by the kernels as they load).
pub struct PackedFloat<T> {
    pub out: usize,
    pub out_pad: usize,
    pub k: usize,
    data: Vec<T>,
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
        let out_pad = out.div_ceil(16) * 16;
        let mut data = vec![T::default(); k * out_pad];
        for o in 0..out {
            for c in 0..k {
                data[c * out_pad + o] = w[o * inputs + col0 + c];
            }
        }
        PackedFloat {
            out,
            out_pad,
            k,
            data,
        }
    }
}

impl<T> PackedFloat<T> {
    pub fn data(&self) -> &[T] {
        &self.data
    }
}

fn as_flat(d: &[Align64]) -> &[i8] {
    // SAFETY: Align64 is 64 plain i8 with no padding (size asserted above).
    unsafe { core::slice::from_raw_parts(d.as_ptr() as *const i8, d.len() * 64) }
}

fn as_flat_mut(d: &mut [Align64]) -> &mut [i8] {
    // SAFETY: as in as_flat; the borrow is unique.
    unsafe { core::slice::from_raw_parts_mut(d.as_mut_ptr() as *mut i8, d.len() * 64) }
}
