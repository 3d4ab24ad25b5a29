//! `camoe convert` end to end: a grid of exported shapes, a caught wrong weight,
//! labelled rows, malformed NNEF, and the shipped demo files.

use super::*;
use crate::export;
use camoe::hash::SplitMix;
use camoe::spec::{Architecture, FieldKind, FieldSpec, ModelSpec, Side, TaskSpec};
use camoe::Model;
use std::path::PathBuf;

struct Dir(PathBuf);
impl Dir {
    fn new(tag: &str) -> Dir {
        let d = std::env::temp_dir().join(format!("camoe-convert-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Dir(d)
    }
}
impl Drop for Dir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// A model of the given shape: `wide` picks a schema with more and wider fields.
fn config(
    e: u32,
    g: usize,
    l: u32,
    rank: u32,
    mlp: &[u32],
    tower: &[u32],
    wide: bool,
) -> ModelConfig {
    use Side::*;
    let mut fields = vec![
        FieldSpec::categorical("user", Request, 97, if wide { 12 } else { 4 }),
        FieldSpec::dense("minutes", Request, 20.0, 15.0, 4.0),
        FieldSpec::categorical("ad", Candidate, 211, if wide { 16 } else { 6 }),
        FieldSpec::categorical("kind", Candidate, 5, 2),
    ];
    if wide {
        fields.insert(1, FieldSpec::categorical("device", Request, 9, 3));
        fields.push(FieldSpec::dense("seconds", Candidate, 15.0, 10.0, 3.0));
        fields.push(FieldSpec::categorical("advertiser", Candidate, 61, 8));
    }
    let formats: Vec<String> = ["audio", "video", "display"].map(String::from).to_vec();
    let groups: Vec<String> = (0..g).map(|i| format!("g{i}")).collect();
    let tasks = (0..4)
        .map(|t| TaskSpec::new(&format!("t{t}"), t % 3, t % g as u32))
        .collect();
    ModelConfig {
        name: format!("grid-e{e}-g{g}-l{l}-r{rank}"),
        hash_seed: 0x5eed_0000 + e as u64,
        formats,
        fields,
        groups,
        tasks,
        arch: Architecture {
            experts: e,
            cross_layers: l,
            cross_rank: rank,
            expert_mlp: mlp.to_vec(),
            tower: tower.to_vec(),
        },
    }
}

/// Writes `cfg` with seeded weights through the exporter: (nnef path, config).
fn export(dir: &Dir, cfg: &ModelConfig, seed: u64) -> PathBuf {
    let spec = ModelSpec::random(cfg.clone(), seed);
    let p = dir.0.join(format!("{}.nnef.tgz", cfg.name));
    export::write_nnef(&spec, &p).unwrap();
    p
}

fn small() -> Sample {
    Sample {
        rows: 300,
        requests: 30,
        candidates: 20,
        seed: 5,
        expert_top_k: 0,
    }
}

fn run(nnef: &Path, cfg: &ModelConfig, mode: Mode) -> Result<(Vec<u8>, Report), String> {
    let s = small();
    let table = Table::generate(cfg, s.rows, 9);
    convert(
        nnef,
        cfg,
        mode,
        None,
        &table,
        &s,
        &Budget::default(),
        (Calibration::default(), &table),
        &|_| {},
    )
}

/// Experts, groups and cross layers over {1,4,8} × {1,2,3} × {0,1,3}, full and
/// low-rank cross, with and without MLP and tower, two schemas: every mode
/// converts within its budget, and f32 agrees with tract to 1e-5 in pCTR.
#[test]
fn shape_grid_converts_within_budget() {
    let dir = Dir::new("grid");
    let grid = [
        config(1, 1, 0, 0, &[8], &[], false),
        config(4, 2, 1, 0, &[16, 8], &[6], true),
        config(8, 3, 3, 5, &[12], &[4], false),
        config(1, 3, 3, 0, &[], &[5], true),
        config(4, 1, 3, 3, &[10, 6], &[], false),
        config(8, 2, 0, 0, &[9], &[7, 3], true),
        config(4, 3, 1, 2, &[], &[], false),
    ];
    for (i, cfg) in grid.iter().enumerate() {
        let nnef = export(&dir, cfg, 100 + i as u64);
        for mode in [Mode::F32, Mode::F16, Mode::Int8, Mode::Int8Static] {
            let (bytes, rep) =
                run(&nnef, cfg, mode).unwrap_or_else(|e| panic!("{}: {e}", cfg.name));
            assert!(
                rep.failures.is_empty(),
                "{} {mode:?}: {:?}",
                cfg.name,
                rep.failures
            );
            assert_eq!(rep.pairs, 300 + 30 * 20);
            let model = Model::from_bytes(&bytes).unwrap();
            assert_eq!(model.config(), cfg);
            match mode {
                Mode::F32 => assert!(rep.max_dp < 1e-5, "{}: {}", cfg.name, rep.max_dp),
                Mode::F16 => assert!(rep.max_dp < 1e-2, "{}: {}", cfg.name, rep.max_dp),
                Mode::Int8 | Mode::Int8Static => {
                    // Fixed scales clip the rare values beyond their percentile: a larger
                    // worst case on these random weights (the budget above still holds).
                    let max = if mode == Mode::Int8 { 5e-2 } else { 1e-1 };
                    assert!(rep.max_dp < max, "{}: {}", cfg.name, rep.max_dp);
                    assert!(rep.bytes < rep.f32_bytes, "{}", cfg.name);
                }
            }
            // Calibrated scales are stored exactly when the mode asks for them.
            assert_eq!(
                model.activation_scales().is_some(),
                mode == Mode::Int8Static,
                "{} {mode:?}",
                cfg.name
            );
            // The scores differ at all: quantization is really in the loop.
            if mode != Mode::F32 {
                assert!(rep.max_dp > 0.0, "{} {mode:?}", cfg.name);
            }
        }
    }
}

/// A file that is not the NNEF's model fails verification: the check can fail.
#[test]
fn verification_catches_a_wrong_weight() {
    let dir = Dir::new("wrong");
    let cfg = config(4, 2, 1, 0, &[8], &[4], false);
    let nnef = export(&dir, &cfg, 3);
    let mut spec = read_nnef(&nnef, &cfg).unwrap();
    assert_eq!(spec, ModelSpec::random(cfg.clone(), 3));
    spec.linears[0].weight[7] += 0.5;
    let bytes = camoe::write_model(&spec, WriteOptions::F32).unwrap();
    let s = small();
    let table = Table::generate(&cfg, s.rows, 9);
    let rep = verify(
        &cfg,
        &nnef,
        &bytes,
        Mode::F32,
        &table,
        &s,
        &Budget::default(),
        &|_| {},
    )
    .unwrap();
    assert!(rep.max_dp > 1e-5);
    assert!(
        rep.failures.iter().any(|f| f.contains("max |ΔpCTR|")),
        "{:?}",
        rep.failures
    );
    // Swapped scores break the ranking budget of a quantized mode too.
    let strict = Budget {
        top10: 1.0,
        ..Budget::default()
    };
    spec.linears
        .last_mut()
        .unwrap()
        .weight
        .iter_mut()
        .for_each(|w| *w = -*w);
    let bytes = camoe::write_model(&spec, WriteOptions::INT8).unwrap();
    let rep = verify(
        &cfg,
        &nnef,
        &bytes,
        Mode::Int8,
        &table,
        &s,
        &strict,
        &|_| {},
    )
    .unwrap();
    assert!(
        rep.top10_mean < 0.9 && rep.tau_mean < 0.5,
        "{} {}",
        rep.top10_mean,
        rep.tau_mean
    );
    assert!(!rep.failures.is_empty());
}

/// Labelled rows give per-format AUC-PR and log-loss deltas.
#[test]
fn labelled_rows_give_per_format_metrics() {
    let dir = Dir::new("labels");
    let cfg = config(4, 2, 1, 0, &[8], &[4], false);
    let nnef = export(&dir, &cfg, 4);
    let mut table = Table::generate(&cfg, 600, 2);
    let mut rng = SplitMix(8);
    table.label = Some((0..600).map(|_| (rng.below(5) == 0) as u8 as f32).collect());
    let csv = dir.0.join("rows.csv");
    let mut text = cfg
        .fields
        .iter()
        .map(|f| f.name.clone())
        .collect::<Vec<_>>()
        .join(",");
    text += ",task,click\n";
    for r in 0..table.len() {
        text += &table.values[r].join(",");
        text += &format!(
            ",{},{}\n",
            cfg.tasks[table.task[r]].name,
            table.label.as_ref().unwrap()[r]
        );
    }
    std::fs::write(&csv, text).unwrap();
    let read = Table::read_csv(&cfg, &csv, usize::MAX).unwrap();
    assert_eq!(read.values, table.values);
    assert_eq!(read.task, table.task);
    assert_eq!(read.label, table.label);
    let s = Sample {
        rows: 600,
        ..small()
    };
    let (_, rep) = convert(
        &nnef,
        &cfg,
        Mode::Int8,
        None,
        &read,
        &s,
        &Budget::default(),
        (Calibration::default(), &read),
        &|_| {},
    )
    .unwrap();
    assert_eq!(rep.formats.len(), 3);
    assert_eq!(rep.formats.iter().map(|f| f.rows).sum::<usize>(), 600);
    for f in &rep.formats {
        assert!(
            f.auc_pr_float > 0.0 && f.auc_pr > 0.0 && f.log_loss > 0.0,
            "{f:?}"
        );
    }
}

/// Rewrites `graph.nnef` inside an archive with `edit`.
fn edit_graph(src: &Path, dst: &Path, edit: impl Fn(String) -> String) {
    edit_archive(src, dst, edit, &[]);
}

/// [`edit_graph`], also renaming the archive's files `renames` (from, to).
fn edit_archive(src: &Path, dst: &Path, edit: impl Fn(String) -> String, renames: &[(&str, &str)]) {
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(
        std::fs::File::open(src).unwrap(),
    ));
    let out = flate2::write::GzEncoder::new(
        std::fs::File::create(dst).unwrap(),
        flate2::Compression::fast(),
    );
    let mut b = tar::Builder::new(out);
    for entry in ar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut path = entry.path().unwrap().into_owned();
        if let Some(&(_, to)) = renames.iter().find(|(from, _)| path.to_str() == Some(from)) {
            path = to.into();
        }
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if path.to_str() == Some("graph.nnef") {
            data = edit(String::from_utf8(data).unwrap()).into_bytes();
        }
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        b.append_data(&mut h, &path, &data[..]).unwrap();
    }
    b.into_inner().unwrap().finish().unwrap();
}

/// Malformed or unsupported NNEF: one error line naming the tensor, input or
/// operator, and no panic.
#[test]
fn bad_nnef_gives_one_clear_line() {
    let dir = Dir::new("bad");
    let cfg = config(4, 2, 1, 0, &[8], &[4], false);
    let nnef = export(&dir, &cfg, 6);
    let p = |n: &str| dir.0.join(n);
    let expect = |path: &Path, cfg: &ModelConfig, needle: &str| {
        let e = read_nnef(path, cfg).expect_err(needle);
        assert!(!e.contains('\n'), "not one line: {e}");
        assert!(e.contains(needle), "`{needle}` not in: {e}");
    };
    // Not an archive; truncated; absent.
    std::fs::write(p("junk.nnef.tgz"), b"not a model").unwrap();
    expect(&p("junk.nnef.tgz"), &cfg, "cannot load as NNEF");
    let full = std::fs::read(&nnef).unwrap();
    std::fs::write(p("cut.nnef.tgz"), &full[..full.len() / 2]).unwrap();
    expect(&p("cut.nnef.tgz"), &cfg, "cannot load as NNEF");
    expect(&p("nope.nnef.tgz"), &cfg, "no such file");
    // An operator outside the contract (tanh instead of the ReLU's max).
    edit_graph(&nnef, &p("tanh.nnef.tgz"), |g| {
        let i = g.find("expert0_mlp0_relu = max(").unwrap();
        let j = i + g[i..].find(';').unwrap();
        format!(
            "{}expert0_mlp0_relu = tanh(expert0_mlp0_add){}",
            &g[..i],
            &g[j..]
        )
    });
    expect(&p("tanh.nnef.tgz"), &cfg, "Tanh");
    // A renamed variable (identifier, label and file): the config's tensor is missing.
    let rename = |g: String| {
        g.replace("expert2_mlp0_w =", "expert2_mlp0_weight =")
            .replace("(expert2_mlp0_w,", "(expert2_mlp0_weight,")
            .replace(", expert2_mlp0_w,", ", expert2_mlp0_weight,")
    };
    edit_archive(
        &nnef,
        &p("renamed.nnef.tgz"),
        |g| rename(g).replace("\"expert2_mlp0_w\"", "\"expert2_mlp0_weight\""),
        &[("expert2_mlp0_w.dat", "expert2_mlp0_weight.dat")],
    );
    expect(
        &p("renamed.nnef.tgz"),
        &cfg,
        "tensor `expert2_mlp0_w` is missing",
    );
    // Renaming only the graph's identifier keeps the variable: its label names it.
    edit_graph(&nnef, &p("ident.nnef.tgz"), rename);
    read_nnef(&p("ident.nnef.tgz"), &cfg).unwrap();
    // Config and graph disagree: shape, count, inputs.
    let mut wide = cfg.clone();
    if let FieldKind::Categorical { vocab, .. } = &mut wide.fields[0].kind {
        *vocab = 98;
    }
    expect(&nnef, &wide, "emb_user");
    let mut fewer = cfg.clone();
    fewer.arch.experts = 3;
    expect(&nnef, &fewer, "group0_gate_w");
    // A layer the config does not have (same widths otherwise).
    let deeper = config(4, 2, 1, 0, &[8, 8], &[4], false);
    let deeper_nnef = export(&dir, &deeper, 6);
    expect(&deeper_nnef, &cfg, "expert0_mlp1_");
    let mut more = cfg.clone();
    more.arch.expert_mlp = vec![8, 4];
    expect(&nnef, &more, "expert0_mlp1_w");
    let mut renamed = cfg.clone();
    renamed.fields[1].name = "minutes_played".into();
    expect(&nnef, &renamed, "inputs");
    let mut groups = cfg.clone();
    groups.groups.push("g2".into());
    expect(&nnef, &groups, "logits");
}

/// The shipped demo files are this command's output from the shipped NNEF, and
/// each passes verification on rows generated from the schema.
#[test]
fn shipped_demo_files_come_from_the_nnef() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("models");
    let cfg = crate::config::read(&root.join("camoe-demo.config.json")).unwrap();
    let nnef = root.join("camoe-demo.nnef.tgz");
    let s = Sample::default();
    let table = Table::generate(&cfg, s.rows, s.seed);
    for (mode, file) in [
        (Mode::Int8, "camoe-demo.camoe"),
        (Mode::F16, "camoe-demo.f16.camoe"),
    ] {
        let (bytes, rep) = convert(
            &nnef,
            &cfg,
            mode,
            None,
            &table,
            &s,
            &Budget::default(),
            (Calibration::default(), &table),
            &|_| {},
        )
        .unwrap();
        assert!(rep.failures.is_empty(), "{mode:?}: {:?}", rep.failures);
        let shipped = std::fs::read(root.join(file)).unwrap();
        assert!(
            bytes == shipped,
            "models/{file} is not `camoe convert`'s output; regenerate it (models/README.md)"
        );
    }
}
