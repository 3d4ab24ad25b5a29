//! Compute kernels and their run-time dispatch.
//!
//! One table of function pointers ([`Kernels`]) is filled once, on first use, with the
//! scalar reference kernels (`generic`) and then overlaid tier by tier with what the CPU
//! supports. `CAMOE_KERNEL_TIER=<name>` caps the tier (to test or compare lower ones).
//! Every SIMD kernel is tested against the scalar reference (`tests/kernels.rs`).

#[cfg(target_arch = "aarch64")]
pub mod aarch64;
pub mod generic;
mod tiled;
mod tiled_f32;
#[cfg(target_arch = "x86_64")]
pub mod x86_64;

use std::sync::OnceLock;

/// Instruction-set tiers, lowest first within each architecture.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tier {
    Scalar,
    Avx2,
    AvxVnni,
    Avx512Vnni,
    Neon,
    Dotprod,
    I8mm,
}

impl Tier {
    pub const ALL: [Tier; 7] = [
        Tier::Scalar,
        Tier::Avx2,
        Tier::AvxVnni,
        Tier::Avx512Vnni,
        Tier::Neon,
        Tier::Dotprod,
        Tier::I8mm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tier::Scalar => "scalar",
            Tier::Avx2 => "avx2",
            Tier::AvxVnni => "avxvnni",
            Tier::Avx512Vnni => "avx512vnni",
            Tier::Neon => "neon",
            Tier::Dotprod => "dotprod",
            Tier::I8mm => "i8mm",
        }
    }

    pub fn from_name(s: &str) -> Option<Tier> {
        Tier::ALL.into_iter().find(|t| t.name() == s)
    }

    /// Whether this CPU can run the tier (detected at run time).
    pub fn supported(self) -> bool {
        match self {
            Tier::Scalar => true,
            #[cfg(target_arch = "x86_64")]
            Tier::Avx2 => x86_64::avx2_supported(),
            #[cfg(target_arch = "x86_64")]
            Tier::AvxVnni => x86_64::avxvnni_supported(),
            #[cfg(target_arch = "x86_64")]
            Tier::Avx512Vnni => x86_64::avx512vnni_supported(),
            #[cfg(target_arch = "aarch64")]
            Tier::Neon => true,
            #[cfg(target_arch = "aarch64")]
            Tier::Dotprod => std::arch::is_aarch64_feature_detected!("dotprod"),
            #[cfg(target_arch = "aarch64")]
            Tier::I8mm => std::arch::is_aarch64_feature_detected!("i8mm"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }
}

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

/// `acc[r·acc_stride + o] = Σ_k x[r·x_stride + k] · w[o][k]` for `r < rows`,
/// `o < w.out_pad`. `x` rows hold `w.k4` values, zero beyond `w.k`. Exact in i32 on
/// every tier.
pub type GemmI8 =
    fn(w: &PackedI8, x: &[i8], x_stride: usize, rows: usize, acc: &mut [i32], acc_stride: usize);
/// Quantizes `rows` rows (row r = `x[r·x_stride + x_offset ..][..cols]`) to int8 rows of
/// `q_stride` bytes (zero beyond `cols`), one scale per row into `scales`.
pub type QuantizeRows = fn(
    x: &[f32],
    x_stride: usize,
    x_offset: usize,
    cols: usize,
    rows: usize,
    q: &mut [i8],
    q_stride: usize,
    scales: &mut [f32],
);
/// The int8 epilogue: `out[r·n + o] = init[o] + acc[r·acc_stride + o] · (w_scale[o] ·
/// x_scale[r])` for `o < n`, then `max(·, 0)` when `relu`.
pub type Dequantize = fn(
    acc: &[i32],
    acc_stride: usize,
    rows: usize,
    w_scale: &[f32],
    x_scale: &[f32],
    init: &[f32],
    relu: bool,
    out: &mut [f32],
);
/// How the fused int8 epilogue ([`Requantize`]) finishes each value `y`.
#[derive(Clone, Copy)]
pub enum Finish<'a> {
    /// `y` as is.
    Linear,
    /// `y > 0 ? y : 0` (the form of x86's `maxps(y, 0)`, so NaN and -0 give +0 on
    /// every tier).
    Relu,
    /// A DCN-v2 cross layer: `x0[r·n + o] · y + x[r·n + o]`.
    Cross { x0: &'a [f32], x: &'a [f32] },
}
/// The fused int8 epilogue between two layers, over `rows` rows of `n` outputs (`n` a
/// multiple of 16; `acc`, `out`, the `Cross` inputs and `q` all have rows `n` apart):
/// `y = init[o] + acc[r·n + o] · (w_scale[o] · x_scale[r])`, finished per `finish`, into
/// `out`; then, when `q` is given, each row of `out` quantized as [`QuantizeRows`] does
/// (one scale per row into the second slice), ready to be the next layer's input.
/// Padding columns must hold zeros in `acc`, `w_scale`, `init` and the cross inputs:
/// they stay zero in `out` and `q`.
pub type Requantize = fn(
    acc: &[i32],
    n: usize,
    rows: usize,
    w_scale: &[f32],
    x_scale: &[f32],
    init: &[f32],
    finish: Finish<'_>,
    out: &mut [f32],
    q: Option<(&mut [i8], &mut [f32])>,
);
/// `out[r·out_stride + o] = init[o] + Σ_{c < w.k} x[r·x_stride + c] · w[c][o]` for
/// `r < rows`, `o < w.out` (columns past `w.out` are not written), each weight widened
/// exactly to f32 as it is loaded. The sum runs over `c` in order on every tier; SIMD
/// tiers fuse each multiply-add, so tiers agree within rounding, not bit for bit.
pub type GemmFloat<T> = fn(
    w: &PackedFloat<T>,
    x: &[f32],
    x_stride: usize,
    rows: usize,
    init: &[f32],
    out: &mut [f32],
    out_stride: usize,
);
pub type GemmF32 = GemmFloat<f32>;
pub type GemmF16 = GemmFloat<u16>;
/// An elementwise float function in place (`exp`, `sigmoid`); identical bits on every
/// tier (one body, compiled per tier).
pub type MapF32 = fn(v: &mut [f32]);
/// `Σ a[i]·b[i]` in f32 (summation order may differ between tiers).
pub type DotF32 = fn(a: &[f32], b: &[f32]) -> f32;
/// `Σ f16(a[i])·b[i]` in f32.
pub type DotF16 = fn(a: &[u16], b: &[f32]) -> f32;

/// The kernel table: one entry per slot, with the name of the kernel it holds.
pub struct Kernels {
    pub tier: Tier,
    pub gemm_i8: (GemmI8, &'static str),
    pub gemm_f32: (GemmF32, &'static str),
    pub gemm_f16: (GemmF16, &'static str),
    pub quantize: (QuantizeRows, &'static str),
    pub dequantize: (Dequantize, &'static str),
    pub requantize: (Requantize, &'static str),
    pub exp: (MapF32, &'static str),
    pub sigmoid: (MapF32, &'static str),
    pub dot_f32: (DotF32, &'static str),
    pub dot_f16: (DotF16, &'static str),
}

impl Kernels {
    /// The table for `tier` (which must be supported), built from the scalar one up.
    pub fn for_tier(tier: Tier) -> Kernels {
        assert!(
            tier.supported(),
            "tier {} is not supported by this CPU",
            tier.name()
        );
        let mut k = Kernels {
            tier: Tier::Scalar,
            gemm_i8: (generic::gemm_i8, "generic_gemm_i8"),
            gemm_f32: (generic::gemm_float::<f32>, "generic_gemm_f32"),
            gemm_f16: (generic::gemm_float::<u16>, "generic_gemm_f16"),
            quantize: (generic::quantize_rows, "generic_quantize_rows"),
            dequantize: (generic::dequantize, "generic_dequantize"),
            requantize: (generic::requantize, "generic_requantize"),
            exp: (generic::exp, "generic_exp"),
            sigmoid: (generic::sigmoid, "generic_sigmoid"),
            dot_f32: (generic::dot_f32, "generic_dot_f32"),
            dot_f16: (generic::dot_f16, "generic_dot_f16"),
        };
        #[cfg(target_arch = "x86_64")]
        x86_64::plug(&mut k, tier);
        #[cfg(target_arch = "aarch64")]
        aarch64::plug(&mut k, tier);
        k.tier = tier;
        k
    }

    /// The best supported tier, capped by `CAMOE_KERNEL_TIER` when set.
    fn detect() -> Kernels {
        let cap = std::env::var("CAMOE_KERNEL_TIER")
            .ok()
            .and_then(|s| Tier::from_name(s.trim()));
        let best = Tier::ALL
            .into_iter()
            .filter(|t| t.supported() && cap.is_none_or(|c| *t <= c))
            .max()
            .unwrap_or(Tier::Scalar);
        Kernels::for_tier(best)
    }

    /// One line per slot: `slot=kernel`, e.g. for `camoe_kernel_info`.
    pub fn describe(&self) -> String {
        format!(
            "tier={} gemm_i8={} gemm_f32={} gemm_f16={} quantize={} dequantize={} requantize={} exp={} sigmoid={} dot_f32={} dot_f16={}",
            self.tier.name(),
            self.gemm_i8.1,
            self.gemm_f32.1,
            self.gemm_f16.1,
            self.quantize.1,
            self.dequantize.1,
            self.requantize.1,
            self.exp.1,
            self.sigmoid.1,
            self.dot_f32.1,
            self.dot_f16.1
        )
    }
}

/// The process-wide kernel table, chosen on first use.
pub fn kernels() -> &'static Kernels {
    static K: OnceLock<Kernels> = OnceLock::new();
    K.get_or_init(Kernels::detect)
}

/// The table of one tier, if this CPU supports it (for tests and benches that compare
/// tiers in one process).
pub fn kernels_for(tier: Tier) -> Option<&'static Kernels> {
    static TABLES: [OnceLock<Kernels>; 7] = [const { OnceLock::new() }; 7];
    let i = Tier::ALL.iter().position(|&t| t == tier)?;
    tier.supported()
        .then(|| TABLES[i].get_or_init(|| Kernels::for_tier(tier)))
}
