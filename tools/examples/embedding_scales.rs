//! What per-column embedding scales would cost in accuracy, before building them into
//! the format: the demo model's tables are rounded to int8 with one scale per row (what
//! `.camoe` int8 stores) or one scale per column, kept as f32, with int8 linear layers,
//! and verified against tract like `camoe convert` does.
//!
//! ```sh
//! camoe simulate --out data/sim --n 2000000 --seed 1
//! cargo run --release -p camoe-tools --example embedding_scales -- row|column
//! ```
//!
//! `row` reproduces `camoe convert --mode int8`'s report exactly (a check of the method).

use camoe::format::{DType, WriteOptions};
use camoe::spec::FieldKind;
use camoe_tools::convert::{read_nnef, verify, Budget, Mode, Sample, Table};
use std::path::Path;

/// Rounds `v` to the int8 grid of `max |v| / 127` in place.
fn round(v: &mut [&mut f32]) {
    let s = v.iter().fold(0f32, |m, x| m.max(x.abs())) / 127.0;
    if s > 0.0 {
        for x in v.iter_mut() {
            **x = (**x / s).round().clamp(-127.0, 127.0) * s;
        }
    }
}

fn main() -> Result<(), String> {
    let per_column = match std::env::args().nth(1).as_deref() {
        Some("row") => false,
        Some("column") => true,
        _ => return Err("usage: embedding_scales row|column".into()),
    };
    let nnef = Path::new("models/camoe-demo.nnef.tgz");
    let cfg = camoe_tools::config::read(Path::new("models/camoe-demo.config.json"))?;
    let mut spec = read_nnef(nnef, &cfg)?;
    for (f, table) in cfg.fields.iter().zip(spec.embeddings.iter_mut()) {
        let (FieldKind::Categorical { dim, .. }, Some(t)) = (f.kind, table) else {
            continue;
        };
        let d = dim as usize;
        if per_column {
            for c in 0..d {
                round(&mut t.iter_mut().skip(c).step_by(d).collect::<Vec<_>>());
            }
        } else {
            for row in t.chunks_mut(d) {
                round(&mut row.iter_mut().collect::<Vec<_>>());
            }
        }
    }
    let opts = WriteOptions {
        linears: DType::I8,
        embeddings: DType::F32,
    };
    let bytes = camoe::write_model(&spec, opts).map_err(|e| e.to_string())?;
    let table = Table::read_csv(&cfg, Path::new("data/sim/test.csv"), 400_040)?;
    let s = Sample {
        rows: 400_040,
        ..Sample::default()
    };
    let rep = verify(
        &cfg,
        nnef,
        &bytes,
        Mode::Int8,
        &table,
        &s,
        &Budget::default(),
        &|_| {},
    )?;
    rep.print(&mut std::io::stdout()).map_err(|e| e.to_string())
}
