//! Compute kernels: their signatures (one per slot), their operands, and the registry
//! that picks one kernel per slot for the CPU.
//!
//! Every kernel is one line of a list (`generic::LINES`, `x86_64::LINES`,
//! `aarch64::LINES`) naming its slot, its name, the CPU features it needs and its body;
//! [`registry`] plugs, per slot, the best line whose features the CPU has.
//! `CAMOE_KERNEL_TIER=<name>` caps the tier (to test or compare lower ones). Every SIMD
//! kernel is tested against the scalar reference (`tests/kernels.rs`).

#[cfg(target_arch = "aarch64")]
mod aarch64;
pub mod generic;
mod pack;
pub mod registry;
mod simd;
mod tiled;
mod tiled_f32;
#[cfg(target_arch = "x86_64")]
mod x86_64;

pub use pack::{out_pad, FloatWeight, PackedF16, PackedF32, PackedFloat, PackedI8, Slab};
pub use registry::{
    available, kernels, kernels_for, parse_tier, try_kernels, Features, Kernel, Kernels, Line, Tier,
};

/// Rows of a matrix held in a flat slice: row `r` starts at `data[r·stride]`.
#[derive(Clone, Copy)]
pub struct RowView<'a, T> {
    pub data: &'a [T],
    pub stride: usize,
    pub rows: usize,
}

impl<'a, T> RowView<'a, T> {
    pub fn new(data: &'a [T], stride: usize, rows: usize) -> RowView<'a, T> {
        RowView { data, stride, rows }
    }

    /// The first `cols` values of row `r`.
    #[inline(always)]
    pub fn row(&self, r: usize, cols: usize) -> &'a [T] {
        &self.data[r * self.stride..r * self.stride + cols]
    }
}

/// The int8 epilogue's operands: `y[r][o] = init[o] + acc[r][o] · (w_scale[o] ·
/// x_scale[r])` for `r < acc.rows`, `o < cols`.
#[derive(Clone, Copy)]
pub struct Scaled<'a> {
    pub acc: RowView<'a, i32>,
    pub cols: usize,
    pub w_scale: &'a [f32],
    pub x_scale: &'a [f32],
    pub init: &'a [f32],
}

/// ReLU as every kernel and layer computes it: `y > 0 ? y : 0`, the form of x86's
/// `maxps(y, 0)`, so NaN and -0 both give +0 on every tier.
#[inline(always)]
pub fn relu(y: f32) -> f32 {
    if y > 0.0 {
        y
    } else {
        0.0
    }
}

/// `acc[r·acc_stride + o] = Σ_k x[r][k] · w[o][k]` for `r < x.rows`, `o < w.out_pad`.
/// `x` rows hold `w.k4` values, zero beyond `w.k`. Exact in i32 on every tier.
pub type GemmI8 = fn(w: &PackedI8, x: RowView<'_, i8>, acc: &mut [i32], acc_stride: usize);
/// Quantizes the first `cols` values of each row of `x` to int8 rows of `q_stride`
/// bytes (zero beyond `cols`), one scale per row into `scales`.
pub type QuantizeRows =
    fn(x: RowView<'_, f32>, cols: usize, q: &mut [i8], q_stride: usize, scales: &mut [f32]);
/// The int8 epilogue: `out[r·cols + o] = y[r][o]` ([`Scaled`]), then [`relu`] when
/// `relu`.
pub type Dequantize = fn(y: Scaled<'_>, relu: bool, out: &mut [f32]);
/// How the fused int8 epilogue ([`Requantize`]) finishes each value `y`.
#[derive(Clone, Copy)]
pub enum Finish<'a> {
    /// `y` as is.
    Linear,
    /// [`relu`]`(y)`.
    Relu,
    /// A DCN-v2 cross layer: `x0[r·n + o] · y + x[r·n + o]`.
    Cross { x0: &'a [f32], x: &'a [f32] },
}
/// The fused int8 epilogue between two layers, over `y.acc.rows` rows of `n = y.cols`
/// outputs (`n` a multiple of 16; `acc`, `out`, the `Cross` inputs and `q` all have rows
/// `n` apart): `y` ([`Scaled`]) finished per `finish`, into `out`; then, when `q` is
/// given, each row of `out` quantized as [`QuantizeRows`] does (one scale per row into
/// the second slice), ready to be the next layer's input. Padding columns must hold zeros
/// in `acc`, `w_scale`, `init` and the cross inputs: they stay zero in `out` and `q`.
pub type Requantize =
    fn(y: Scaled<'_>, finish: Finish<'_>, out: &mut [f32], q: Option<(&mut [i8], &mut [f32])>);
/// How a static int8 layer ([`GemmI8Fused`]) finishes each value `y` of row `r`,
/// output `o`.
#[derive(Clone, Copy)]
pub enum FusedFinish<'a> {
    /// `y` as is.
    Linear,
    /// [`relu`]`(y)`.
    Relu,
    /// A DCN-v2 cross layer: `x0[r][o] · y + x[r][o]`, x0 in f32 rows and the residual x
    /// ([`Residual`]).
    Cross {
        x0: RowView<'a, f32>,
        x: Residual<'a>,
    },
}

/// The residual `x` of a static cross layer: f32 rows (x0 itself, before the first
/// layer), or the layer's own int8 input with its scale (`q · scale`).
#[derive(Clone, Copy)]
pub enum Residual<'a> {
    F32(RowView<'a, f32>),
    I8(RowView<'a, i8>, f32),
}

/// Where a static int8 layer ([`GemmI8Fused`]) stores its rows (`w.out_pad` values each).
pub enum FusedOut<'a> {
    /// int8 for the next layer: `quant::quantize_activation(y, 1/scale)`, `scale` being
    /// the next layer's calibrated input scale.
    I8 {
        q: &'a mut [i8],
        stride: usize,
        scale: f32,
    },
    /// f32, for a float operation next (the mixture, a logit).
    F32 { y: &'a mut [f32], stride: usize },
    /// Both, rows `stride` apart in each: int8 for the next layer, f32 for a later cross
    /// layer's residual (which stays exact in f32, as x0 does).
    Both {
        q: &'a mut [i8],
        y: &'a mut [f32],
        stride: usize,
        scale: f32,
    },
}

/// The operands of a static int8 layer's epilogue: `y[r][o] = init[o] + acc[r][o] ·
/// scale[o]` (`scale` = weight scale × the calibrated input scale), then `finish`.
/// `scale` and `init` hold `w.out_pad` values, zero in the padding (the cross inputs'
/// padding must be zero too, so padding outputs are 0).
#[derive(Clone, Copy)]
pub struct Fused<'a> {
    pub scale: &'a [f32],
    pub init: &'a [f32],
    pub finish: FusedFinish<'a>,
}

/// A whole static int8 layer: the GEMM of [`GemmI8`] with each tile finished while its
/// accumulators are in registers ([`Fused`]) and stored as `out` says; no i32 buffer,
/// no per-row scale. The same bits on every tier (integer sums; the epilogue's IEEE
/// operations in the scalar reference's order).
pub type GemmI8Fused = fn(w: &PackedI8, x: RowView<'_, i8>, e: Fused<'_>, out: FusedOut<'_>);
/// Quantizes the first `cols` values of each row of `x` with one fixed `scale` (a
/// calibrated one) to int8 rows of `q_stride` bytes, zero beyond `cols`.
pub type QuantizeFixed =
    fn(x: RowView<'_, f32>, cols: usize, q: &mut [i8], q_stride: usize, scale: f32);
/// `out[r·out_stride + o] = init[o] + Σ_{c < w.k} x[r][c] · w[c][o]` for `r < x.rows`,
/// `o < w.out` (columns past `w.out` are not written), each weight widened exactly to
/// f32 as it is loaded. The sum runs over `c` in order on every tier; SIMD tiers fuse
/// each multiply-add, so tiers agree within rounding, not bit for bit.
pub type GemmFloat<T> =
    fn(w: &PackedFloat<T>, x: RowView<'_, f32>, init: &[f32], out: &mut [f32], out_stride: usize);
pub type GemmF32 = GemmFloat<f32>;
pub type GemmF16 = GemmFloat<u16>;
/// An elementwise float function in place (`exp`, `sigmoid`); identical bits on every
/// tier (one body, compiled per tier).
pub type MapF32 = fn(v: &mut [f32]);
/// `Σ a[i]·b[i]` in f32 (summation order may differ between tiers).
pub type DotF32 = fn(a: &[f32], b: &[f32]) -> f32;
/// `Σ f16(a[i])·b[i]` in f32.
pub type DotF16 = fn(a: &[u16], b: &[f32]) -> f32;
