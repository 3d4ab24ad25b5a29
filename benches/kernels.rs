//! Criterion: every int8 GEMM line of the kernel registry this CPU runs, on the demo
//! model's expert-layer shapes at B = 200 and 1000 rows, next to the core's int8 peak
//! measured by a loop of independent VNNI (or AVX2 maddubs) instructions. Throughput is
//! in MAC/s ("elem/s"); efficiency = kernel MAC/s ÷ peak MAC/s of the same ISA, same run.
//!
//! `cargo bench --bench kernels`

use std::hint::black_box;

use camoe::hash::SplitMix;
use camoe::kernels::{available, Finish, Kernel, PackedI8, RowView, Scaled, Tier};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

/// (name, inputs, outputs): the demo model's cross layer, first and second MLP layers.
const SHAPES: [(&str, usize, usize); 3] = [
    ("cross_94x94", 94, 94),
    ("mlp1_94x128", 94, 128),
    ("mlp2_128x64", 128, 64),
];

#[cfg(target_arch = "x86_64")]
mod peak {
    use core::arch::x86_64::*;

    /// `iters` × 12 independent vpdpbusd (zmm): 64 int8 MACs each.
    #[target_feature(enable = "avx512f,avx512vnni")]
    pub unsafe fn vnni512(iters: usize) -> i32 {
        let x = _mm512_set1_epi8(3);
        let w = _mm512_set1_epi8(5);
        let mut a = [_mm512_setzero_si512(); 12];
        for _ in 0..iters {
            for v in a.iter_mut() {
                *v = _mm512_dpbusd_epi32(*v, x, w);
            }
        }
        let mut s = _mm512_setzero_si512();
        for v in a {
            s = _mm512_add_epi32(s, v);
        }
        _mm512_reduce_add_epi32(s)
    }

    /// `iters` × 12 independent maddubs+madd+add chains (ymm): 32 int8 MACs each. Each
    /// chain feeds its accumulator back as the signed operand so nothing is hoisted.
    #[target_feature(enable = "avx2")]
    pub unsafe fn avx2(iters: usize) -> i32 {
        let x = _mm256_set1_epi8(3);
        let w = _mm256_set1_epi8(5);
        let one = _mm256_set1_epi16(1);
        let mut a = [_mm256_setzero_si256(); 12];
        for _ in 0..iters {
            for v in a.iter_mut() {
                *v = _mm256_add_epi32(w, _mm256_madd_epi16(_mm256_maddubs_epi16(x, *v), one));
            }
        }
        let mut s = _mm256_setzero_si256();
        for v in a {
            s = _mm256_add_epi32(s, v);
        }
        _mm256_extract_epi32(s, 0)
    }
}

fn bench(c: &mut Criterion) {
    #[cfg(target_arch = "x86_64")]
    {
        let mut g = c.benchmark_group("int8_peak");
        let iters = 10_000;
        if Tier::Avx512Vnni.supported() {
            g.throughput(Throughput::Elements((iters * 12 * 64) as u64));
            // SAFETY: avx512vnni was detected.
            g.bench_function("avx512vnni_vpdpbusd_zmm", |b| {
                b.iter(|| unsafe { peak::vnni512(black_box(iters)) })
            });
        }
        if Tier::Avx2.supported() {
            g.throughput(Throughput::Elements((iters * 12 * 32) as u64));
            // SAFETY: avx2 was detected.
            g.bench_function("avx2_maddubs_ymm", |b| {
                b.iter(|| unsafe { peak::avx2(black_box(iters)) })
            });
        }
        g.finish();
    }

    let mut rng = SplitMix(3);
    let mut g = c.benchmark_group("gemm_i8");
    for (name, inputs, out) in SHAPES {
        let w: Vec<i8> = (0..inputs * out)
            .map(|_| (rng.below(255) as i32 - 127) as i8)
            .collect();
        let p = PackedI8::pack(&w, inputs, out, 0, inputs);
        for rows in [200usize, 1000] {
            let x: Vec<i8> = (0..rows * p.k4)
                .map(|_| (rng.below(255) as i32 - 127) as i8)
                .collect();
            let mut acc = vec![0i32; rows * p.out_pad];
            g.throughput(Throughput::Elements((rows * inputs * out) as u64));
            for line in available() {
                let Kernel::gemm_i8(gemm) = line.kernel else {
                    continue;
                };
                g.bench_with_input(
                    BenchmarkId::new(format!("{name}/{}", line.name), rows),
                    &rows,
                    |b, &rows| {
                        b.iter(|| {
                            gemm(
                                &p,
                                RowView::new(black_box(&x), p.k4, rows),
                                &mut acc,
                                p.out_pad,
                            )
                        })
                    },
                );
            }
        }
    }
    g.finish();

    // The fused epilogue between two int8 layers, on one chunk of rows (forward::CHUNK):
    // values per second ("elem/s").
    let mut g = c.benchmark_group("requantize");
    let rows = 48;
    for (name, n, quantized) in [
        ("cross_96", 96, true),
        ("relu_128", 128, true),
        ("relu_64_f32_only", 64, false),
    ] {
        let acc: Vec<i32> = (0..rows * n)
            .map(|_| rng.below(200_001) as i32 - 100_000)
            .collect();
        let vec = |len: usize, rng: &mut SplitMix| -> Vec<f32> {
            (0..len).map(|_| rng.normal() * 1e-2).collect()
        };
        let (ws, xs, init) = (vec(n, &mut rng), vec(rows, &mut rng), vec(n, &mut rng));
        let (x0, x) = (vec(rows * n, &mut rng), vec(rows * n, &mut rng));
        let finish = if name.starts_with("cross") {
            Finish::Cross { x0: &x0, x: &x }
        } else {
            Finish::Relu
        };
        let (mut out, mut q, mut sc) = (vec![0.0; rows * n], vec![0i8; rows * n], vec![0.0; rows]);
        g.throughput(Throughput::Elements((rows * n) as u64));
        for line in available() {
            let Kernel::requantize(requantize) = line.kernel else {
                continue;
            };
            g.bench_function(format!("{name}/{}", line.name), |b| {
                b.iter(|| {
                    let qa = quantized.then(|| (&mut q[..], &mut sc[..]));
                    let y = Scaled {
                        acc: RowView::new(black_box(&acc), n, rows),
                        cols: n,
                        w_scale: &ws,
                        x_scale: &xs,
                        init: &init,
                    };
                    requantize(y, finish, &mut out, qa)
                })
            });
        }
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
