//! The `camoe` CLI as a user runs it: `convert`'s exit status, its one error line and
//! that a conversion over budget writes nothing; flags that are misspelt or carry a bad
//! value are refused by name; every subcommand's `--help`; the documented command lines.

use std::path::{Path, PathBuf};
use std::process::Command;

fn camoe(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_camoe"))
        .args(args)
        .output()
        .expect("run camoe");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn models() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../models")
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("camoe-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d.join(name)
}

#[test]
fn convert_writes_a_loadable_file_within_budget() {
    let nnef = models().join("camoe-demo.nnef.tgz");
    let out = tmp("demo.camoe");
    let (code, stdout, stderr) = camoe(&[
        "convert",
        nnef.to_str().unwrap(),
        "--mode",
        "int8",
        "--rows",
        "300",
        "--requests",
        "20",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("int8: 1383432 bytes"), "{stdout}");
    assert!(stdout.contains("top-10 overlap mean"), "{stdout}");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(
        bytes,
        std::fs::read(models().join("camoe-demo.camoe")).unwrap()
    );
    camoe::Model::from_bytes(&bytes).unwrap();
}

#[test]
fn over_budget_exits_1_and_writes_nothing() {
    let nnef = models().join("camoe-demo.nnef.tgz");
    let out = tmp("strict.camoe");
    // int8 cannot reproduce every ranking's top 10 exactly; ask it to.
    let (code, stdout, stderr) = camoe(&[
        "convert",
        nnef.to_str().unwrap(),
        "--mode",
        "int8",
        "--rows",
        "100",
        "--min-top10",
        "1.0",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("OVER BUDGET: mean top-10 overlap"),
        "{stdout}"
    );
    let last = stderr.lines().last().unwrap();
    assert!(
        last.starts_with("error: int8 mode is over its parity budget")
            && last.ends_with("nothing written"),
        "{stderr}"
    );
    assert!(!out.exists());
    assert_eq!(
        std::fs::read_dir(out.parent().unwrap())
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("strict")
            })
            .count(),
        0,
        "a temporary file was left behind"
    );
}

/// A run that fails on its input, or on its flags before doing anything: exit status
/// 1 (the command failed) or 2 (clap rejected the flags), one `error:` line naming
/// the fault, no panic.
fn fails_with_one_error_line(args: &[&str], code: i32, needle: &str) {
    let (got, _, stderr) = camoe(args);
    assert_eq!(got, code, "{args:?}: {stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{args:?}: {stderr}");
    assert!(errors[0].contains(needle), "`{needle}` not in {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_input_is_one_error_line() {
    let junk = tmp("junk.nnef.tgz");
    std::fs::write(&junk, b"\x1f\x8b not really gzip").unwrap();
    let junk = junk.to_str().unwrap();
    let cfg = models().join("camoe-demo.config.json");
    let cfg = cfg.to_str().unwrap();
    for (args, code, needle) in [
        (
            vec![
                "convert",
                junk,
                "--mode",
                "int8",
                "--config",
                cfg,
                "-o",
                "/dev/null",
            ],
            1,
            "cannot load as NNEF",
        ),
        (
            vec!["convert", junk, "--mode", "int4", "-o", "/dev/null"],
            2,
            "invalid value 'int4' for '--mode",
        ),
        (
            vec!["convert", junk, "--mode", "int8", "-o", "/dev/null"],
            1,
            "junk.config.json",
        ),
        (
            vec!["convert", junk, "--mode", "int8"],
            1,
            "-o OUT.camoe required",
        ),
    ] {
        fails_with_one_error_line(&args, code, needle);
    }
}

/// Misspelt flags and unreadable values stop the command before it does anything
/// (a misspelt `--max-dp` used to keep the default budget without a word).
#[test]
fn unknown_flags_and_bad_values_are_named() {
    let nnef = models().join("camoe-demo.nnef.tgz");
    let nnef = nnef.to_str().unwrap();
    let out = tmp("never.camoe");
    let out = out.to_str().unwrap();
    let sim = tmp("never-sim");
    let sim = sim.to_str().unwrap();
    let convert = |extra: &[&'static str]| {
        let mut v = vec!["convert", nnef, "--mode", "int8", "-o", out];
        v.extend(extra);
        v
    };
    let train = |extra: &[&'static str]| {
        let mut v = vec!["train", "--data", sim, "--out", sim];
        v.extend(extra);
        v
    };
    for (args, needle) in [
        (
            convert(&["--max-db", "1e-5"]),
            "unexpected argument '--max-db'",
        ),
        (
            convert(&["--max-dp", "tiny"]),
            "invalid value 'tiny' for '--max-dp",
        ),
        (
            convert(&["--rows", "1.5"]),
            "invalid value '1.5' for '--rows",
        ),
        (
            convert(&["--embeddings", "int4"]),
            "'int4' for '--embeddings",
        ),
        (convert(&["extra.nnef.tgz"]), "'extra.nnef.tgz'"),
        (train(&["--epoch", "2"]), "unexpected argument '--epoch'"),
        (
            train(&["--epochs", "two"]),
            "invalid value 'two' for '--epochs",
        ),
        (train(&["--variant", "moe"]), "'moe' for '--variant"),
        (train(&["--expert-mlp", "128,x"]), "'--expert-mlp"),
        (
            vec!["train", "--out", sim],
            "required arguments were not provided",
        ),
        (
            vec!["ablate", "--data", sim, "--variants", "mmoe,moe"],
            "'moe' for '--variants",
        ),
        (
            vec!["simulate", "--out", sim, "--n", "1e6"],
            "invalid value '1e6' for '--n",
        ),
        (
            vec!["simulate", "--out", sim, "--impressions", "10"],
            "'--impressions'",
        ),
        (vec!["evaluate"], "unrecognized subcommand 'evaluate'"),
    ] {
        fails_with_one_error_line(&args, 2, needle);
    }
    let (_, _, stderr) = camoe(&["train", "--out", sim]);
    assert!(stderr.contains("--data <DIR>"), "{stderr}");
    assert!(!Path::new(out).exists());
    assert!(!Path::new(sim).exists(), "simulate ran with a bad flag");
}

/// `--help` of each subcommand exits 0 and names every flag the docs use.
#[test]
fn help_names_each_subcommands_flags() {
    for (sub, flags) in [
        ("simulate", &["--out", "--n", "--seed", "--divergence"][..]),
        (
            "train",
            &[
                "--data",
                "--out",
                "--variant",
                "--epochs",
                "--batch",
                "--lr",
                "--seed",
                "--max-rows",
                "--config",
                "--experts",
                "--cross-layers",
                "--cross-rank",
                "--expert-mlp",
                "--tower",
                "--weight-decay",
                "--emb-std",
                "--emb-weight-decay",
                "--emb-lr-scale",
                "--evals-per-epoch",
                "--patience",
                "--name",
                "--gate-top-k",
                "--balance",
            ][..],
        ),
        (
            "eval",
            &["--model", "--data", "--split", "--json", "--max-rows"][..],
        ),
        ("export", &["--model", "--out", "--data"][..]),
        (
            "ablate",
            &[
                "--data",
                "--variants",
                "--json",
                "--max-rows",
                "--epochs",
                "--lr",
                "--config",
                "--seeds",
                "--resamples",
            ][..],
        ),
        ("obd", &["--obd", "--out"][..]),
        (
            "convert",
            &[
                "MODEL.nnef.tgz",
                "--mode",
                "-o, --out",
                "--config",
                "--data",
                "--rows",
                "--requests",
                "--candidates",
                "--seed",
                "--embeddings",
                "--json",
                "--dry-run",
                "--expert-top-k",
                "--max-dp",
                "--max-auc-pr-delta",
                "--min-top10",
                "--calibration-rows",
                "--calibration-data",
                "--calibration-range",
                "[possible values: int8, int8-static, f16, f32]",
                "[default: 0.95]",
            ][..],
        ),
    ] {
        let (code, stdout, stderr) = camoe(&[sub, "--help"]);
        assert_eq!(code, 0, "{sub}: {stderr}");
        for f in flags {
            assert!(
                stdout.contains(f),
                "{sub} --help does not name {f}: {stdout}"
            );
        }
    }
    let (code, stdout, _) = camoe(&["--help"]);
    assert_eq!(code, 0);
    for sub in [
        "simulate", "train", "eval", "export", "ablate", "obd", "convert",
    ] {
        assert!(stdout.contains(sub), "{sub} not in {stdout}");
    }
}

/// The command lines of README.md, models/README.md, benches/README.md, docs/*.md
/// and the examples still parse (`--help` last: clap reads every flag before it).
#[test]
fn documented_command_lines_parse() {
    for line in [
        "simulate --out data/sim --n 2000000 --seed 1",
        "train --data data/sim --out runs/camoe-demo --epochs 2",
        "export --model runs/camoe-demo --out models/camoe-demo --data data/sim",
        "eval --model runs/camoe-demo --data data/sim",
        "convert models/camoe-demo.nnef.tgz --mode int8 -o models/camoe-demo.camoe",
        "convert models/camoe-demo.nnef.tgz --mode f16 -o models/camoe-demo.f16.camoe",
        "convert models/camoe-demo.nnef.tgz --mode f32 --data data/sim/test.csv --rows 400040 --dry-run --json parity-f32.json",
        "convert models/camoe-demo.nnef.tgz --mode int8 --data data/sim/test.csv --rows 400040 --dry-run --expert-top-k 2",
        "convert models/camoe-demo.nnef.tgz --mode int8 --data data/sim/test.csv --rows 400040 --dry-run --expert-top-k 4 --json mask-4.json",
        "convert M.nnef.tgz --mode int8 -o M.camoe --config M.config.json --data T.csv --rows 9 --requests 200 --candidates 50 --seed 1 --embeddings f16 --json R.json --max-dp 1e-5 --max-auc-pr-delta 0.002 --min-top10 0.95",
        "ablate --data data/sim --max-rows 700000 --epochs 2 --json runs/ablation-sim-lr5e4.json",
        "ablate --data data/sim --max-rows 700000 --epochs 2 --lr 0.002 --json runs/ablation-sim.json",
        "obd --obd obd/obp/dataset/obd --out data/obd",
        "ablate --config data/obd/obd.config.json --data data/obd --variants camoe,camoe-nocross,camoe-nomask,mmoe,shared-bottom,single-task --epochs 10 --batch 256 --lr 0.002 --json runs/ablation-obd.json",
        "simulate --out runs/data/s1 --n 250000 --seed 1 --divergence 1",
        "ablate --data runs/data/s0 --max-rows 100000 --epochs 1 --evals-per-epoch 2 --resamples 50 --variants camoe,mmoe,camoe-nomask,shared-bottom,camoe-top2 --seeds 1,2,3 --json runs/ablation-d0.json",
        "train --data runs/data/s0 --out runs/camoe-top2 --max-rows 100000 --epochs 1 --evals-per-epoch 2 --gate-top-k 2 --balance 0.01",
        "train --data d --out o --variant shared-bottom --experts 8 --cross-layers 2 --cross-rank 0 --expert-mlp 128,64 --tower 32 --max-rows 10 --config c.json",
    ] {
        let mut args: Vec<&str> = line.split(' ').collect();
        args.push("--help");
        let (code, _, stderr) = camoe(&args);
        assert_eq!(code, 0, "`camoe {line}` no longer parses: {stderr}");
    }
}

#[test]
fn keygen_and_sign_make_a_signature_the_runtime_verifies() {
    let key = tmp("signing.key");
    let _ = std::fs::remove_file(&key);
    let _ = std::fs::remove_file(key.with_extension("key.pub"));
    let (code, stdout, stderr) = camoe(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.starts_with("public key "), "{stdout}");
    let public = std::fs::read(key.with_extension("key.pub")).unwrap();
    assert_eq!(public.len(), 32);
    // An existing key is never overwritten.
    let (code, _, stderr) = camoe(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");

    let model = models().join("camoe-demo.camoe");
    let sig = tmp("demo.camoe.sig");
    let (code, _, stderr) = camoe(&[
        "sign",
        model.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "-o",
        sig.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let signature = std::fs::read(&sig).unwrap();
    let m = camoe::Model::load_signed(&model, &signature, &public).unwrap();
    assert_eq!(m.name(), "camoe-demo");
    // Another key's public half does not verify it.
    let mut wrong = public.clone();
    wrong[0] ^= 1;
    assert!(camoe::Model::load_signed(&model, &signature, &wrong).is_err());

    // A file that is not a model is not signed: one error line, exit 1, nothing written.
    let junk = tmp("junk.camoe");
    std::fs::write(&junk, b"not a model").unwrap();
    let junk_sig = tmp("junk.sig");
    let (code, _, stderr) = camoe(&[
        "sign",
        junk.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
        "-o",
        junk_sig.to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert_eq!(stderr.matches("error:").count(), 1, "{stderr}");
    assert!(!junk_sig.exists());
}

/// `simulate --divergence` then `ablate --seeds`: every run is reported, and each
/// format gets a noise-free NE with an interval and camoe's paired gap to the
/// baseline. A tiny model on a tiny log: seconds.
#[test]
fn ablate_over_seeds_reports_intervals_on_a_diverged_log() {
    let dir = tmp("div");
    let d = dir.to_str().unwrap();
    let (code, _, err) = camoe(&[
        "simulate",
        "--out",
        d,
        "--n",
        "6000",
        "--seed",
        "4",
        "--divergence",
        "1.5",
    ]);
    assert_eq!(code, 0, "{err}");
    let json = tmp("ablate.json");
    let (code, out, err) = camoe(&[
        "ablate",
        "--data",
        d,
        "--variants",
        "camoe,shared-bottom",
        "--seeds",
        "1,2",
        "--epochs",
        "1",
        "--experts",
        "2",
        "--cross-layers",
        "1",
        "--expert-mlp",
        "8",
        "--tower",
        "4",
        "--resamples",
        "20",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("NE gap"), "{out}");
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(v["seeds"], serde_json::json!([1, 2]));
    let res = v["results"].as_array().unwrap();
    assert_eq!(res.len(), 2);
    for r in res {
        assert_eq!(r["runs"].as_array().unwrap().len(), 2);
        for f in ["audio", "video", "display"] {
            let ne = &r["summary"][f]["ne"];
            assert!(
                ne[0].as_f64().unwrap() > 0.5 && ne[1].as_f64().unwrap() > 0.0,
                "{f}: {ne}"
            );
        }
    }
    assert!(res[1]["camoe_minus"]["video"]["ne"][0].is_f64());
    // The shared bottom is one expert of the experts' MACs (2 experts here).
    let macs = &v["expert_macs"];
    let (c, sb) = (
        macs["camoe"].as_u64().unwrap(),
        macs["shared_bottom"].as_u64().unwrap(),
    );
    assert!(sb >= c && sb < c + 200, "{c} vs {sb}");
    // A negative divergence is refused by name.
    let (code, _, err) = camoe(&["simulate", "--out", d, "--n", "10", "--divergence=-1"]);
    assert_eq!(code, 1);
    assert!(err.contains("--divergence"), "{err}");
}
