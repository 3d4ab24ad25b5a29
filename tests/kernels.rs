//! Every kernel line of the registry this CPU runs against the scalar reference, on random
//! shapes with tile-sized, smaller, larger and zero lengths; and whole rankings per tier
//! against the scalar tier (int8: bit-identical; float: within rounding).

mod common;

use camoe::hash::SplitMix;
use camoe::kernels::{
    available, generic, kernels, kernels_for, Finish, Fused, FusedFinish, FusedOut, Kernel,
    Kernels, PackedF16, PackedF32, PackedI8, Residual, RowView, Scaled, Tier,
};
use camoe::spec::{ModelSpec, Side};
use camoe::{write_model, Model, ModelConfig, RankOptions, Session, WriteOptions};
use common::*;

/// Every line of one slot this CPU runs (scalar first), as (kernel, name).
macro_rules! lines_of {
    ($slot:ident) => {
        available()
            .filter_map(|l| match l.kernel {
                Kernel::$slot(f) => Some((f, l.name)),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
}

/// Checks that a test ran `per_line` cases on each line it took (`names`), and that those
/// include every supported tier's choice for each of its slots.
fn ran(names: &[&str], cases: usize, per_line: usize, slots: &[fn(&Kernels) -> &'static str]) {
    assert_eq!(cases, names.len() * per_line);
    for tier in tiers() {
        for slot in slots {
            let name = slot(kernels_for(tier).unwrap());
            assert!(names.contains(&name), "{}: {name} untested", tier.name());
        }
    }
}

fn tiers() -> Vec<Tier> {
    let t: Vec<Tier> = Tier::ALL.into_iter().filter(|t| t.supported()).collect();
    for u in Tier::ALL {
        if !u.supported() {
            eprintln!("SKIPPED tier {} (this CPU lacks it)", u.name());
        }
    }
    t
}

/// Lengths around the kernels' tiles: 0, 1, 3, 4, 5, 15, 16, 17, 31..33, 63..65, 100, 130.
const LENGTHS: [usize; 16] = [0, 1, 3, 4, 5, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 130];

#[test]
fn gemm_i8_matches_scalar_on_every_tier() {
    let mut rng = SplitMix(1);
    let mut cases = 0;
    let gemms = lines_of!(gemm_i8);
    for &(gemm, name) in &gemms {
        for &kdim in &LENGTHS {
            for &out in &[1usize, 7, 16, 17, 33, 64, 65, 100] {
                for &rows in &[0usize, 1, 3, 4, 5, 9] {
                    let inputs = kdim + 3;
                    let col0 = 2.min(inputs - kdim);
                    // Extremes included: ±127 and -128 never appear in weights (clamped).
                    let w: Vec<i8> = (0..out * inputs)
                        .map(|_| (rng.below(255) as i32 - 127) as i8)
                        .collect();
                    let p = PackedI8::pack(&w, inputs, out, col0, kdim);
                    let xs = p.k4 + 4;
                    let mut x = vec![0i8; rows.max(1) * xs];
                    for r in 0..rows {
                        for c in 0..kdim {
                            x[r * xs + c] = (rng.below(255) as i32 - 127) as i8;
                        }
                    }
                    let accs = p.out_pad + 16;
                    let mut want = vec![7i32; rows.max(1) * accs];
                    let mut got = want.clone();
                    let xv = RowView::new(&x, xs, rows);
                    generic::gemm_i8(&p, xv, &mut want, accs);
                    gemm(&p, xv, &mut got, accs);
                    for r in 0..rows {
                        assert_eq!(
                            &got[r * accs..r * accs + p.out_pad],
                            &want[r * accs..r * accs + p.out_pad],
                            "{name} k={kdim} out={out} rows={rows}"
                        );
                        // The definition, straight from the unpacked matrix.
                        for o in 0..out {
                            let d: i32 = (0..kdim)
                                .map(|c| w[o * inputs + col0 + c] as i32 * x[r * xs + c] as i32)
                                .sum();
                            assert_eq!(want[r * accs + o], d);
                        }
                    }
                    // Nothing written past out_pad in a row.
                    for r in 0..rows {
                        assert!(got[r * accs + p.out_pad..(r + 1) * accs]
                            .iter()
                            .all(|&v| v == 7));
                    }
                    cases += 1;
                }
            }
        }
    }
    let names: Vec<_> = gemms.iter().map(|g| g.1).collect();
    ran(&names, cases, LENGTHS.len() * 8 * 6, &[|k| k.gemm_i8.1]);
}

/// The static int8 layer (`gemm_i8_fused`: GEMM with the epilogue in registers) of every
/// tier against the scalar reference, bit for bit: every input length in LENGTHS, outputs
/// around the 16-wide vectors, rows around the tile heights, each finish (linear, ReLU,
/// cross with an f32 or an int8 residual) into int8 (with values that clamp at ±127) or
/// f32 rows, strided; nothing is written past `out_pad` in a row. The reference is checked
/// against the definition from the unpacked matrix.
#[test]
fn gemm_i8_fused_matches_scalar_on_every_tier() {
    let mut rng = SplitMix(11);
    let mut cases = 0;
    let fused = lines_of!(gemm_i8_fused);
    const OUTS: [usize; 6] = [1, 16, 17, 33, 65, 100];
    const ROWS: [usize; 6] = [0, 1, 3, 4, 7, 13];
    for &(gemm, name) in &fused {
        for &kdim in &LENGTHS {
            for &out in &OUTS {
                for &rows in &ROWS {
                    let inputs = kdim + 2;
                    let col0 = 1.min(inputs - kdim);
                    let w: Vec<i8> = (0..out * inputs)
                        .map(|_| (rng.below(255) as i32 - 127) as i8)
                        .collect();
                    let p = PackedI8::pack(&w, inputs, out, col0, kdim);
                    let n = p.out_pad;
                    let xs = p.k4 + 4;
                    let mut x = vec![0i8; rows.max(1) * xs];
                    for r in 0..rows {
                        for c in 0..kdim {
                            x[r * xs + c] = (rng.below(255) as i32 - 127) as i8;
                        }
                    }
                    // Zero in the padding outputs, as the model's padded vectors are.
                    let real = |o: usize, v: f32| if o < out { v } else { 0.0 };
                    let scale: Vec<f32> = (0..n)
                        .map(|o| real(o, rng.normal().abs() * 1e-4 + 1e-6))
                        .collect();
                    let init: Vec<f32> = (0..n).map(|o| real(o, rng.normal() * 0.1)).collect();
                    let st = n + 16;
                    let x0: Vec<f32> = (0..rows.max(1) * st)
                        .map(|i| real(i % st, rng.normal()))
                        .collect();
                    let xf: Vec<f32> = (0..rows.max(1) * st)
                        .map(|i| real(i % st, rng.normal()))
                        .collect();
                    let xq: Vec<i8> = (0..rows.max(1) * st)
                        .map(|i| {
                            if i % st < out {
                                (rng.below(255) as i32 - 127) as i8
                            } else {
                                0
                            }
                        })
                        .collect();
                    let finishes = [
                        FusedFinish::Linear,
                        FusedFinish::Relu,
                        FusedFinish::Cross {
                            x0: RowView::new(&x0, st, rows),
                            x: Residual::F32(RowView::new(&xf, st, rows)),
                        },
                        FusedFinish::Cross {
                            x0: RowView::new(&x0, st, rows),
                            x: Residual::I8(RowView::new(&xq, st, rows), 0.013),
                        },
                    ];
                    // The output scale: about a third of the values clamp at ±127.
                    let out_scale = 0.004 * (kdim.max(1) as f32).sqrt() * 1e-2 + 1e-4;
                    for finish in finishes {
                        let e = Fused {
                            scale: &scale,
                            init: &init,
                            finish,
                        };
                        let xv = RowView::new(&x, xs, rows);
                        let run_i8 = |f: camoe::kernels::GemmI8Fused| {
                            let mut q = vec![99i8; rows.max(1) * st];
                            f(
                                &p,
                                xv,
                                e,
                                FusedOut::I8 {
                                    q: &mut q,
                                    stride: st,
                                    scale: out_scale,
                                },
                            );
                            q
                        };
                        let run_f32 = |f: camoe::kernels::GemmI8Fused| {
                            let mut y = vec![f32::NAN; rows.max(1) * st];
                            f(
                                &p,
                                xv,
                                e,
                                FusedOut::F32 {
                                    y: &mut y,
                                    stride: st,
                                },
                            );
                            y
                        };
                        let what = format!("{name} k={kdim} out={out} rows={rows}");
                        let (want_q, got_q) = (run_i8(generic::gemm_i8_fused), run_i8(gemm));
                        assert_eq!(got_q, want_q, "{what} int8");
                        let (want_y, got_y) = (run_f32(generic::gemm_i8_fused), run_f32(gemm));
                        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                        assert_eq!(bits(&got_y), bits(&want_y), "{what} f32");
                        // Both at once: the same bytes and values.
                        let mut q = vec![99i8; rows.max(1) * st];
                        let mut y = vec![f32::NAN; rows.max(1) * st];
                        let both = FusedOut::Both {
                            q: &mut q,
                            y: &mut y,
                            stride: st,
                            scale: out_scale,
                        };
                        gemm(&p, xv, e, both);
                        assert_eq!(q, want_q, "{what} both");
                        assert_eq!(bits(&y), bits(&want_y), "{what} both");
                        for r in 0..rows {
                            // Untouched past out_pad; padding outputs are zero.
                            assert!(want_q[r * st + n..(r + 1) * st].iter().all(|&v| v == 99));
                            assert!(want_q[r * st + out..r * st + n].iter().all(|&v| v == 0));
                            assert!(want_y[r * st + n..(r + 1) * st].iter().all(|v| v.is_nan()));
                            // The definition: the exact sum, scaled, offset, finished.
                            for o in 0..out {
                                let d: i32 = (0..kdim)
                                    .map(|c| w[o * inputs + col0 + c] as i32 * x[r * xs + c] as i32)
                                    .sum();
                                let y = init[o] + d as f32 * scale[o];
                                let y = match finish {
                                    FusedFinish::Linear => y,
                                    FusedFinish::Relu => camoe::kernels::relu(y),
                                    FusedFinish::Cross {
                                        x: Residual::F32(_),
                                        ..
                                    } => x0[r * st + o] * y + xf[r * st + o],
                                    FusedFinish::Cross { .. } => {
                                        x0[r * st + o] * y + xq[r * st + o] as f32 * 0.013
                                    }
                                };
                                assert_eq!(want_y[r * st + o].to_bits(), y.to_bits(), "{what}");
                                let mut q = [0i8];
                                camoe::quant::quantize_activations(&[y], out_scale, &mut q);
                                assert_eq!(want_q[r * st + o], q[0], "{what}");
                            }
                        }
                        cases += 1;
                    }
                }
            }
        }
    }
    let names: Vec<_> = fused.iter().map(|g| g.1).collect();
    ran(
        &names,
        cases,
        LENGTHS.len() * OUTS.len() * ROWS.len() * 4,
        &[|k| k.gemm_i8_fused.1],
    );
}

/// The fixed-scale quantizer of every tier against the scalar reference: every length in
/// LENGTHS, rows 0..=5, a strided input, NaN, ±inf and clamped values, zeros after `cols`.
#[test]
fn quantize_fixed_matches_scalar_on_every_tier() {
    let mut rng = SplitMix(12);
    let mut cases = 0;
    let lines = lines_of!(quantize_fixed);
    for &(quantize, name) in &lines {
        for &cols in &LENGTHS {
            for rows in 0..=5usize {
                let stride = cols + 3;
                let mut x: Vec<f32> = (0..rows.max(1) * stride)
                    .map(|_| rng.normal() * 3.0)
                    .collect();
                if cols > 3 && rows > 1 {
                    x[stride] = f32::NAN;
                    x[stride + 1] = f32::INFINITY;
                    x[stride + 2] = f32::NEG_INFINITY;
                }
                let qs = cols.div_ceil(4) * 4 + 4;
                let run = |f: camoe::kernels::QuantizeFixed| {
                    let mut q = vec![55i8; rows.max(1) * qs];
                    f(RowView::new(&x, stride, rows), cols, &mut q, qs, 0.021);
                    q
                };
                let want = run(generic::quantize_fixed);
                assert_eq!(run(quantize), want, "{name} cols={cols} rows={rows}");
                for r in 0..rows {
                    let mut q = vec![0i8; cols];
                    camoe::quant::quantize_activations(
                        &x[r * stride..r * stride + cols],
                        0.021,
                        &mut q,
                    );
                    assert_eq!(&want[r * qs..r * qs + cols], &q[..]);
                    assert!(want[r * qs + cols..(r + 1) * qs].iter().all(|&v| v == 0));
                }
                cases += 1;
            }
        }
    }
    let names: Vec<_> = lines.iter().map(|g| g.1).collect();
    ran(&names, cases, LENGTHS.len() * 6, &[|k| k.quantize_fixed.1]);
}

/// The packed float GEMMs (f32 weights, and f16 weights widened as loaded) of every tier
/// against the scalar reference: inputs and outputs of every length in LENGTHS
/// (tile-sized, smaller, larger, zero), rows 0..=13, a column offset into the weights,
/// strided inputs and outputs. SIMD tiers fuse multiply-adds, so values agree within a
/// rounding bound (k + 1 ulps of the sum of |terms|, the reference checked against f64
/// too); columns past `out` and rows past `rows` are never written.
#[test]
fn gemm_f32_and_f16_match_scalar_on_every_tier() {
    let mut rng = SplitMix(6);
    let mut cases = 0;
    // (f16 weights, kernel, name): every f32 line, then every f16 line.
    let mut gemms: Vec<(bool, Kernel, &str)> = available()
        .filter(|l| matches!(l.kernel, Kernel::gemm_f32(_)))
        .map(|l| (false, l.kernel, l.name))
        .collect();
    gemms.extend(
        available()
            .filter(|l| matches!(l.kernel, Kernel::gemm_f16(_)))
            .map(|l| (true, l.kernel, l.name)),
    );
    for &(f16, gemm, name) in &gemms {
        for k in LENGTHS {
            for out in LENGTHS {
                let rows = rng.below(14) as usize;
                let (col0, inputs) = (2, k + 5);
                let bits: Vec<u16> = (0..out * inputs)
                    .map(|_| half::f16::from_f32(rng.normal()).to_bits())
                    .collect();
                // The weights as the kernels see them (f16 ones exactly widened).
                let w: Vec<f32> = if f16 {
                    bits.iter()
                        .map(|&b| half::f16::from_bits(b).to_f32())
                        .collect()
                } else {
                    (0..out * inputs).map(|_| rng.normal()).collect()
                };
                let (p32, p16) = (
                    PackedF32::pack(&w, inputs, out, col0, k),
                    PackedF16::pack(&bits, inputs, out, col0, k),
                );
                let (xs, os) = (k + 3, out + 2);
                let x: Vec<f32> = (0..rows * xs + 1).map(|_| rng.normal()).collect();
                let init: Vec<f32> = (0..out).map(|_| rng.normal()).collect();
                let xv = RowView::new(&x, xs, rows);
                let run = |g: Kernel| {
                    let mut y = vec![f32::NAN; rows * os + 3];
                    match g {
                        Kernel::gemm_f16(g) => g(&p16, xv, &init, &mut y, os),
                        Kernel::gemm_f32(g) => g(&p32, xv, &init, &mut y, os),
                        _ => unreachable!(),
                    }
                    y
                };
                let want = run(if f16 {
                    Kernel::gemm_f16(generic::gemm_float::<u16>)
                } else {
                    Kernel::gemm_f32(generic::gemm_float::<f32>)
                });
                let got = run(gemm);
                let what = format!("{name} k={k} out={out} rows={rows}");
                for r in 0..rows {
                    for o in 0..out {
                        let term = |c: usize| x[r * xs + c] * w[o * inputs + col0 + c];
                        let mag = init[o].abs() + (0..k).map(|c| term(c).abs()).sum::<f32>();
                        let exact: f64 = init[o] as f64
                            + (0..k)
                                .map(|c| x[r * xs + c] as f64 * w[o * inputs + col0 + c] as f64)
                                .sum::<f64>();
                        let tol = (k + 1) as f32 * f32::EPSILON * mag;
                        let (g, v) = (got[r * os + o], want[r * os + o]);
                        assert!((g - v).abs() <= 2.0 * tol, "{what} r={r} o={o}: {g} vs {v}");
                        assert!((v as f64 - exact).abs() <= tol as f64, "{what}: reference");
                    }
                    assert!(got[r * os + out..(r + 1) * os].iter().all(|v| v.is_nan()));
                }
                assert!(got[rows * os..].iter().all(|v| v.is_nan()), "{what}");
                cases += 1;
            }
        }
    }
    let names: Vec<_> = gemms.iter().map(|g| g.2).collect();
    ran(
        &names,
        cases,
        LENGTHS.len() * LENGTHS.len(),
        &[|k| k.gemm_f32.1, |k| k.gemm_f16.1],
    );
}

#[test]
fn requantize_matches_scalar_on_every_tier() {
    let mut rng = SplitMix(3);
    let mut cases = 0;
    let requantizes = lines_of!(requantize);
    for &(requantize, name) in &requantizes {
        for n in [16usize, 32, 48, 64, 80, 96, 128, 144] {
            for rows in [0usize, 1, 3, 7, 16, 17, 35] {
                // Real outputs `real` of `n`, zero padding beyond (as the layers have).
                let real = n - rng.below(16) as usize;
                let padded = |v: f32, o: usize| if o < real { v } else { 0.0 };
                let len = rows * n;
                let acc: Vec<i32> = (0..len)
                    .map(|i| {
                        let v = rng.below(200_001) as i32 - 100_000;
                        if i % n < real {
                            v
                        } else {
                            0
                        }
                    })
                    .collect();
                let ws: Vec<f32> = (0..n)
                    .map(|o| padded(rng.normal().abs() * 1e-3, o))
                    .collect();
                let mut xs: Vec<f32> = (0..rows).map(|_| rng.normal().abs() * 1e-2).collect();
                // With 17 rows: no bias, and row 16 (the second group of 16) scaled by 0,
                // so its values are all zero (scale 1) outside the cross layer.
                let no_bias = rows == 17;
                if no_bias {
                    xs[16] = 0.0;
                }
                let init: Vec<f32> = (0..n)
                    .map(|o| {
                        if no_bias {
                            0.0
                        } else {
                            padded(rng.normal(), o)
                        }
                    })
                    .collect();
                let x0: Vec<f32> = (0..len).map(|i| padded(rng.normal(), i % n)).collect();
                let mut x: Vec<f32> = (0..len).map(|i| padded(rng.normal(), i % n)).collect();
                // Row 2's cross layer: an inf and a NaN value (scale of a non-finite
                // maximum is 1; NaN is skipped by the maximum).
                if rows > 2 && real > 2 {
                    x[2 * n] = f32::INFINITY;
                    x[2 * n + 1] = f32::NAN;
                }
                let finishes = [
                    Finish::Linear,
                    Finish::Relu,
                    Finish::Cross { x0: &x0, x: &x },
                ];
                for finish in finishes {
                    for quantized in [false, true] {
                        let run = |f: camoe::kernels::Requantize| {
                            let mut out = vec![f32::NAN; len];
                            let (mut q, mut sc) = (vec![99i8; len], vec![f32::NAN; rows]);
                            let qa = quantized.then(|| (&mut q[..], &mut sc[..]));
                            let y = Scaled {
                                acc: RowView::new(&acc, n, rows),
                                cols: n,
                                w_scale: &ws,
                                x_scale: &xs,
                                init: &init,
                            };
                            f(y, finish, &mut out, qa);
                            (out, q, sc)
                        };
                        let want = run(generic::requantize);
                        let got = run(requantize);
                        let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                        let what = format!("{name} n={n} rows={rows} q={quantized}");
                        assert_eq!(bits(&got.0), bits(&want.0), "{what}");
                        assert_eq!(got.1, want.1, "{what}");
                        assert_eq!(bits(&got.2), bits(&want.2), "{what}");
                        // Padding stays zero; each row's bytes are the reference's
                        // quantization of the reference's values.
                        for r in 0..rows {
                            let y = &want.0[r * n..(r + 1) * n];
                            assert!(y[real..].iter().all(|&v| v == 0.0), "{what}");
                            if quantized {
                                let (s, _) = camoe::quant::quantize_activation_rows(y, n);
                                assert_eq!(&want.1[r * n..(r + 1) * n], &s[..], "{what}");
                            }
                        }
                        cases += 1;
                    }
                }
            }
        }
    }
    let names: Vec<_> = requantizes.iter().map(|g| g.1).collect();
    ran(&names, cases, 8 * 7 * 3 * 2, &[|k| k.requantize.1]);
}

/// The int8 epilogue (`dequantize` slot): every line gives the scalar body's bits on every
/// length in LENGTHS, rows 0..=17, a strided accumulator, with and without ReLU, on values
/// that make -0 (a negative weight scale times a zero sum, no bias) and NaN (a NaN row
/// scale): ReLU turns both into +0 on every tier, as `kernels::relu` says.
#[test]
fn dequantize_matches_scalar_on_every_tier() {
    let mut rng = SplitMix(7);
    let mut cases = 0;
    let epilogues = lines_of!(dequantize);
    for &(dequantize, name) in &epilogues {
        for cols in LENGTHS {
            for rows in [0usize, 1, 3, 7, 16, 17] {
                let stride = cols + 5;
                let mut acc: Vec<i32> = (0..rows * stride)
                    .map(|_| rng.below(200_001) as i32 - 100_000)
                    .collect();
                let ws: Vec<f32> = (0..cols).map(|_| rng.normal() * 1e-3).collect();
                let mut xs: Vec<f32> = (0..rows).map(|_| rng.normal().abs() * 1e-2).collect();
                let mut init: Vec<f32> = (0..cols).map(|_| rng.normal()).collect();
                if rows > 2 && cols > 0 {
                    acc[..cols].fill(0);
                    init[0] = -0.0;
                    xs[2] = f32::NAN;
                }
                for relu in [false, true] {
                    let run = |f: camoe::kernels::Dequantize| {
                        let mut out = vec![f32::NAN; rows * cols];
                        let y = Scaled {
                            acc: RowView::new(&acc, stride, rows),
                            cols,
                            w_scale: &ws,
                            x_scale: &xs,
                            init: &init,
                        };
                        f(y, relu, &mut out);
                        out.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                    };
                    let (want, got) = (run(generic::dequantize), run(dequantize));
                    assert_eq!(got, want, "{name} cols={cols} rows={rows} relu={relu}");
                    // The definition, value by value.
                    for r in 0..rows {
                        for o in 0..cols {
                            let y = init[o] + acc[r * stride + o] as f32 * (ws[o] * xs[r]);
                            let y = if relu { camoe::kernels::relu(y) } else { y };
                            assert_eq!(want[r * cols + o], y.to_bits(), "{name} r={r} o={o}");
                        }
                    }
                    if relu && rows > 2 && cols > 0 {
                        assert_eq!(want[0], 0, "{name}: relu(-0) is +0");
                        assert!(
                            want[2 * cols..3 * cols].iter().all(|&b| b == 0),
                            "{name}: NaN"
                        );
                    }
                    cases += 1;
                }
            }
        }
    }
    let names: Vec<_> = epilogues.iter().map(|g| g.1).collect();
    ran(&names, cases, LENGTHS.len() * 6 * 2, &[|k| k.dequantize.1]);
}

/// A misspelt CAMOE_KERNEL_TIER is an error naming the valid tiers, not a silent
/// fallback: `--list-tiers` exits non-zero with it, and so does a ranking, whose
/// `Session::new` returns it (as `camoe_session_new` does). The variable is read once per
/// process, hence a child process.
#[test]
fn misspelt_tier_is_an_error() {
    for args in [&["--list-tiers"][..], &[]] {
        let out = common::binary(env!("CARGO_BIN_EXE_camoe-rank"))
            .args(args)
            .env("CAMOE_KERNEL_TIER", "avx3")
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(
                "INVALID_ARGUMENT: CAMOE_KERNEL_TIER=\"avx3\" is not one of scalar, avx2, \
                          avxvnni, avx512vnni, neon, dotprod, i8mm"
            ),
            "{args:?}: {err}"
        );
    }
}

/// Through the C ABI, in a child process (the tier is read once per process): a
/// misspelt tier makes `camoe_kernel_info` say the error and `camoe_session_new` fail.
#[test]
fn misspelt_tier_through_the_c_abi() {
    use camoe::ffi::*;
    if std::env::var("CAMOE_KERNEL_TIER").as_deref() == Ok("avx3") {
        // SAFETY: camoe_kernel_info returns a static NUL-terminated string.
        let info = unsafe { std::ffi::CStr::from_ptr(camoe_kernel_info()) };
        let info = info.to_string_lossy();
        assert!(
            info.starts_with("error: CAMOE_KERNEL_TIER=\"avx3\""),
            "{info}"
        );
        let bytes = camoe::write_model(
            &camoe::spec::ModelSpec::random(tiny_config(1, 1, 1, 0, &[], &[]), 1),
            camoe::WriteOptions::F32,
        )
        .unwrap();
        let (mut m, mut s) = (std::ptr::null_mut(), std::ptr::null_mut());
        assert_eq!(
            camoe_model_load_bytes_copy(bytes.as_ptr(), bytes.len(), &mut m),
            camoe::Status::Ok
        );
        assert_eq!(
            camoe_session_new(m, 4, &mut s),
            camoe::Status::InvalidArgument
        );
        assert!(s.is_null());
        camoe_model_free(&mut m);
        return;
    }
    let out = common::binary(std::env::current_exe().unwrap().to_str().unwrap())
        .args([
            "--exact",
            "misspelt_tier_through_the_c_abi",
            "--test-threads=1",
        ])
        .env("CAMOE_KERNEL_TIER", "avx3")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("1 passed"), "the child ran no test: {text}");
}

/// The activation quantizer (`quantize` slot): every tier gives the scalar body's bytes
/// and scales on every length, with a stride and an offset, on rows holding exact ties
/// (x·127/max = k + ½), zeros, NaN and ±inf; the padding bytes after `cols` are zeroed.
#[test]
fn quantize_matches_scalar_on_every_tier() {
    let mut rng = SplitMix(5);
    let mut cases = 0;
    let quantizers = lines_of!(quantize);
    for &(quantize, name) in &quantizers {
        for cols in LENGTHS {
            let (off, stride, rows) = (3, cols + 5, 6);
            let q_stride = cols.next_multiple_of(4) + 4;
            let mut x: Vec<f32> = (0..rows * stride).map(|_| rng.normal()).collect();
            for r in 0..rows {
                let row = &mut x[r * stride + off..r * stride + off + cols];
                match r {
                    // Max 127: every k + 0.5 is an exact tie.
                    1 if cols > 0 => {
                        for (i, v) in row.iter_mut().enumerate() {
                            *v = (i as f32 % 254.0) - 126.5;
                        }
                        row[0] = 127.0;
                    }
                    2 => row.fill(0.0),
                    3 if cols > 2 => {
                        row[1] = f32::NAN;
                        row[2] = -0.0;
                    }
                    4 if cols > 1 => {
                        row[0] = f32::INFINITY;
                        row[cols - 1] = f32::NEG_INFINITY;
                    }
                    _ => {}
                }
            }
            let run = |f: camoe::kernels::QuantizeRows| {
                let (mut q, mut sc) = (vec![99i8; rows * q_stride], vec![f32::NAN; rows]);
                f(
                    RowView::new(&x[off..], stride, rows),
                    cols,
                    &mut q,
                    q_stride,
                    &mut sc,
                );
                (q, sc)
            };
            let want = run(generic::quantize_rows);
            let got = run(quantize);
            let what = format!("{name} cols={cols}");
            assert_eq!(got.0, want.0, "{what}");
            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got.1), bits(&want.1), "{what}");
            for r in 0..rows {
                let qr = &want.0[r * q_stride..(r + 1) * q_stride];
                assert!(qr[cols..].iter().all(|&b| b == 0), "{what}");
                assert!(qr.iter().all(|&b| b != -128), "{what}");
            }
            if cols >= 4 {
                // The ties row: scale 1, so q = round-half-even(x).
                let q1 = &want.0[q_stride..q_stride + cols];
                assert_eq!(want.1[1], 1.0, "{what}");
                assert_eq!(&q1[..4], &[127, -126, -124, -124], "{what}");
            }
            cases += 1;
        }
    }
    let names: Vec<_> = quantizers.iter().map(|g| g.1).collect();
    ran(&names, cases, LENGTHS.len(), &[|k| k.quantize.1]);
}

/// exp and sigmoid: every tier gives the scalar body's bits, on every length (tails
/// included) and on edge values; the scalar body is within 2 ulp of f64 on the range it
/// promises and keeps NaN; sigmoid(x) + sigmoid(-x) = 1 within rounding, never overflows.
#[test]
fn exp_and_sigmoid_match_scalar_on_every_tier() {
    let mut rng = SplitMix(4);
    let edges = [
        0.0f32,
        -0.0,
        1.0,
        -1.0,
        88.0,
        -87.3,
        100.0,
        -100.0,
        1e-8,
        -1e-8,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        f32::MIN,
        20.0,
        -20.0,
    ];
    let maps: Vec<_> = available()
        .filter_map(|l| match l.kernel {
            Kernel::exp(f) => Some((f, l.name, generic::exp as fn(&mut [f32]))),
            Kernel::sigmoid(f) => Some((f, l.name, generic::sigmoid as fn(&mut [f32]))),
            _ => None,
        })
        .collect();
    let mut cases = 0;
    for &(map, name, want_fn) in &maps {
        for &n in &LENGTHS {
            let v: Vec<f32> = (0..n)
                .map(|i| {
                    if i < edges.len() && n > 20 {
                        edges[i]
                    } else {
                        30.0 * rng.normal()
                    }
                })
                .collect();
            let (mut want, mut got) = (v.clone(), v.clone());
            want_fn(&mut want);
            map(&mut got);
            for i in 0..n {
                assert_eq!(
                    got[i].to_bits(),
                    want[i].to_bits(),
                    "{name} n={n} x={}",
                    v[i]
                );
            }
            cases += 1;
        }
    }
    let names: Vec<_> = maps.iter().map(|m| m.1).collect();
    ran(
        &names,
        cases,
        LENGTHS.len(),
        &[|k| k.exp.1, |k| k.sigmoid.1],
    );
    // Accuracy of the scalar body against f64.
    let ulp = |x: f32| (f32::from_bits(x.to_bits() + 1) - x).abs();
    let mut x = -87.3f32;
    while x <= 88.0 {
        let mut v = [x];
        generic::exp(&mut v);
        let exact = (x as f64).exp();
        assert!(
            (v[0] as f64 - exact).abs() <= 2.0 * ulp(exact as f32) as f64,
            "exp({x}) = {} vs {exact}",
            v[0]
        );
        let mut p = [x, -x];
        generic::sigmoid(&mut p);
        let exact = 1.0 / (1.0 + (-(x as f64)).exp());
        assert!(
            (p[0] as f64 - exact).abs() <= 3e-7 * exact.max(1e-30) + 1e-37,
            "sigmoid({x}) = {} vs {exact}",
            p[0]
        );
        assert!(p[0].is_finite() && p[1].is_finite());
        assert!(
            (p[0] + p[1] - 1.0).abs() <= 1.2e-7,
            "sigmoid({x}) + sigmoid(-{x}) = {}",
            p[0] + p[1]
        );
        x += 0.0137;
    }
    let mut v = [f32::NAN, 0.0];
    generic::exp(&mut v);
    assert!(v[0].is_nan() && v[1] == 1.0);
    let mut v = [f32::NAN, 0.0, 1e30, -1e30];
    generic::sigmoid(&mut v);
    assert!(v[0].is_nan() && v[1] == 0.5 && v[2] == 1.0 && (0.0..1e-37).contains(&v[3]));
}

#[test]
fn dots_match_scalar_on_every_tier() {
    let mut rng = SplitMix(2);
    let dots: Vec<_> = available()
        .filter(|l| matches!(l.kernel, Kernel::dot_f32(_) | Kernel::dot_f16(_)))
        .collect();
    let mut cases = 0;
    for line in &dots {
        for &n in &LENGTHS {
            let a: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.normal()).collect();
            let h = camoe::quant::to_f16_bits(&a);
            let scale: f32 = a.iter().zip(&b).map(|(x, y)| (x * y).abs()).sum::<f32>() + 1e-6;
            let (want, got) = match line.kernel {
                Kernel::dot_f32(f) => (generic::dot_f32(&a, &b), f(&a, &b)),
                Kernel::dot_f16(f) => (generic::dot_f16(&h, &b), f(&h, &b)),
                _ => unreachable!(),
            };
            assert!(
                (want - got).abs() <= 1e-5 * scale,
                "{} n={n}: {got} vs {want}",
                line.name
            );
            cases += 1;
        }
    }
    let names: Vec<_> = dots.iter().map(|l| l.name).collect();
    ran(
        &names,
        cases,
        LENGTHS.len(),
        &[|k| k.dot_f32.1, |k| k.dot_f16.1],
    );
}

#[test]
fn rankings_agree_across_tiers() {
    let spec = ModelSpec::random(ModelConfig::demo(), 4);
    let small = ModelSpec::random(tiny_config(3, 3, 2, 5, &[7], &[3]), 5);
    for spec in [spec, small] {
        // int8-static with made-up scales (x0's layers share the candidate part's): some
        // values clamp, which must clamp alike on every tier.
        let layers = spec.config.layers();
        let scales = camoe::ActivationScales {
            request: 0.02,
            candidate: 0.03,
            layers: (0..layers.len())
                .map(|i| match layers[i].source {
                    camoe::layers::Source::X0 => 0.03,
                    _ => 0.01 + 0.002 * i as f32,
                })
                .collect(),
        };
        let fixed = camoe::write_model_static(&spec, WriteOptions::INT8, Some(&scales)).unwrap();
        let files = [
            (
                WriteOptions::INT8,
                write_model(&spec, WriteOptions::INT8).unwrap(),
            ),
            (WriteOptions::INT8, fixed),
            (
                WriteOptions::F16,
                write_model(&spec, WriteOptions::F16).unwrap(),
            ),
            (
                WriteOptions::F32,
                write_model(&spec, WriteOptions::F32).unwrap(),
            ),
        ];
        for (opts, bytes) in files {
            let model = Model::from_bytes(&bytes).unwrap();
            let mut rng = SplitMix(9);
            let req = random_side(&spec.config, Side::Request, &mut rng);
            let cands =
                random_candidates(&spec.config, 37, spec.config.tasks.len() as u64, &mut rng);
            let feats = borrow_candidates(&cands);
            let list = candidate_list(&feats);
            let run = |tier| {
                let mut s =
                    Session::with_kernels(model.clone(), 40, kernels_for(tier).unwrap()).unwrap();
                s.set_request(&borrow(&req)).unwrap();
                let mut scores = vec![0.0; 37];
                s.rank(
                    &list,
                    &RankOptions::default(),
                    &mut scores,
                    &mut vec![0; 37],
                )
                .unwrap();
                scores
            };
            let base = run(Tier::Scalar);
            for tier in tiers() {
                let got = run(tier);
                for (a, b) in got.iter().zip(&base) {
                    if opts == WriteOptions::INT8 {
                        // Integer accumulation: identical bits on every tier.
                        assert_eq!(a.to_bits(), b.to_bits(), "{} int8", tier.name());
                    } else {
                        assert!(
                            (a - b).abs() < 1e-5,
                            "{} {:?}: {a} vs {b}",
                            tier.name(),
                            opts
                        );
                    }
                }
            }
        }
    }
}

/// The test command runs the suite once per tier with CAMOE_KERNEL_TIER set: prove the
/// forced tier is the one that runs.
#[test]
fn forced_tier_is_the_one_running() {
    match std::env::var("CAMOE_KERNEL_TIER") {
        Ok(want) => {
            let t = Tier::from_name(&want)
                .unwrap_or_else(|| panic!("CAMOE_KERNEL_TIER={want} is not a tier"));
            assert!(
                t.supported(),
                "CAMOE_KERNEL_TIER={want} but this CPU lacks it"
            );
            assert_eq!(kernels().tier.name(), want);
            let info = unsafe { std::ffi::CStr::from_ptr(camoe::ffi::camoe_kernel_info()) }
                .to_str()
                .unwrap()
                .to_owned();
            assert!(info.starts_with(&format!("tier={want} ")), "{info}");
            eprintln!("running at {info}");
        }
        Err(_) => {
            // Unforced: the best tier the CPU has.
            let best = Tier::ALL
                .into_iter()
                .filter(|t| t.supported())
                .max()
                .unwrap();
            assert_eq!(kernels().tier, best);
        }
    }
}
