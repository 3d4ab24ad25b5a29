//! The x86_64 kernels' lines: AVX2 (with FMA and F16C), AVX-VNNI, AVX-512 (F/BW/VL) and
//! AVX-512 VNNI, each needing only the feature groups its instructions use, so that a
//! CPU with AVX-512 but no VNNI gets the AVX-512 float kernels and the AVX2 int8 GEMM.

mod float;
mod gemm;

use core::arch::x86_64::{__m256i, __m512i};

use super::registry::lines;
use super::{generic, simd, tiled, tiled_f32};
use float::{Fma256, Fma512};
use gemm::{Avx2, Vnni};

// Worst first within each slot: the plug keeps the last line that fits. exp, sigmoid and
// dequantize are the generic bodies compiled with the line's features (the compiler
// vectorizes them; the same IEEE operations lane by lane, so the same bits).
lines! {
    gemm_i8 "x86_64_avx2_gemm_i8_3x16" needs [AVX2] enable "avx2,fma,f16c"
        => tiled::gemm_i8::<Avx2, 3, 2>;
    gemm_f32 "x86_64_fma_gemm_f32_4x24" needs [AVX2] enable "avx2,fma"
        => tiled_f32::gemm::<Fma256, f32, 4, 3>;
    gemm_f16 "x86_64_f16c_gemm_f16_4x24" needs [AVX2] enable "avx2,fma,f16c"
        => tiled_f32::gemm::<Fma256, u16, 4, 3>;
    dot_f32 "x86_64_fma_dot_f32_32" needs [AVX2] enable "avx2,fma" => simd::dot::<Fma256, f32>;
    dot_f16 "x86_64_f16c_dot_f16_32" needs [AVX2] enable "avx2,fma,f16c"
        => simd::dot::<Fma256, u16>;
    quantize "x86_64_avx2_quantize_rows" needs [AVX2] enable "avx2,fma,f16c"
        => simd::quantize_rows::<Fma256>;
    dequantize "x86_64_avx2_dequantize" needs [AVX2] enable "avx2,fma,f16c"
        => generic::dequantize;
    requantize "x86_64_avx2_requantize" needs [AVX2] enable "avx2,fma,f16c"
        => simd::requantize::<Fma256>;
    gemm_i8_fused "x86_64_avx2_gemm_i8_fused_3x16" needs [AVX2] enable "avx2,fma,f16c"
        => tiled::gemm_i8_fused::<Avx2, 3, 2>;
    quantize_fixed "x86_64_avx2_quantize_fixed" needs [AVX2] enable "avx2,fma,f16c"
        => simd::quantize_fixed::<Fma256>;
    exp "x86_64_avx2_exp_8" needs [AVX2] enable "avx2,fma" => generic::exp;
    sigmoid "x86_64_avx2_sigmoid_8" needs [AVX2] enable "avx2,fma" => generic::sigmoid;
    gemm_i8 "x86_64_avxvnni_gemm_i8_4x16" needs [AVX2, AVXVNNI] enable "avx2,fma,f16c,avxvnni"
        => tiled::gemm_i8::<Vnni<__m256i>, 4, 2>;
    gemm_i8_fused "x86_64_avxvnni_gemm_i8_fused_4x16" needs [AVX2, AVXVNNI]
        enable "avx2,fma,f16c,avxvnni" => tiled::gemm_i8_fused::<Vnni<__m256i>, 4, 2>;
    gemm_f32 "x86_64_avx512_gemm_f32_6x64" needs [AVX2, AVX512] enable "avx2,fma,avx512f,avx512bw"
        => tiled_f32::gemm::<Fma512, f32, 6, 4>;
    gemm_f16 "x86_64_avx512_gemm_f16_6x64" needs [AVX2, AVX512] enable "avx2,fma,avx512f,avx512bw"
        => tiled_f32::gemm::<Fma512, u16, 6, 4>;
    dot_f32 "x86_64_avx512_dot_f32_64" needs [AVX2, AVX512] enable "avx2,fma,avx512f,avx512bw"
        => simd::dot::<Fma512, f32>;
    quantize "x86_64_avx512_quantize_rows" needs [AVX2, AVX512]
        enable "avx2,fma,f16c,avx512f,avx512bw,avx512vl" => simd::quantize_rows::<Fma512>;
    dequantize "x86_64_avx512_dequantize" needs [AVX2, AVX512]
        enable "avx2,fma,f16c,avx512f,avx512bw,avx512vl" => generic::dequantize;
    requantize "x86_64_avx512_requantize_16" needs [AVX2, AVX512]
        enable "avx2,fma,f16c,avx512f,avx512bw,avx512vl" => simd::requantize::<Fma512>;
    quantize_fixed "x86_64_avx512_quantize_fixed" needs [AVX2, AVX512]
        enable "avx2,fma,f16c,avx512f,avx512bw,avx512vl" => simd::quantize_fixed::<Fma512>;
    exp "x86_64_avx512_exp_16" needs [AVX512] enable "avx512f,avx512bw,avx512vl" => generic::exp;
    sigmoid "x86_64_avx512_sigmoid_16" needs [AVX512] enable "avx512f,avx512bw,avx512vl"
        => generic::sigmoid;
    gemm_i8 "x86_64_avx512vnni_gemm_i8_6x64" needs [AVX2, AVX512, AVX512VNNI]
        enable "avx2,fma,f16c,avx512f,avx512bw,avx512vnni" => tiled::gemm_i8::<Vnni<__m512i>, 6, 4>;
    gemm_i8_fused "x86_64_avx512vnni_gemm_i8_fused_6x64" needs [AVX2, AVX512, AVX512VNNI]
        enable "avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni"
        => tiled::gemm_i8_fused::<Vnni<__m512i>, 6, 4>;
}
