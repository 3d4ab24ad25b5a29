//! Open Bandit Dataset (ZOZOTOWN, Saito et al. 2021) loader: the sample shipped in
//! the `obp==0.4.1` wheel under `obp/dataset/obd/{random,bts}/{all,men,women}/`.
//! Each campaign becomes a task (and a "format" for per-format metrics); the
//! logging policy becomes a request field. Converts to the trainer's CSV layout.

use camoe::spec::{Architecture, FieldSpec, ModelConfig, Side, TaskSpec};
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

pub const CAMPAIGNS: [&str; 3] = ["all", "men", "women"];
pub const POLICIES: [&str; 2] = ["random", "bts"];

/// The schema of the converted data: campaigns `all` (group 0) and the
/// gender-targeted `men`, `women` (group 1).
pub fn config() -> ModelConfig {
    let cat = FieldSpec::categorical;
    use Side::{Candidate as C, Request as R};
    let fields = vec![
        cat("policy", R, 4, 2),
        cat("user_feature_0", R, 64, 4),
        cat("user_feature_1", R, 64, 4),
        cat("user_feature_2", R, 256, 8),
        cat("user_feature_3", R, 256, 8),
        cat("hour_of_day", R, 32, 4),
        cat("item_id", C, 256, 8),
        cat("position", C, 4, 2),
        FieldSpec::dense("item_feature_0", C, 0.0, 1.0, 8.0),
        cat("item_feature_1", C, 64, 4),
        cat("item_feature_2", C, 64, 4),
        cat("item_feature_3", C, 64, 4),
    ];
    let task = TaskSpec::new;
    ModelConfig {
        name: "camoe-obd".into(),
        hash_seed: 0x00ca_50e0_0000_0b0d,
        formats: CAMPAIGNS.iter().map(|s| s.to_string()).collect(),
        fields,
        groups: vec!["all".into(), "gender".into()],
        tasks: vec![task("all", 0, 0), task("men", 1, 1), task("women", 2, 1)],
        arch: Architecture {
            experts: 4,
            cross_layers: 1,
            cross_rank: 0,
            expert_mlp: vec![32, 16],
            tower: vec![8],
        },
    }
}

fn split_line(l: &str) -> Vec<&str> {
    l.trim_end_matches(['\r', '\n']).split(',').collect()
}

/// One logged impression, as output columns.
struct Row {
    ts: String,
    values: Vec<String>,
    click: String,
}

/// Reads one campaign/policy log joined with its item features.
fn read_log(dir: &Path, policy: &str, campaign: &str) -> Result<Vec<Row>, String> {
    let d = dir.join(policy).join(campaign);
    let items_text = std::fs::read_to_string(d.join("item_context.csv"))
        .map_err(|e| format!("{}: {e}", d.display()))?;
    let mut lines = items_text.lines();
    let ih = split_line(lines.next().ok_or("empty item_context.csv")?);
    let icol = |n: &str| {
        ih.iter()
            .position(|c| *c == n)
            .ok_or(format!("item_context.csv: no column {n}"))
    };
    let (iid, f0, f1, f2, f3) = (
        icol("item_id")?,
        icol("item_feature_0")?,
        icol("item_feature_1")?,
        icol("item_feature_2")?,
        icol("item_feature_3")?,
    );
    let mut items: HashMap<String, [String; 4]> = HashMap::new();
    for l in lines {
        let p = split_line(l);
        items.insert(
            p[iid].to_string(),
            [
                p[f0].to_string(),
                p[f1].to_string(),
                p[f2].to_string(),
                p[f3].to_string(),
            ],
        );
    }
    let log = std::fs::read_to_string(d.join(format!("{campaign}.csv")))
        .map_err(|e| format!("{}: {e}", d.display()))?;
    let mut lines = log.lines();
    let h = split_line(lines.next().ok_or("empty log")?);
    let col = |n: &str| {
        h.iter()
            .position(|c| *c == n)
            .ok_or(format!("{campaign}.csv: no column {n}"))
    };
    let (ts, item, pos, click) = (
        col("timestamp")?,
        col("item_id")?,
        col("position")?,
        col("click")?,
    );
    let uf: Vec<usize> = (0..4)
        .map(|k| col(&format!("user_feature_{k}")))
        .collect::<Result<_, _>>()?;
    let mut rows = Vec::new();
    for l in lines {
        let p = split_line(l);
        if p.len() != h.len() {
            return Err(format!("{campaign}.csv: bad row"));
        }
        let it = items
            .get(p[item])
            .ok_or(format!("unknown item {}", p[item]))?;
        // "2019-11-24 00:00:34.76+00:00" → hour "00".
        let hour = p[ts].get(11..13).unwrap_or("").to_string();
        let mut values = vec![policy.to_string()];
        values.extend(uf.iter().map(|&c| p[c].to_string()));
        values.push(hour);
        values.push(format!("{campaign}:{}", p[item]));
        values.push(p[pos].to_string());
        values.push(it[0].clone());
        values.extend(it[1..].iter().cloned());
        rows.push(Row {
            ts: p[ts].to_string(),
            values,
            click: p[click].to_string(),
        });
    }
    Ok(rows)
}

/// Converts every campaign × policy log under `obd_dir` into `out/{train,valid,test}.csv`
/// (per log: first 70% of impressions by time to train, next 10% to valid, last 20% to
/// test) plus `out/obd.config.json`. Returns the row counts.
pub fn convert(obd_dir: &Path, out: &Path) -> Result<[usize; 3], String> {
    let cfg = config();
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let names = ["train", "valid", "test"];
    let mut files = Vec::new();
    let header: Vec<String> = cfg
        .fields
        .iter()
        .map(|f| f.name.clone())
        .chain(["task".into(), "click".into()])
        .collect();
    for n in names {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(out.join(format!("{n}.csv"))).map_err(|e| e.to_string())?,
        );
        writeln!(f, "{}", header.join(",")).map_err(|e| e.to_string())?;
        files.push(f);
    }
    let mut counts = [0usize; 3];
    for campaign in CAMPAIGNS {
        for policy in POLICIES {
            let mut rows = read_log(obd_dir, policy, campaign)?;
            rows.sort_by(|a, b| a.ts.cmp(&b.ts));
            let n = rows.len();
            for (i, r) in rows.iter().enumerate() {
                let s = if i < n * 7 / 10 {
                    0
                } else if i < n * 8 / 10 {
                    1
                } else {
                    2
                };
                writeln!(files[s], "{},{campaign},{}", r.values.join(","), r.click)
                    .map_err(|e| e.to_string())?;
                counts[s] += 1;
            }
            eprintln!("obd: {policy}/{campaign}: {n} impressions");
        }
    }
    for mut f in files {
        f.flush().map_err(|e| e.to_string())?;
    }
    crate::config::write(&cfg, serde_json::Value::Null, &out.join("obd.config.json"))
        .map_err(|e| e.to_string())?;
    Ok(counts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_the_fixture_into_trainable_splits() {
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/obd");
        let out = std::env::temp_dir().join(format!("camoe-obd-test-{}", std::process::id()));
        let counts = convert(&fixture, &out).unwrap();
        // 6 logs of 10 rows: 7 / 1 / 2 each.
        assert_eq!(counts, [42, 6, 12]);
        let cfg = crate::config::read(&out.join("obd.config.json")).unwrap();
        assert_eq!(cfg, config());
        let train = crate::data::Dataset::read_csv(&cfg, &out.join("train.csv")).unwrap();
        assert_eq!(train.len(), 42);
        // Every campaign is its own task; clicks survive the conversion.
        for t in 0..3 {
            assert_eq!(train.task.iter().filter(|&&x| x as usize == t).count(), 14);
        }
        let test = crate::data::Dataset::read_csv(&cfg, &out.join("test.csv")).unwrap();
        assert_eq!(test.label.iter().filter(|&&y| y > 0.5).count(), 3);
        // The dense item feature is carried through (fixture: item 1 has −0.5).
        assert!(train.dense[0].iter().any(|&x| (x + 0.5).abs() < 1e-6));
        std::fs::remove_dir_all(&out).ok();
    }
}
