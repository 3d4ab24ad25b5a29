//! The x86_64 kernels' lines: AVX2 (with FMA and F16C), AVX-VNNI, AVX-512 (F/BW/VL) and
//! AVX-512 VNNI, each needing only the feature groups its instructions use, so that a
//! CPU with AVX-512 but no VNNI gets the AVX-512 float kernels and the AVX2 int8 GEMM.

mod dot;
mod epilogue;
mod gemm;
mod quantize;

use super::registry::lines;
use super::{generic, tiled, tiled_f32};
use gemm::{Avx2, Avx512Vnni, AvxVnni, Fma256, Fma512};

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
    dot_f32 "x86_64_fma_dot_f32_32" needs [AVX2] enable "avx2,fma" => dot::dot_f32_avx2;
    dot_f16 "x86_64_f16c_dot_f16_16" needs [AVX2] enable "avx2,fma,f16c" => dot::dot_f16_avx2;
    quantize "x86_64_avx2_quantize_rows" needs [AVX2] enable "avx2,fma,f16c"
        => quantize::rows_avx2;
    dequantize "x86_64_avx2_dequantize" needs [AVX2] enable "avx2,fma,f16c"
        => generic::dequantize;
    requantize "x86_64_avx2_requantize" needs [AVX2] enable "avx2,fma,f16c"
        => epilogue::requantize_avx2;
    exp "x86_64_avx2_exp_8" needs [AVX2] enable "avx2,fma" => generic::exp;
    sigmoid "x86_64_avx2_sigmoid_8" needs [AVX2] enable "avx2,fma" => generic::sigmoid;
    gemm_i8 "x86_64_avxvnni_gemm_i8_4x16" needs [AVX2, AVXVNNI] enable "avx2,fma,f16c,avxvnni"
        => tiled::gemm_i8::<AvxVnni, 4, 2>;
    gemm_f32 "x86_64_avx512_gemm_f32_6x64" needs [AVX2, AVX512] enable "avx2,fma,avx512f"
        => tiled_f32::gemm::<Fma512, f32, 6, 4>;
    gemm_f16 "x86_64_avx512_gemm_f16_6x64" needs [AVX2, AVX512] enable "avx2,fma,avx512f"
        => tiled_f32::gemm::<Fma512, u16, 6, 4>;
    dot_f32 "x86_64_avx512_dot_f32_64" needs [AVX512] enable "avx512f" => dot::dot_f32_avx512;
    quantize "x86_64_avx512_quantize_rows" needs [AVX2, AVX512]
        enable "avx2,fma,f16c,avx512f,avx512bw,avx512vl" => quantize::rows_avx512;
    dequantize "x86_64_avx512_dequantize" needs [AVX2, AVX512]
        enable "avx2,fma,f16c,avx512f,avx512bw,avx512vl" => generic::dequantize;
    requantize "x86_64_avx512_requantize_16" needs [AVX2, AVX512]
        enable "avx2,fma,f16c,avx512f,avx512bw,avx512vl" => epilogue::requantize_avx512;
    exp "x86_64_avx512_exp_16" needs [AVX512] enable "avx512f,avx512bw,avx512vl" => generic::exp;
    sigmoid "x86_64_avx512_sigmoid_16" needs [AVX512] enable "avx512f,avx512bw,avx512vl"
        => generic::sigmoid;
    gemm_i8 "x86_64_avx512vnni_gemm_i8_6x64" needs [AVX2, AVX512, AVX512VNNI]
        enable "avx2,fma,f16c,avx512f,avx512bw,avx512vnni" => tiled::gemm_i8::<Avx512Vnni, 6, 4>;
}
