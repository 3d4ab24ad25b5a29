//! The kernel registry: CPU features, tiers, the line each kernel file lists per kernel,
//! and the plug that fills one table of kernels per feature set.
//!
//! Plugging follows features, not a tier range: each slot gets the last line (lines are
//! listed worst first) whose features the CPU has all of, and a table is built whole
//! from its chosen lines, so no kernel the CPU lacks is ever installed, not even for a
//! moment. A tier is a named feature set: `CAMOE_KERNEL_TIER` caps the features to those
//! of the tiers up to it.

use std::fmt::{self, Write};
use std::sync::OnceLock;

use super::{
    generic, Dequantize, DotF16, DotF32, GemmF16, GemmF32, GemmI8, GemmI8Fused, MapF32,
    QuantizeFixed, QuantizeRows, Requantize,
};
use crate::error::{Error, Status};

/// A set of CPU feature groups, each one a group of features the kernels use together.
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct Features(u16);

impl Features {
    pub const NONE: Features = Features(0);
    /// x86_64 AVX2 with FMA and F16C.
    pub const AVX2: Features = Features(1);
    /// x86_64 AVX-512 F, BW and VL.
    pub const AVX512: Features = Features(1 << 1);
    /// x86_64 AVX-512 VNNI (`vpdpbusd` on zmm).
    pub const AVX512VNNI: Features = Features(1 << 2);
    /// x86_64 AVX-VNNI (`vpdpbusd` on ymm, VEX-encoded).
    pub const AVXVNNI: Features = Features(1 << 3);
    /// aarch64 Advanced SIMD (baseline).
    pub const NEON: Features = Features(1 << 4);
    /// aarch64 `sdot`.
    pub const DOTPROD: Features = Features(1 << 5);
    /// aarch64 `smmla`.
    pub const I8MM: Features = Features(1 << 6);
    /// Every group, with its name.
    pub const NAMED: [(Features, &'static str); 7] = [
        (Features::AVX2, "avx2"),
        (Features::AVX512, "avx512"),
        (Features::AVX512VNNI, "avx512vnni"),
        (Features::AVXVNNI, "avxvnni"),
        (Features::NEON, "neon"),
        (Features::DOTPROD, "dotprod"),
        (Features::I8MM, "i8mm"),
    ];

    /// The union of `list`.
    pub const fn of(list: &[Features]) -> Features {
        let (mut bits, mut i) = (0, 0);
        while i < list.len() {
            bits |= list[i].0;
            i += 1;
        }
        Features(bits)
    }

    pub const fn union(self, other: Features) -> Features {
        Features(self.0 | other.0)
    }

    pub const fn intersect(self, other: Features) -> Features {
        Features(self.0 & other.0)
    }

    /// Whether every group of `other` is in `self`.
    pub const fn contains(self, other: Features) -> bool {
        self.0 & other.0 == other.0
    }

    /// What this CPU has (detected once).
    pub fn detect() -> Features {
        static DETECTED: OnceLock<Features> = OnceLock::new();
        *DETECTED.get_or_init(detect_cpu)
    }
}

impl fmt::Debug for Features {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<_> = Features::NAMED
            .iter()
            .filter(|(g, _)| self.contains(*g))
            .map(|(_, n)| *n)
            .collect();
        write!(f, "[{}]", names.join("+"))
    }
}

#[cfg(target_arch = "x86_64")]
fn detect_cpu() -> Features {
    use Features as F;
    let groups = [
        (
            F::AVX2,
            is_x86_feature_detected!("avx2")
                && is_x86_feature_detected!("fma")
                && is_x86_feature_detected!("f16c"),
        ),
        (
            F::AVX512,
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512vl"),
        ),
        (F::AVX512VNNI, is_x86_feature_detected!("avx512vnni")),
        (F::AVXVNNI, is_x86_feature_detected!("avxvnni")),
    ];
    groups
        .into_iter()
        .filter(|g| g.1)
        .fold(F::NONE, |a, g| a.union(g.0))
}

#[cfg(target_arch = "aarch64")]
fn detect_cpu() -> Features {
    let mut f = Features::NEON;
    if std::arch::is_aarch64_feature_detected!("dotprod") {
        f = f.union(Features::DOTPROD);
    }
    if std::arch::is_aarch64_feature_detected!("i8mm") {
        f = f.union(Features::I8MM);
    }
    f
}

#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
fn detect_cpu() -> Features {
    Features::NONE
}

/// Instruction-set tiers, lowest first within each architecture: named feature sets.
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

    /// The features the tier stands for.
    pub const fn needs(self) -> Features {
        use Features as F;
        match self {
            Tier::Scalar => F::NONE,
            Tier::Avx2 => F::AVX2,
            Tier::AvxVnni => F::of(&[F::AVX2, F::AVXVNNI]),
            Tier::Avx512Vnni => F::of(&[F::AVX2, F::AVX512, F::AVX512VNNI]),
            Tier::Neon => F::NEON,
            Tier::Dotprod => F::of(&[F::NEON, F::DOTPROD]),
            Tier::I8mm => F::of(&[F::NEON, F::DOTPROD, F::I8MM]),
        }
    }

    /// The features a cap at this tier leaves: those of every tier up to it.
    pub fn cap(self) -> Features {
        Tier::ALL
            .into_iter()
            .filter(|&t| t <= self)
            .fold(Features::NONE, |f, t| f.union(t.needs()))
    }

    /// The best tier whose features are all in `features`.
    pub fn best_in(features: Features) -> Tier {
        Tier::ALL
            .into_iter()
            .filter(|t| features.contains(t.needs()))
            .max()
            .unwrap_or(Tier::Scalar)
    }

    /// Whether this CPU can run the tier (detected at run time).
    pub fn supported(self) -> bool {
        Features::detect().contains(self.needs())
    }
}

/// A `CAMOE_KERNEL_TIER` value as a tier cap: `None` when unset or blank, an
/// `InvalidArgument` error naming the valid values when it is not a tier.
pub fn parse_tier(value: Option<&str>) -> Result<Option<Tier>, Error> {
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    Tier::from_name(v).map(Some).ok_or_else(|| {
        let names: Vec<_> = Tier::ALL.iter().map(|t| t.name()).collect();
        crate::err!(
            Status::InvalidArgument,
            "CAMOE_KERNEL_TIER={v:?} is not one of {}",
            names.join(", ")
        )
    })
}

/// One kernel: the slot it fills, its name, the features it needs.
pub struct Line {
    pub name: &'static str,
    pub needs: Features,
    pub kernel: Kernel,
}

/// Declares the slots: the [`Kernel`] enum, the [`Kernels`] table and its plug.
macro_rules! slots {
    ($($slot:ident: $ty:ty),* $(,)?) => {
        /// A kernel of one slot.
        #[allow(non_camel_case_types)]
        #[derive(Clone, Copy)]
        pub enum Kernel {
            $($slot($ty)),*
        }

        impl Kernel {
            /// The slot's name, as in [`Kernels::describe`].
            pub fn slot(&self) -> &'static str {
                match self {
                    $(Kernel::$slot(_) => stringify!($slot)),*
                }
            }
        }

        /// Every slot's name, in table order.
        pub const SLOTS: &[&str] = &[$(stringify!($slot)),*];

        /// The kernel table: one entry per slot, with the name of the kernel it holds.
        pub struct Kernels {
            pub tier: Tier,
            $(pub $slot: ($ty, &'static str)),*
        }

        impl Kernels {
            /// The table of the chosen lines for `features` (which the CPU must have).
            fn plug(tier: Tier, features: Features) -> Kernels {
                debug_assert!(Features::detect().contains(features));
                $(let mut $slot = None;)*
                for line in choose(features) {
                    match line.kernel {
                        $(Kernel::$slot(f) => $slot = Some((f, line.name))),*
                    }
                }
                Kernels {
                    tier,
                    $($slot: $slot.expect("every slot has a scalar line")),*
                }
            }

            /// `tier=… slot=kernel …`, e.g. for `camoe_kernel_info`.
            pub fn describe(&self) -> String {
                let mut s = format!("tier={}", self.tier.name());
                $(let _ = write!(s, " {}={}", stringify!($slot), self.$slot.1);)*
                s
            }
        }
    };
}

slots! {
    gemm_i8: GemmI8,
    gemm_f32: GemmF32,
    gemm_f16: GemmF16,
    quantize: QuantizeRows,
    dequantize: Dequantize,
    requantize: Requantize,
    gemm_i8_fused: GemmI8Fused,
    quantize_fixed: QuantizeFixed,
    exp: MapF32,
    sigmoid: MapF32,
    dot_f32: DotF32,
    dot_f16: DotF16,
}

/// Every line of this architecture, worst first within each slot.
fn all_lines() -> impl Iterator<Item = &'static Line> {
    #[cfg(target_arch = "x86_64")]
    let arch = super::x86_64::LINES;
    #[cfg(target_arch = "aarch64")]
    let arch = super::aarch64::LINES;
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let arch: &[Line] = &[];
    generic::LINES.iter().chain(arch)
}

/// Per slot (in [`SLOTS`] order), the last line whose features are all in `features`.
pub(crate) fn choose(features: Features) -> Vec<&'static Line> {
    SLOTS
        .iter()
        .map(|&slot| {
            all_lines()
                .filter(|l| l.kernel.slot() == slot && features.contains(l.needs))
                .last()
                .expect("every slot has a scalar line")
        })
        .collect()
}

/// Every line this CPU can run (for tests and benches that try each kernel).
pub fn available() -> impl Iterator<Item = &'static Line> {
    let f = Features::detect();
    all_lines().filter(move |l| f.contains(l.needs))
}

/// The table of the best tier within `cap` (all detected features when `None`).
fn table(cap: Option<Tier>) -> Kernels {
    let f = Features::detect();
    let f = cap.map_or(f, |c| f.intersect(c.cap()));
    Kernels::plug(Tier::best_in(f), f)
}

/// The process-wide kernel table, chosen on first use: per slot the best line the CPU
/// runs, its features capped by `CAMOE_KERNEL_TIER` when set; an `InvalidArgument` error
/// when that is not a tier. The table's tier is the best whose features are all present;
/// uncapped, slots may hold kernels beyond it (AVX-512 without VNNI: tier avx2, with the
/// AVX-512 float kernels).
pub fn try_kernels() -> Result<&'static Kernels, Error> {
    static K: OnceLock<Result<Kernels, Error>> = OnceLock::new();
    let k = K.get_or_init(|| {
        let env = std::env::var("CAMOE_KERNEL_TIER");
        let value = match &env {
            Ok(v) => Some(v.as_str()),
            Err(std::env::VarError::NotPresent) => None,
            Err(std::env::VarError::NotUnicode(_)) => Some("<not UTF-8>"),
        };
        Ok(table(parse_tier(value)?))
    });
    k.as_ref().map_err(Clone::clone)
}

/// [`try_kernels`], panicking on a bad `CAMOE_KERNEL_TIER`.
pub fn kernels() -> &'static Kernels {
    try_kernels().unwrap_or_else(|e| panic!("{e}"))
}

/// The table of one tier, if this CPU supports it (for tests and benches that compare
/// tiers in one process).
pub fn kernels_for(tier: Tier) -> Option<&'static Kernels> {
    static TABLES: [OnceLock<Kernels>; 7] = [const { OnceLock::new() }; 7];
    let i = Tier::ALL.iter().position(|&t| t == tier)?;
    tier.supported()
        .then(|| TABLES[i].get_or_init(|| table(Some(tier))))
}

/// Declares a kernel file's lines: `pub(crate) const LINES: &[Line]`. Each line is
/// `slot "name" => body;` for a scalar kernel, or `slot "name" needs [GROUP, …] enable
/// "target features" => body;` for a SIMD one, whose body (an `unsafe fn` that checks its
/// buffer sizes, or a safe `inline(always)` one) is compiled in a `#[target_feature]`
/// wrapper and reached through a safe function that the plug installs, and
/// [`available`] hands out, only on a CPU with every group of `needs`. The enabled target
/// features must be among those groups'.
macro_rules! lines {
    ($($slot:ident $name:literal $(needs [$($f:ident),+] enable $tf:literal)? => $body:path;)*) => {
        pub(crate) const LINES: &[$crate::kernels::Line] = &[$({
            $crate::kernels::registry::wrap!($slot $($tf)? => $body);
            $crate::kernels::Line {
                name: $name,
                needs: $crate::kernels::Features::of(&[$($($crate::kernels::Features::$f),+)?]),
                kernel: $crate::kernels::Kernel::$slot(kernel),
            }
        }),*];
    };
}
pub(crate) use lines;

/// Defines `fn kernel` for one line: the slot's parameters and result (one arm per slot),
/// then the body in its `#[target_feature]` wrapper.
macro_rules! wrap {
    (gemm_i8 $($l:tt)*) => { $crate::kernels::registry::wrap!(@
        (w: &PackedI8, x: RowView<'_, i8>, acc: &mut [i32], acc_stride: usize) -> (); $($l)*); };
    (gemm_f32 $($l:tt)*) => { $crate::kernels::registry::wrap!(@float PackedF32; $($l)*); };
    (gemm_f16 $($l:tt)*) => { $crate::kernels::registry::wrap!(@float PackedF16; $($l)*); };
    (@float $w:ident; $($l:tt)*) => { $crate::kernels::registry::wrap!(@
        (w: &$w, x: RowView<'_, f32>, init: &[f32], out: &mut [f32], out_stride: usize) -> ();
        $($l)*); };
    (quantize $($l:tt)*) => { $crate::kernels::registry::wrap!(@
        (x: RowView<'_, f32>, cols: usize, q: &mut [i8], q_stride: usize, scales: &mut [f32])
        -> (); $($l)*); };
    (dequantize $($l:tt)*) => { $crate::kernels::registry::wrap!(@
        (y: Scaled<'_>, relu: bool, out: &mut [f32]) -> (); $($l)*); };
    (requantize $($l:tt)*) => { $crate::kernels::registry::wrap!(@
        (y: Scaled<'_>, finish: Finish<'_>, out: &mut [f32], q: Option<(&mut [i8], &mut [f32])>)
        -> (); $($l)*); };
    (gemm_i8_fused $($l:tt)*) => { $crate::kernels::registry::wrap!(@
        (w: &PackedI8, x: RowView<'_, i8>, e: Fused<'_>, out: FusedOut<'_>) -> (); $($l)*); };
    (quantize_fixed $($l:tt)*) => { $crate::kernels::registry::wrap!(@
        (x: RowView<'_, f32>, cols: usize, q: &mut [i8], q_stride: usize, scale: f32)
        -> (); $($l)*); };
    (exp $($l:tt)*) => { $crate::kernels::registry::wrap!(@map $($l)*); };
    (sigmoid $($l:tt)*) => { $crate::kernels::registry::wrap!(@map $($l)*); };
    (@map $($l:tt)*) => { $crate::kernels::registry::wrap!(@ (v: &mut [f32]) -> (); $($l)*); };
    (dot_f32 $($l:tt)*) => { $crate::kernels::registry::wrap!(@dot f32; $($l)*); };
    (dot_f16 $($l:tt)*) => { $crate::kernels::registry::wrap!(@dot u16; $($l)*); };
    (@dot $w:ty; $($l:tt)*) => { $crate::kernels::registry::wrap!(@
        (a: &[$w], b: &[f32]) -> f32; $($l)*); };
    (@ ($($p:ident: $t:ty),*) -> $r:ty; => $body:path) => {
        #[allow(unused_imports)]
        use $crate::kernels::{
            Finish, Fused, FusedOut, PackedF16, PackedF32, PackedI8, RowView, Scaled,
        };
        fn kernel($($p: $t),*) -> $r {
            $body($($p),*)
        }
    };
    (@ ($($p:ident: $t:ty),*) -> $r:ty; $tf:literal => $body:path) => {
        #[allow(unused_imports)]
        use $crate::kernels::{
            Finish, Fused, FusedOut, PackedF16, PackedF32, PackedI8, RowView, Scaled,
        };
        fn kernel($($p: $t),*) -> $r {
            #[target_feature(enable = $tf)]
            #[allow(unused_unsafe)]
            unsafe fn imp($($p: $t),*) -> $r {
                // SAFETY: the CPU has the features (see below); the body checks sizes.
                unsafe { $body($($p),*) }
            }
            // SAFETY: the plug installs this line, and `available` hands it out, only on
            // a CPU with all the groups it needs, which include every feature enabled.
            unsafe { imp($($p),*) }
        }
    };
}
pub(crate) use wrap;

#[cfg(test)]
mod tests {
    use super::*;
    use Features as F;

    /// Per slot, the name of the kernel plugged for `features`.
    fn plan(features: Features) -> Vec<(&'static str, &'static str)> {
        SLOTS
            .iter()
            .zip(choose(features))
            .map(|(&s, l)| (s, l.name))
            .collect()
    }

    fn slot(features: Features, slot: &str) -> &'static str {
        plan(features).into_iter().find(|p| p.0 == slot).unwrap().1
    }

    #[test]
    fn no_line_is_plugged_without_its_features() {
        for bits in 0..1u16 << Features::NAMED.len() {
            let f = Features(bits);
            let chosen = choose(f);
            assert_eq!(chosen.len(), SLOTS.len());
            for (line, &s) in chosen.iter().zip(SLOTS) {
                assert!(f.contains(line.needs), "{} in {f:?}", line.name);
                assert_eq!(line.kernel.slot(), s);
                // The best: no later line of the slot fits too.
                let fits: Vec<_> = all_lines()
                    .filter(|l| l.kernel.slot() == s && f.contains(l.needs))
                    .collect();
                assert!(core::ptr::eq(*fits.last().unwrap(), *line));
            }
        }
        assert!(plan(F::NONE).iter().all(|p| p.1.starts_with("generic_")));
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn x86_plugging_follows_features() {
        // Skylake-X: AVX-512 F/BW/VL without VNNI: AVX-512 float kernels, AVX2 int8 GEMM.
        let skx = F::of(&[F::AVX2, F::AVX512]);
        assert_eq!(slot(skx, "gemm_i8"), "x86_64_avx2_gemm_i8_3x16");
        assert_eq!(slot(skx, "gemm_f32"), "x86_64_avx512_gemm_f32_6x64");
        assert_eq!(slot(skx, "quantize"), "x86_64_avx512_quantize_rows");
        assert_eq!(slot(skx, "requantize"), "x86_64_avx512_requantize_16");
        assert_eq!(Tier::best_in(skx), Tier::Avx2);
        // AVX2 only.
        let avx2 = plan(F::AVX2);
        assert!(avx2
            .iter()
            .all(|p| p.1.contains("avx2") || p.1.contains("fma") || p.1.contains("f16c")));
        // AVX-VNNI without AVX-512 (Alder Lake): the ymm VNNI GEMM, AVX2 elsewhere.
        let adl = F::of(&[F::AVX2, F::AVXVNNI]);
        assert_eq!(slot(adl, "gemm_i8"), "x86_64_avxvnni_gemm_i8_4x16");
        assert_eq!(slot(adl, "gemm_f32"), "x86_64_fma_gemm_f32_4x24");
        assert_eq!(Tier::best_in(adl), Tier::AvxVnni);
        // Both VNNI flavours (Sapphire Rapids): the zmm one.
        let spr = F::of(&[F::AVX2, F::AVX512, F::AVX512VNNI, F::AVXVNNI]);
        assert_eq!(slot(spr, "gemm_i8"), "x86_64_avx512vnni_gemm_i8_6x64");
        assert_eq!(Tier::best_in(spr), Tier::Avx512Vnni);
        // A cap masks features: avxvnni on that CPU drops AVX-512 entirely.
        let capped = spr.intersect(Tier::AvxVnni.cap());
        assert_eq!(capped, adl);
        assert_eq!(plan(capped), plan(adl));
        assert_eq!(spr.intersect(Tier::Scalar.cap()), F::NONE);
    }

    #[cfg(target_arch = "aarch64")]
    #[test]
    fn aarch64_plugging_follows_features() {
        assert_eq!(slot(F::NEON, "gemm_i8"), "aarch64_neon_gemm_i8_4x8");
        let dot = F::of(&[F::NEON, F::DOTPROD]);
        assert_eq!(slot(dot, "gemm_i8"), "aarch64_dotprod_gemm_i8_4x16");
        assert_eq!(
            slot(dot.union(F::I8MM), "gemm_i8"),
            "aarch64_i8mm_gemm_i8_8x8"
        );
        assert_eq!(Tier::best_in(dot), Tier::Dotprod);
    }

    #[test]
    fn tier_names_parse_and_misspellings_are_errors() {
        assert_eq!(parse_tier(None).unwrap(), None);
        assert_eq!(parse_tier(Some(" ")).unwrap(), None);
        for t in Tier::ALL {
            assert_eq!(parse_tier(Some(t.name())).unwrap(), Some(t));
        }
        let e = parse_tier(Some("avx3")).unwrap_err();
        assert_eq!(e.status(), Status::InvalidArgument);
        assert_eq!(
            e.message(),
            "CAMOE_KERNEL_TIER=\"avx3\" is not one of scalar, avx2, avxvnni, avx512vnni, \
             neon, dotprod, i8mm"
        );
    }

    #[test]
    fn describe_lists_every_slot_in_order() {
        let d = kernels_for(Tier::Scalar).unwrap().describe();
        let words: Vec<_> = d.split(' ').collect();
        assert_eq!(words[0], "tier=scalar");
        for (w, s) in words[1..].iter().zip(SLOTS) {
            assert!(w.starts_with(&format!("{s}=generic_")), "{d}");
        }
        assert_eq!(words.len(), SLOTS.len() + 1);
    }
}
