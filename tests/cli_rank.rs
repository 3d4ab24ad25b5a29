//! `camoe-rank` as a user runs it: the README's main job, and flags it does not know
//! or cannot read end in one error line instead of being taken for file names.

mod common;

fn rank(args: &[&str]) -> (i32, String, String) {
    let out = common::binary(env!("CARGO_BIN_EXE_camoe-rank"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("run camoe-rank");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

const MAIN_JOB: [&str; 2] = ["models/camoe-demo.camoe", "models/sample-request.txt"];

#[test]
fn main_job_ranks_the_sample_request() {
    let (code, stdout, stderr) = rank(&[MAIN_JOB[0], MAIN_JOB[1], "--top-k", "3"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("rank  candidate"), "{stdout}");
    assert!(stdout.contains("\n   3  "), "{stdout}");
    assert!(
        !stdout.contains("\n   4  "),
        "--top-k 3 printed a 4th: {stdout}"
    );
}

#[test]
fn bad_flags_are_one_error_line_naming_them() {
    for (args, needle) in [
        (vec!["--top-kk", "3"], "--top-kk"),
        (vec!["--max-dp", "1e-5"], "--max-dp"),
        (vec!["-k"], "-k"),
        (vec!["--top-k", "three"], "--top-k"),
        (vec!["--objective", "ctr"], "--objective ctr"),
        (vec!["--top-k"], "--top-k needs a value"),
        (vec!["extra.txt"], "extra.txt"),
        (vec!["--threads", "0"], "threads 0"),
        (vec!["--threads", "two"], "--threads"),
    ] {
        let all: Vec<&str> = MAIN_JOB.iter().copied().chain(args.clone()).collect();
        let (code, stdout, stderr) = rank(&all);
        assert_ne!(code, 0, "{args:?} was accepted: {stdout}");
        assert_eq!(stdout, "", "{args:?}: ranked anyway");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(
            lines[0].starts_with("error: ") && lines[0].contains(needle),
            "{args:?}: `{needle}` not in {stderr}"
        );
    }
}

#[test]
fn help_lists_every_flag() {
    let (code, stdout, stderr) = rank(&["--help"]);
    assert_eq!(code, 0, "{stderr}");
    for flag in [
        "--top-k",
        "--objective",
        "--eligible",
        "--expert-top-k",
        "--threads",
        "--list-tiers",
    ] {
        assert!(stdout.contains(flag), "{flag} not in {stdout}");
    }
}

#[test]
fn threads_print_the_same_ranking() {
    // The ranking's lines, without the timings.
    let ranking = |args: &[&str]| {
        let (code, stdout, stderr) = rank(args);
        assert_eq!(code, 0, "{stderr}");
        let lines: Vec<String> = stdout
            .lines()
            .filter(|l| !l.contains(" in "))
            .map(String::from)
            .collect();
        assert!(lines.len() > 3, "{stdout}");
        lines
    };
    let one = ranking(&MAIN_JOB);
    for t in ["2", "3"] {
        let all: Vec<&str> = MAIN_JOB.iter().copied().chain(["--threads", t]).collect();
        assert_eq!(ranking(&all), one, "--threads {t}");
    }
}
