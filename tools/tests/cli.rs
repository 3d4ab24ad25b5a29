//! `camoe convert` as a user runs it: exit status, the one error line, and that a
//! conversion over budget writes nothing.

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
    assert!(stdout.starts_with("int8: 1354184 bytes"), "{stdout}");
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

#[test]
fn bad_input_is_one_error_line() {
    let junk = tmp("junk.nnef.tgz");
    std::fs::write(&junk, b"\x1f\x8b not really gzip").unwrap();
    let cfg = models().join("camoe-demo.config.json");
    for (args, needle) in [
        (
            vec![
                "convert",
                junk.to_str().unwrap(),
                "--mode",
                "int8",
                "--config",
                cfg.to_str().unwrap(),
                "-o",
                "/dev/null",
            ],
            "cannot load as NNEF",
        ),
        (
            vec![
                "convert",
                junk.to_str().unwrap(),
                "--mode",
                "int4",
                "-o",
                "/dev/null",
            ],
            "--mode int4",
        ),
        (
            vec![
                "convert",
                junk.to_str().unwrap(),
                "--mode",
                "int8",
                "-o",
                "/dev/null",
            ],
            "junk.config.json",
        ),
        (
            vec!["convert", junk.to_str().unwrap(), "--mode", "int8"],
            "-o OUT.camoe required",
        ),
    ] {
        let (code, _, stderr) = camoe(&args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
        assert_eq!(errors.len(), 1, "{stderr}");
        assert!(errors[0].contains(needle), "`{needle}` not in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}
