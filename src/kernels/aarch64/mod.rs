//! aarch64 kernels: the shared int8 body (`tiled::gemm_i8`) fed by NEON (widening
//! multiplies) and dotprod (`sdot`) primitives, an i8mm (`smmla`) GEMM, and the NEON f32
//! primitives ([`F32Simd`]) for the float GEMM, the dots, the quantizer and the fused
//! epilogue. NEON is part of the aarch64 baseline; dotprod and i8mm are detected at run
//! time.

use core::arch::aarch64::*;
use core::arch::asm;
use core::marker::PhantomData;

use super::registry::lines;
use super::simd::{primitives, F32Simd, LoadW};
use super::tiled::{check, FusedIsa, Isa};
use super::{simd, tiled, tiled_f32, PackedI8, RowView};

// Worst first within each slot: the plug keeps the last line that fits. NEON is baseline
// on aarch64, but its lines still need the NEON group, so that a scalar cap drops them.
lines! {
    gemm_i8 "aarch64_neon_gemm_i8_4x16" needs [NEON] enable "neon" => tiled::gemm_i8::<Neon, 4, 4>;
    dot_f32 "aarch64_neon_dot_f32_16" needs [NEON] enable "neon" => simd::dot::<NeonF32, f32>;
    dot_f16 "aarch64_neon_dot_f16_16" needs [NEON] enable "neon" => simd::dot::<NeonF32, u16>;
    quantize "aarch64_neon_quantize_rows" needs [NEON] enable "neon"
        => simd::quantize_rows::<NeonF32>;
    requantize "aarch64_neon_requantize_4" needs [NEON] enable "neon"
        => simd::requantize::<NeonF32>;
    gemm_f32 "aarch64_neon_gemm_f32_4x16" needs [NEON] enable "neon"
        => tiled_f32::gemm::<NeonF32, f32, 4, 4>;
    gemm_f16 "aarch64_neon_gemm_f16_4x16" needs [NEON] enable "neon"
        => tiled_f32::gemm::<NeonF32, u16, 4, 4>;
    gemm_i8 "aarch64_dotprod_gemm_i8_4x16" needs [NEON, DOTPROD] enable "neon,dotprod"
        => tiled::gemm_i8::<Dotprod, 4, 4>;
    gemm_i8_fused "aarch64_neon_gemm_i8_fused_4x16" needs [NEON] enable "neon"
        => tiled::gemm_i8_fused::<Neon, 4, 4>;
    quantize_fixed "aarch64_neon_quantize_fixed" needs [NEON] enable "neon"
        => simd::quantize_fixed::<NeonF32>;
    gemm_i8_fused "aarch64_dotprod_gemm_i8_fused_4x16" needs [NEON, DOTPROD]
        enable "neon,dotprod" => tiled::gemm_i8_fused::<Dotprod, 4, 4>;
    gemm_i8 "aarch64_i8mm_gemm_i8_2x8" needs [NEON, DOTPROD, I8MM] enable "neon,dotprod,i8mm"
        => gemm_i8_i8mm;
}

/// The NEON int8 primitives, with the multiply-accumulate `M` (plain NEON or `sdot`).
struct NeonI8<M>(PhantomData<M>);
type Neon = NeonI8<Widening>;
type Dotprod = NeonI8<Sdot>;

/// `acc + Σ_{i<4} x[i]·w[i]` per 32-bit lane.
trait Mla {
    unsafe fn mla(acc: int32x4_t, x: int32x4_t, w: int32x4_t) -> int32x4_t;
}

/// Widening multiplies: w holds 4 outputs × 4 inputs; x the same 4 inputs four times.
/// i8·i8 fits i16.
struct Widening;
impl Mla for Widening {
    #[inline(always)]
    unsafe fn mla(acc: int32x4_t, x: int32x4_t, w: int32x4_t) -> int32x4_t {
        unsafe {
            let (xb, wb) = (vreinterpretq_s8_s32(x), vreinterpretq_s8_s32(w));
            let lo = vpaddlq_s16(vmull_s8(vget_low_s8(wb), vget_low_s8(xb)));
            let hi = vpaddlq_s16(vmull_high_s8(wb, xb));
            vaddq_s32(acc, vpaddq_s32(lo, hi))
        }
    }
}

/// `acc op a, b` for a register-only instruction of an extension (`sdot`, `smmla`).
macro_rules! asm_mla {
    ($ext:literal, $op:literal, $acc:expr, $a:expr, $b:expr) => {{
        let mut acc = $acc;
        // SAFETY: the instruction only reads and writes registers; the caller's CPU has
        // the extension.
        unsafe {
            asm!(
                concat!(".arch_extension ", $ext),
                concat!($op, " {a:v}.4s, {x:v}.16b, {y:v}.16b"),
                a = inout(vreg) acc, x = in(vreg) $a, y = in(vreg) $b,
                options(pure, nomem, nostack)
            );
        }
        acc
    }};
}

/// `sdot` (dotprod).
struct Sdot;
impl Mla for Sdot {
    #[inline(always)]
    unsafe fn mla(acc: int32x4_t, x: int32x4_t, w: int32x4_t) -> int32x4_t {
        asm_mla!("dotprod", "sdot", acc, w, x)
    }
}

impl<M: Mla> Isa for NeonI8<M> {
    type V = int32x4_t;
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn zero() -> int32x4_t {
        unsafe { vdupq_n_s32(0) }
    }
    #[inline(always)]
    unsafe fn prep(x4: u32) -> int32x4_t {
        unsafe { vreinterpretq_s32_u32(vdupq_n_u32(x4)) }
    }
    #[inline(always)]
    unsafe fn load(p: *const i8) -> int32x4_t {
        unsafe { vreinterpretq_s32_s8(vld1q_s8(p)) }
    }
    #[inline(always)]
    unsafe fn dot(acc: int32x4_t, x: int32x4_t, w: int32x4_t) -> int32x4_t {
        unsafe { M::mla(acc, x, w) }
    }
    #[inline(always)]
    unsafe fn finish(acc: int32x4_t, _rowsum: *const i32, out: *mut i32) {
        unsafe { vst1q_s32(out, acc) }
    }
}

impl<M: Mla> FusedIsa for NeonI8<M> {
    type F = NeonF32;
    #[inline(always)]
    unsafe fn sums(acc: int32x4_t, _rowsum: *const i32) -> float32x4_t {
        unsafe { vcvtq_f32_s32(acc) }
    }
}

/// `smmla`: (2 rows × 8 inputs) · (8 inputs × 2 outputs) → 2×2 i32, accumulated.
#[inline(always)]
unsafe fn smmla(acc: int32x4_t, x: int8x16_t, w: int8x16_t) -> int32x4_t {
    asm_mla!("i8mm", "smmla", acc, x, w)
}

/// i8mm GEMM over the shared packing: two 4-input blocks of 4 outputs, zipped by 32-bit
/// lanes, give the 2 outputs × 8 inputs operands `smmla` wants; two rows' 8 inputs form
/// the other. A tile is 2 rows × 8 outputs; a 4-input tail and a last odd row use sdot.
///
/// # Safety
/// The CPU supports neon, dotprod and i8mm.
#[inline(always)]
unsafe fn gemm_i8_i8mm(w: &PackedI8, x: RowView<'_, i8>, acc: &mut [i32], accs: usize) {
    check(w, x, acc, accs);
    let (rows, xs) = (x.rows, x.stride);
    let (wp, xp, ap) = (w.data().as_ptr(), x.data.as_ptr(), acc.as_mut_ptr());
    let (k8, op) = (w.k4 / 8 * 8, w.out_pad);
    let pairs = rows / 2 * 2;
    // SAFETY: every pointer stays inside the buffers validated by `check`: rows r, r+1 <
    // rows, inputs < k4, outputs < out_pad.
    unsafe {
        let mut r = 0;
        while r < pairs {
            for o0 in (0..op).step_by(8) {
                // acc[j]: outputs o0+2j, o0+2j+1 for rows r (lanes 0,1) and r+1 (lanes 2,3).
                let mut a = [vdupq_n_s32(0); 4];
                for k in (0..k8).step_by(8) {
                    let xv = vcombine_s8(
                        vld1_s8(xp.add(r * xs + k)),
                        vld1_s8(xp.add((r + 1) * xs + k)),
                    );
                    for h in 0..2 {
                        let b0 =
                            vreinterpretq_s32_s8(vld1q_s8(wp.add((k / 4 * op + o0 + 4 * h) * 4)));
                        let b1 = vreinterpretq_s32_s8(vld1q_s8(
                            wp.add(((k / 4 + 1) * op + o0 + 4 * h) * 4),
                        ));
                        a[2 * h] = smmla(a[2 * h], xv, vreinterpretq_s8_s32(vzip1q_s32(b0, b1)));
                        a[2 * h + 1] =
                            smmla(a[2 * h + 1], xv, vreinterpretq_s8_s32(vzip2q_s32(b0, b1)));
                    }
                }
                for h in 0..2 {
                    let (p, q) = (
                        vreinterpretq_s64_s32(a[2 * h]),
                        vreinterpretq_s64_s32(a[2 * h + 1]),
                    );
                    let mut row0 = vreinterpretq_s32_s64(vzip1q_s64(p, q));
                    let mut row1 = vreinterpretq_s32_s64(vzip2q_s64(p, q));
                    if k8 < w.k4 {
                        let wv = <Dotprod as Isa>::load(wp.add((k8 / 4 * op + o0 + 4 * h) * 4));
                        row0 = <Dotprod as Isa>::dot(
                            row0,
                            <Dotprod as Isa>::prep(
                                (xp.add(r * xs + k8) as *const u32).read_unaligned(),
                            ),
                            wv,
                        );
                        row1 = <Dotprod as Isa>::dot(
                            row1,
                            <Dotprod as Isa>::prep(
                                (xp.add((r + 1) * xs + k8) as *const u32).read_unaligned(),
                            ),
                            wv,
                        );
                    }
                    vst1q_s32(ap.add(r * accs + o0 + 4 * h), row0);
                    vst1q_s32(ap.add((r + 1) * accs + o0 + 4 * h), row1);
                }
            }
            r += 2;
        }
        if pairs < rows {
            let last = RowView::new(&x.data[pairs * xs..], xs, rows - pairs);
            tiled::gemm_i8::<Dotprod, 1, 4>(w, last, &mut acc[pairs * accs..], accs);
        }
    }
}

struct NeonF32;
primitives! {
    impl F32Simd for NeonF32 {
        type V = float32x4_t;
        const LANES: usize = 4;
        const QBLOCK: usize = 4;
        fn zero() -> Self::V = vdupq_n_f32(0.0);
        fn set1(v: f32) -> Self::V = vdupq_n_f32(v);
        fn splat(p: *const f32) -> Self::V = vld1q_dup_f32(p);
        fn load(p: *const f32) -> Self::V = vld1q_f32(p);
        fn load_part(p: *const f32, n: usize) -> Self::V = if n >= 4 {
            vld1q_f32(p)
        } else {
            let mut t = [0.0f32; 4];
            core::ptr::copy_nonoverlapping(p, t.as_mut_ptr(), n);
            vld1q_f32(t.as_ptr())
        };
        fn load_i32(p: *const i32) -> Self::V = vcvtq_f32_s32(vld1q_s32(p));
        fn store(v: Self::V, p: *mut f32) = vst1q_f32(p, v);
        fn store_part(v: Self::V, p: *mut f32, n: usize) = if n >= 4 {
            vst1q_f32(p, v)
        } else {
            let mut t = [0.0f32; 4];
            vst1q_f32(t.as_mut_ptr(), v);
            core::ptr::copy_nonoverlapping(t.as_ptr(), p, n);
        };
        fn add(a: Self::V, b: Self::V) -> Self::V = vaddq_f32(a, b);
        fn mul(a: Self::V, b: Self::V) -> Self::V = vmulq_f32(a, b);
        fn fma(acc: Self::V, x: Self::V, w: Self::V) -> Self::V = vfmaq_f32(acc, x, w);
        // Not fmax (which propagates NaN): x86's `a > b ? a : b`.
        fn max(a: Self::V, b: Self::V) -> Self::V = vbslq_f32(vcgtq_f32(a, b), a, b);
        fn abs(a: Self::V) -> Self::V = vabsq_f32(a);
        fn reduce_add(v: Self::V) -> f32 = vaddvq_f32(v);
        fn reduce_max(v: Self::V) -> f32 = vmaxvq_f32(v);
        fn quantize_block(x: *const f32, inv: f32, q: *mut i8, n: usize) = {
            let t = vmulq_f32(Self::load_part(x, n), vdupq_n_f32(inv));
            // The reference's clamp (NaN → -127), then nearest, ties to even.
            let c = Self::max(t, vdupq_n_f32(-127.0));
            let hi = vdupq_n_f32(127.0);
            let c = vbslq_f32(vcltq_f32(c, hi), c, hi);
            let h = vqmovn_s32(vcvtnq_s32_f32(c));
            let mut b = [0i8; 8];
            vst1_s8(b.as_mut_ptr(), vqmovn_s16(vcombine_s16(h, h)));
            core::ptr::copy_nonoverlapping(b.as_ptr(), q, n.min(4));
        };
        fn quantize_store(v: Self::V, inv: Self::V, q: *mut i8) = {
            // As quantize_block, from a register.
            let c = Self::max(vmulq_f32(v, inv), vdupq_n_f32(-127.0));
            let hi = vdupq_n_f32(127.0);
            let c = vbslq_f32(vcltq_f32(c, hi), c, hi);
            let h = vqmovn_s32(vcvtnq_s32_f32(c));
            let b = vqmovn_s16(vcombine_s16(h, h));
            let w = vget_lane_s32::<0>(vreinterpret_s32_s8(b));
            (q as *mut i32).write_unaligned(w);
        };
    }
}

impl LoadW<NeonF32> for f32 {
    #[inline(always)]
    unsafe fn load(p: *const f32) -> float32x4_t {
        unsafe { vld1q_f32(p) }
    }
}
impl LoadW<NeonF32> for u16 {
    /// 4 f16 weights widened exactly by `fcvtl` (Rust's f16 NEON intrinsics are not
    /// stable; the instruction is baseline on aarch64).
    #[inline(always)]
    unsafe fn load(p: *const u16) -> float32x4_t {
        let h = unsafe { vld1_u16(p) };
        let out: float32x4_t;
        // SAFETY: fcvtl only reads and writes registers.
        unsafe {
            asm!("fcvtl {o:v}.4s, {h:v}.4h", o = lateout(vreg) out, h = in(vreg) h,
                 options(pure, nomem, nostack));
        }
        out
    }
}
