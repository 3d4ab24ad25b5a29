//! aarch64 kernels: the shared int8 body (`tiled::gemm_i8`) fed by NEON (widening
//! multiplies) and dotprod (`sdot`) primitives, an i8mm (`smmla`) GEMM, and the NEON f32
//! primitives ([`F32Simd`]) for the float GEMM, the dots, the quantizer and the fused
//! epilogue. NEON is part of the aarch64 baseline; dotprod and i8mm are detected at run
//! time.

use core::arch::aarch64::*;
use core::arch::asm;
use core::mem::MaybeUninit;

use super::registry::lines;
use super::simd::{primitives, F32Simd, LoadW};
use super::tiled::{check, FusedIsa, Isa};
use super::{simd, tiled, tiled_f32, PackedI8, RowView};

// Worst first within each slot: the plug keeps the last line that fits. NEON is baseline
// on aarch64, but its lines still need the NEON group, so that a scalar cap drops them.
lines! {
    gemm_i8 "aarch64_neon_gemm_i8_4x8" needs [NEON] enable "neon" => tiled::gemm_i8::<Neon, 4, 2>;
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
        => gemm_i8_dotprod;
    gemm_i8_fused "aarch64_neon_gemm_i8_fused_4x8" needs [NEON] enable "neon"
        => tiled::gemm_i8_fused::<Neon, 4, 2>;
    quantize_fixed "aarch64_neon_quantize_fixed" needs [NEON] enable "neon"
        => simd::quantize_fixed::<NeonF32>;
    gemm_i8_fused "aarch64_dotprod_gemm_i8_fused_4x16" needs [NEON, DOTPROD]
        enable "neon,dotprod" => tiled::gemm_i8_fused::<Dotprod, 4, 4>;
    gemm_i8 "aarch64_i8mm_gemm_i8_8x8" needs [NEON, DOTPROD, I8MM] enable "neon,dotprod,i8mm"
        => gemm_i8_i8mm;
}

/// NEON without dotprod: `smull` multiplies 8 byte pairs exactly into i16 lanes and
/// `sadalp` adds neighbouring products into the i32 lanes of an accumulator, so 4 outputs
/// take two accumulators (`.0`: outputs 0, 0, 1, 1; `.1`: 2, 2, 3, 3), folded by one
/// `addp` in `finish`. Two ops per 8 products, against six per 16 for a reduction per
/// dot; exact for every i8 (a product fits i16, the pair sum is widened first).
struct Neon;
impl Isa for Neon {
    type V = int32x4x2_t;
    const LANES: usize = 4;
    #[inline(always)]
    unsafe fn zero() -> int32x4x2_t {
        unsafe { int32x4x2_t(vdupq_n_s32(0), vdupq_n_s32(0)) }
    }
    /// The 4 bytes in every 32-bit lane of `.0` (`.1` unused).
    #[inline(always)]
    unsafe fn prep(x4: u32) -> int32x4x2_t {
        unsafe { int32x4x2_t(vreinterpretq_s32_u32(vdupq_n_u32(x4)), vdupq_n_s32(0)) }
    }
    #[inline(always)]
    unsafe fn load(p: *const i8) -> int32x4x2_t {
        unsafe { int32x4x2_t(vreinterpretq_s32_s8(vld1q_s8(p)), vdupq_n_s32(0)) }
    }
    #[inline(always)]
    unsafe fn dot(acc: int32x4x2_t, x: int32x4x2_t, w: int32x4x2_t) -> int32x4x2_t {
        unsafe {
            let (xb, wb) = (vreinterpretq_s8_s32(x.0), vreinterpretq_s8_s32(w.0));
            int32x4x2_t(
                vpadalq_s16(acc.0, vmull_s8(vget_low_s8(wb), vget_low_s8(xb))),
                vpadalq_s16(acc.1, vmull_high_s8(wb, xb)),
            )
        }
    }
    #[inline(always)]
    unsafe fn finish(acc: int32x4x2_t, _rowsum: *const i32, out: *mut i32) {
        unsafe { vst1q_s32(out, vpaddq_s32(acc.0, acc.1)) }
    }
}

/// `acc op a, b` for a register-only instruction of an extension (`sdot`, `smmla`); `$b`
/// names the second operand's arrangement (`16b`, or `4b[0]` for `sdot`'s by-element
/// form).
macro_rules! asm_mla {
    ($ext:literal, $op:literal, $b:literal, $acc:expr, $x:expr, $y:expr) => {{
        let mut acc = $acc;
        // SAFETY: the instruction only reads and writes registers; the caller's CPU has
        // the extension.
        unsafe {
            asm!(
                concat!(".arch_extension ", $ext),
                concat!($op, " {a:v}.4s, {x:v}.16b, {y:v}.", $b),
                a = inout(vreg) acc, x = in(vreg) $x, y = in(vreg) $y,
                options(pure, nomem, nostack)
            );
        }
        acc
    }};
}

/// `sdot` by element: `acc + Σ_{i<4} w[4o + i]·x[4L + i]` in each 32-bit lane o.
#[inline(always)]
unsafe fn sdot_lane<const L: usize>(acc: int32x4_t, w: int8x16_t, x: int8x16_t) -> int32x4_t {
    match L {
        0 => asm_mla!("dotprod", "sdot", "4b[0]", acc, w, x),
        1 => asm_mla!("dotprod", "sdot", "4b[1]", acc, w, x),
        2 => asm_mla!("dotprod", "sdot", "4b[2]", acc, w, x),
        _ => asm_mla!("dotprod", "sdot", "4b[3]", acc, w, x),
    }
}

/// One group of 4 inputs for R rows × 16 outputs: weights `w`, each row's bytes in
/// group L of `x`. A const L, so that the 4 groups of a step are straight-line code (a
/// loop over them stays a loop with a switch: the `sdot`s are opaque to the unroller).
#[inline(always)]
unsafe fn dot_group<const R: usize, const L: usize>(
    a: &mut [[int32x4_t; 4]; R],
    w: [int8x16_t; 4],
    x: &[int8x16_t; R],
) {
    for (ar, &xr) in a.iter_mut().zip(x) {
        for (aj, &wj) in ar.iter_mut().zip(&w) {
            *aj = unsafe { sdot_lane::<L>(*aj, wj, xr) };
        }
    }
}

/// The 4 bytes at `p` (any alignment) in every 32-bit lane.
#[inline(always)]
unsafe fn bcast4(p: *const i8) -> int8x16_t {
    unsafe { vreinterpretq_s8_u32(vdupq_n_u32((p as *const u32).read_unaligned())) }
}

/// dotprod GEMM: tiles of 4 rows × 16 outputs in registers, as in the shared body, but 16
/// inputs a step: a row's 16 activation bytes are one plain load and `sdot` by element
/// picks each 4-byte group, where a broadcast load per 4 inputs (`ld1r`) would cost a
/// vector-pipe op on the Neoverse cores. Rows by 4, then 1; the last `k4 % 16` inputs 4
/// at a time.
///
/// # Safety
/// The CPU supports neon and dotprod.
#[inline(always)]
unsafe fn gemm_i8_dotprod(w: &PackedI8, x: RowView<'_, i8>, acc: &mut [i32], accs: usize) {
    check(w, x, acc, accs);
    let (rows, xs, xp, ap) = (x.rows, x.stride, x.data.as_ptr(), acc.as_mut_ptr());
    // SAFETY: each call reads rows r .. r + R ≤ rows and writes their accumulators,
    // inside the buffers validated by `check`.
    unsafe {
        let mut r = 0;
        while r + 4 <= rows {
            dot_rows::<4>(w, xp.add(r * xs), xs, ap.add(r * accs), accs);
            r += 4;
        }
        while r < rows {
            dot_rows::<1>(w, xp.add(r * xs), xs, ap.add(r * accs), accs);
            r += 1;
        }
    }
}

/// Rows `0 .. R` at `xp` (stride `xs`) times every output, into `ap` (stride `accs`),
/// with `sdot`.
///
/// # Safety
/// The CPU supports dotprod; the R rows hold `w.k4` inputs and `w.out_pad` accumulators.
#[inline(always)]
unsafe fn dot_rows<const R: usize>(
    w: &PackedI8,
    xp: *const i8,
    xs: usize,
    ap: *mut i32,
    accs: usize,
) {
    let wp = w.data().as_ptr();
    let (k16, op) = (w.k4 / 16 * 16, w.out_pad);
    // SAFETY: inputs < k4, outputs < out_pad, rows < R (the caller's contract).
    unsafe {
        for o0 in (0..op).step_by(16) {
            // The weights of inputs k .. k + 4 for outputs o0 .. o0 + 16, by 4.
            let wk = |k: usize| -> [int8x16_t; 4] {
                core::array::from_fn(|j| vld1q_s8(wp.add((k / 4 * op + o0 + 4 * j) * 4)))
            };
            let mut a = [[vdupq_n_s32(0); 4]; R];
            let mut k = 0;
            while k < k16 {
                let xv: [int8x16_t; R] = core::array::from_fn(|r| vld1q_s8(xp.add(r * xs + k)));
                dot_group::<R, 0>(&mut a, wk(k), &xv);
                dot_group::<R, 1>(&mut a, wk(k + 4), &xv);
                dot_group::<R, 2>(&mut a, wk(k + 8), &xv);
                dot_group::<R, 3>(&mut a, wk(k + 12), &xv);
                k += 16;
            }
            while k < w.k4 {
                let xv: [int8x16_t; R] = core::array::from_fn(|r| bcast4(xp.add(r * xs + k)));
                dot_group::<R, 0>(&mut a, wk(k), &xv);
                k += 4;
            }
            for (r, ar) in a.iter().enumerate() {
                for (j, aj) in ar.iter().enumerate() {
                    vst1q_s32(ap.add(r * accs + o0 + 4 * j), *aj);
                }
            }
        }
    }
}

impl FusedIsa for Neon {
    type F = NeonF32;
    #[inline(always)]
    unsafe fn sums(acc: int32x4x2_t, _rowsum: *const i32) -> float32x4_t {
        unsafe { vcvtq_f32_s32(vpaddq_s32(acc.0, acc.1)) }
    }
}

/// dotprod through the shared tile (the static layers' fused kernel): `sdot` of 4 outputs
/// × 4 inputs against the same 4 activation bytes broadcast to every lane.
struct Dotprod;
impl Isa for Dotprod {
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
        let (w, x) = (vreinterpretq_s8_s32(w), vreinterpretq_s8_s32(x));
        asm_mla!("dotprod", "sdot", "16b", acc, w, x)
    }
    #[inline(always)]
    unsafe fn finish(acc: int32x4_t, _rowsum: *const i32, out: *mut i32) {
        unsafe { vst1q_s32(out, acc) }
    }
}

impl FusedIsa for Dotprod {
    type F = NeonF32;
    #[inline(always)]
    unsafe fn sums(acc: int32x4_t, _rowsum: *const i32) -> float32x4_t {
        unsafe { vcvtq_f32_s32(acc) }
    }
}

/// `smmla`: (2 rows × 8 inputs) · (8 inputs × 2 outputs) → 2×2 i32, accumulated.
#[inline(always)]
unsafe fn smmla(acc: int32x4_t, x: int8x16_t, w: int8x16_t) -> int32x4_t {
    asm_mla!("i8mm", "smmla", "16b", acc, x, w)
}

/// i8mm GEMM over the shared packing: two 4-input blocks of 4 outputs, zipped by 32-bit
/// lanes, give the 2 outputs × 8 inputs operands `smmla` wants; two rows' 8 inputs form
/// the other. The zips are the layout's cost, so each step's 4 zipped operands serve 4
/// row pairs (a tile of 8 rows × 8 outputs), then single pairs; a 4-input tail and a
/// last odd row use sdot.
///
/// # Safety
/// The CPU supports neon, dotprod and i8mm.
#[inline(always)]
unsafe fn gemm_i8_i8mm(w: &PackedI8, x: RowView<'_, i8>, acc: &mut [i32], accs: usize) {
    check(w, x, acc, accs);
    let (rows, xs) = (x.rows, x.stride);
    let (xp, ap) = (x.data.as_ptr(), acc.as_mut_ptr());
    let pairs = rows / 2;
    // SAFETY: each call reads rows 2p .. 2p + 2P < rows and writes their accumulators,
    // inside the buffers validated by `check`.
    unsafe {
        let mut p = 0;
        while p + 4 <= pairs {
            i8mm_rows::<4>(w, xp.add(2 * p * xs), xs, ap.add(2 * p * accs), accs);
            p += 4;
        }
        while p < pairs {
            i8mm_rows::<1>(w, xp.add(2 * p * xs), xs, ap.add(2 * p * accs), accs);
            p += 1;
        }
        if 2 * pairs < rows {
            dot_rows::<1>(
                w,
                xp.add(2 * pairs * xs),
                xs,
                ap.add(2 * pairs * accs),
                accs,
            );
        }
    }
}

/// Inputs up to which [`i8mm_rows`] pairs the rows' activations once, in a stack buffer
/// (16 bytes per pair and 8 inputs: 8 KB for 4 pairs), instead of once per 8 outputs.
const I8MM_PAIRED_K: usize = 1024;

/// Rows `0 .. 2P` at `xp` (stride `xs`) times every output, into `ap` (stride `accs`).
///
/// # Safety
/// As [`gemm_i8_i8mm`]; the 2P rows hold `w.k4` inputs and `w.out_pad` accumulators.
#[inline(always)]
unsafe fn i8mm_rows<const P: usize>(
    w: &PackedI8,
    xp: *const i8,
    xs: usize,
    ap: *mut i32,
    accs: usize,
) {
    let k8 = w.k4 / 8 * 8;
    // Rows 2p and 2p+1's 8 inputs from k, as `smmla`'s first operand.
    let pair = |p: usize, k: usize| unsafe {
        vcombine_s8(
            vld1_s8(xp.add(2 * p * xs + k)),
            vld1_s8(xp.add((2 * p + 1) * xs + k)),
        )
    };
    if k8 <= I8MM_PAIRED_K {
        // Building a pair takes a vector op (the insert of the second half), as much
        // as a zip of the weights: built once here, the inner loop only loads them.
        let mut buf = [[MaybeUninit::<int8x16_t>::uninit(); I8MM_PAIRED_K / 8]; P];
        for (p, bp) in buf.iter_mut().enumerate() {
            for (k, v) in (0..k8).step_by(8).zip(bp.iter_mut()) {
                v.write(pair(p, k));
            }
        }
        // SAFETY: entries k / 8 < k8 / 8 of every pair were written above.
        unsafe { i8mm_tiles::<P>(w, xp, xs, ap, accs, |p, k| buf[p][k / 8].assume_init()) }
    } else {
        unsafe { i8mm_tiles::<P>(w, xp, xs, ap, accs, pair) }
    }
}

/// [`i8mm_rows`] with the rows' paired activations from `pair(p, k)`.
///
/// # Safety
/// As [`i8mm_rows`]; `pair` is valid for p < P, k < k4 / 8 · 8.
#[inline(always)]
unsafe fn i8mm_tiles<const P: usize>(
    w: &PackedI8,
    xp: *const i8,
    xs: usize,
    ap: *mut i32,
    accs: usize,
    pair: impl Fn(usize, usize) -> int8x16_t,
) {
    let wp = w.data().as_ptr();
    let (k8, op) = (w.k4 / 8 * 8, w.out_pad);
    // SAFETY: inputs < k4, outputs < out_pad, rows < 2P (the caller's contract).
    unsafe {
        for o0 in (0..op).step_by(8) {
            // a[p][j]: outputs o0+2j, o0+2j+1 for rows 2p (lanes 0,1) and 2p+1 (lanes 2,3).
            let mut a = [[vdupq_n_s32(0); 4]; P];
            for k in (0..k8).step_by(8) {
                let mut b = [vdupq_n_s8(0); 4];
                for h in 0..2 {
                    let b0 = vreinterpretq_s32_s8(vld1q_s8(wp.add((k / 4 * op + o0 + 4 * h) * 4)));
                    let b1 =
                        vreinterpretq_s32_s8(vld1q_s8(wp.add(((k / 4 + 1) * op + o0 + 4 * h) * 4)));
                    b[2 * h] = vreinterpretq_s8_s32(vzip1q_s32(b0, b1));
                    b[2 * h + 1] = vreinterpretq_s8_s32(vzip2q_s32(b0, b1));
                }
                for (p, ap) in a.iter_mut().enumerate() {
                    let xv = pair(p, k);
                    for (aj, &bj) in ap.iter_mut().zip(&b) {
                        *aj = smmla(*aj, xv, bj);
                    }
                }
            }
            for (p, ap2) in a.iter().enumerate() {
                for h in 0..2 {
                    let (lo, hi) = (
                        vreinterpretq_s64_s32(ap2[2 * h]),
                        vreinterpretq_s64_s32(ap2[2 * h + 1]),
                    );
                    let mut rows = [
                        vreinterpretq_s32_s64(vzip1q_s64(lo, hi)),
                        vreinterpretq_s32_s64(vzip2q_s64(lo, hi)),
                    ];
                    let o = o0 + 4 * h;
                    if k8 < w.k4 {
                        let wv = vld1q_s8(wp.add((k8 / 4 * op + o) * 4));
                        for (i, row) in rows.iter_mut().enumerate() {
                            let xr = bcast4(xp.add((2 * p + i) * xs + k8));
                            *row = sdot_lane::<0>(*row, wv, xr);
                        }
                    }
                    for (i, row) in rows.iter().enumerate() {
                        vst1q_s32(ap.add((2 * p + i) * accs + o), *row);
                    }
                }
            }
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
            let b = vreinterpret_u32_s8(vqmovn_s16(vcombine_s16(h, h)));
            // A full block stores its 4 bytes at once: a copy of n.min(4) bytes would be
            // a call to memcpy per block.
            if n >= 4 {
                (q as *mut u32).write_unaligned(vget_lane_u32::<0>(b));
            } else {
                let t = vget_lane_u32::<0>(b).to_le_bytes();
                core::ptr::copy_nonoverlapping(t.as_ptr() as *const i8, q, n);
            }
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

#[cfg(test)]
mod tests {
    use super::super::{generic, registry, Features, Kernel};
    use super::*;
    use crate::hash::SplitMix;

    /// Every int8 GEMM line this CPU runs against the scalar one at input lengths past
    /// the kernels' steps and past `I8MM_PAIRED_K` (the i8mm path without the paired
    /// buffer), which the shared kernel tests (up to 132 inputs) do not reach, with row
    /// counts around the 4- and 8-row tiles.
    #[test]
    fn int8_gemms_match_scalar_on_long_inputs() {
        let mut rng = SplitMix(14);
        let lines: Vec<_> = registry::available()
            .filter_map(|l| match l.kernel {
                Kernel::gemm_i8(f) if l.name.starts_with("aarch64_") => Some((f, l.name)),
                _ => None,
            })
            .collect();
        assert!(Features::detect().contains(Features::NEON) && !lines.is_empty());
        for &k in &[
            1020,
            I8MM_PAIRED_K,
            I8MM_PAIRED_K + 12,
            2 * I8MM_PAIRED_K + 20,
        ] {
            for &(out, rows) in &[(16, 1), (40, 3), (16, 8), (24, 9), (16, 17)] {
                let w: Vec<i8> = (0..out * k)
                    .map(|_| (rng.below(255) as i32 - 127) as i8)
                    .collect();
                let p = PackedI8::pack(&w, k, out, 0, k);
                let xs = p.k4 + 8;
                let x: Vec<i8> = (0..rows * xs)
                    .map(|_| (rng.below(256) as i32 - 128) as i8)
                    .collect();
                let xv = RowView::new(&x, xs, rows);
                let mut want = vec![0i32; rows * p.out_pad];
                generic::gemm_i8(&p, xv, &mut want, p.out_pad);
                for &(gemm, name) in &lines {
                    let mut got = vec![7i32; rows * p.out_pad];
                    gemm(&p, xv, &mut got, p.out_pad);
                    assert!(got == want, "{name} k={k} out={out} rows={rows}");
                }
            }
        }
    }
}
