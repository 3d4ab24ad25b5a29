//! Impression data as the trainer sees it: every categorical value hashed to its
//! embedding row exactly as the runtime hashes it, every dense value normalized.

use camoe::hash::{bucket, field_seed, hash_bytes};
use camoe::spec::{FieldKind, ModelConfig};
use std::io::BufRead;

/// Columnar, already-encoded impressions.
#[derive(Clone, Debug, Default)]
pub struct Dataset {
    /// Per categorical field (x0 order): embedding row of each impression.
    pub cat: Vec<Vec<u32>>,
    /// Per dense field (x0 order): normalized value of each impression.
    pub dense: Vec<Vec<f32>>,
    pub task: Vec<u16>,
    pub label: Vec<f32>,
    /// The simulator's true click probability; NaN when unknown (real logs).
    pub p_true: Vec<f32>,
    /// Content kind of the request (music 0, podcast 1, audiobook 2, video 3), for
    /// the content-based grouping baseline.
    pub content: Vec<u8>,
}

/// Turns field values (strings) into rows and normalized floats.
#[derive(Clone, Debug)]
pub struct Encoder {
    /// (config field index, kind) in x0 order.
    order: Vec<(usize, FieldKind)>,
    seed: u64,
    content_field: Option<usize>,
}

pub fn content_kind(v: &str) -> u8 {
    match v {
        "podcast" => 1,
        "audiobook" => 2,
        "video" => 3,
        _ => 0,
    }
}

impl Encoder {
    pub fn new(cfg: &ModelConfig) -> Encoder {
        Encoder {
            order: cfg
                .x0_order()
                .into_iter()
                .map(|i| (i, cfg.fields[i].kind))
                .collect(),
            seed: cfg.hash_seed,
            content_field: cfg.fields.iter().position(|f| f.name == "content_type"),
        }
    }

    pub fn n_cat(&self) -> usize {
        self.order
            .iter()
            .filter(|(_, k)| matches!(k, FieldKind::Categorical { .. }))
            .count()
    }

    /// Row of categorical value `v` of config field `i` (0 when empty = missing).
    pub fn row(&self, i: usize, vocab: u32, v: &str) -> u32 {
        if v.is_empty() {
            0
        } else {
            bucket(
                hash_bytes(v.as_bytes(), self.seed),
                field_seed(self.seed, i as u32),
                vocab,
            )
        }
    }

    /// Appends one impression; `values[i]` is config field i's value ("" = missing).
    pub fn push(&self, ds: &mut Dataset, values: &[&str], task: usize, click: f32, p_true: f32) {
        if ds.cat.is_empty() && ds.dense.is_empty() {
            ds.cat = vec![Vec::new(); self.n_cat()];
            ds.dense = vec![Vec::new(); self.order.len() - self.n_cat()];
        }
        let (mut c, mut d) = (0, 0);
        for &(i, kind) in &self.order {
            let v = values[i];
            match kind {
                FieldKind::Categorical { vocab, .. } => {
                    ds.cat[c].push(self.row(i, vocab, v));
                    c += 1;
                }
                FieldKind::Dense { mean, std, clip } => {
                    let x = match v.parse::<f32>() {
                        Ok(x) if !v.is_empty() => ((x - mean) / std).clamp(-clip, clip),
                        _ => 0.0,
                    };
                    ds.dense[d].push(x);
                    d += 1;
                }
            }
        }
        ds.task.push(task as u16);
        ds.label.push(click);
        ds.p_true.push(p_true);
        ds.content
            .push(self.content_field.map_or(0, |f| content_kind(values[f])));
    }
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.label.len()
    }
    pub fn is_empty(&self) -> bool {
        self.label.is_empty()
    }

    /// The rows `idx` as a new dataset.
    pub fn subset(&self, idx: &[usize]) -> Dataset {
        Dataset {
            cat: self
                .cat
                .iter()
                .map(|c| idx.iter().map(|&i| c[i]).collect())
                .collect(),
            dense: self
                .dense
                .iter()
                .map(|c| idx.iter().map(|&i| c[i]).collect())
                .collect(),
            task: idx.iter().map(|&i| self.task[i]).collect(),
            label: idx.iter().map(|&i| self.label[i]).collect(),
            p_true: idx.iter().map(|&i| self.p_true[i]).collect(),
            content: idx.iter().map(|&i| self.content[i]).collect(),
        }
    }

    /// Simulated impressions, encoded for `cfg` (which must have the demo fields).
    pub fn from_sim(cfg: &ModelConfig, ims: &[crate::sim::Impression]) -> Dataset {
        let enc = Encoder::new(cfg);
        let mut ds = Dataset::default();
        let pos: Vec<usize> = cfg
            .fields
            .iter()
            .map(|f| {
                crate::sim::COLUMNS
                    .iter()
                    .position(|c| *c == f.name)
                    .unwrap_or(usize::MAX)
            })
            .collect();
        for im in ims {
            let vals = crate::sim::field_values(im);
            let v: Vec<&str> = pos
                .iter()
                .map(|&p| if p < 16 { vals[p].as_str() } else { "" })
                .collect();
            let task = crate::sim::PLACEMENTS[im.placement as usize].0;
            let t = cfg.tasks.iter().position(|t| t.name == task).unwrap_or(0);
            enc.push(&mut ds, &v, t, im.click as u8 as f32, im.p_true);
        }
        ds
    }

    /// Reads a CSV as [`read_csv_rows`] describes; the `click` column is required.
    pub fn read_csv(cfg: &ModelConfig, path: &std::path::Path) -> Result<Dataset, String> {
        let enc = Encoder::new(cfg);
        let mut ds = Dataset::default();
        read_csv_rows(cfg, path, usize::MAX, true, |vals, task, click, p| {
            enc.push(&mut ds, vals, task, click, p)
        })?;
        Ok(ds)
    }
}

/// Reads up to `max_rows` rows of a CSV with a header naming the config's fields (any
/// order; absent fields are missing) plus `task` (a task name), `click` (0/1; required
/// when `need_click`) and optionally `p_true`. Values must not contain commas or quotes.
/// Calls `row(values, task, click, p_true)` per row: `values[i]` is config field i's
/// text ("" = missing), click and p_true are NaN when their column is absent. Returns
/// whether the file has a `click` column.
pub fn read_csv_rows(
    cfg: &ModelConfig,
    path: &std::path::Path,
    max_rows: usize,
    need_click: bool,
    mut row: impl FnMut(&[&str], usize, f32, f32),
) -> Result<bool, String> {
    let f = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = std::io::BufReader::with_capacity(1 << 20, f).lines();
    let header = lines
        .next()
        .ok_or_else(|| format!("{}: empty file", path.display()))?
        .map_err(|e| e.to_string())?;
    let cols: Vec<&str> = header.trim_end().split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let field_col: Vec<Option<usize>> = cfg.fields.iter().map(|f| col(&f.name)).collect();
    let task_col = col("task").ok_or("no `task` column")?;
    let click_col = col("click");
    if need_click && click_col.is_none() {
        return Err("no `click` column".into());
    }
    let p_col = col("p_true");
    let t0 = std::time::Instant::now();
    let mut task_cache: Vec<(String, usize)> = Vec::new();
    for (ln, line) in lines.enumerate().take(max_rows) {
        let line = line.map_err(|e| e.to_string())?;
        let parts: Vec<&str> = line.trim_end().split(',').collect();
        if parts.len() != cols.len() {
            return Err(format!(
                "{}:{}: {} columns, expected {}",
                path.display(),
                ln + 2,
                parts.len(),
                cols.len()
            ));
        }
        let vals: Vec<&str> = field_col
            .iter()
            .map(|c| c.map_or("", |c| parts[c]))
            .collect();
        let tname = parts[task_col];
        let t = match task_cache.iter().find(|(n, _)| n == tname) {
            Some(&(_, t)) => t,
            None => {
                let t = cfg
                    .tasks
                    .iter()
                    .position(|t| t.name == tname)
                    .ok_or_else(|| format!("unknown task {tname}"))?;
                task_cache.push((tname.to_string(), t));
                t
            }
        };
        let click = match click_col {
            Some(c) => parts[c]
                .parse()
                .map_err(|_| format!("bad click at line {}", ln + 2))?,
            None => f32::NAN,
        };
        let p = p_col.map_or(f32::NAN, |c| parts[c].parse().unwrap_or(f32::NAN));
        row(&vals, t, click, p);
        if (ln + 1) % 500_000 == 0 {
            eprintln!(
                "read {}: {} rows, {:.0} rows/s",
                path.display(),
                ln + 1,
                (ln + 1) as f64 / t0.elapsed().as_secs_f64()
            );
        }
    }
    Ok(click_col.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_matches_the_runtime_hash() {
        let cfg = ModelConfig::demo();
        let enc = Encoder::new(&cfg);
        let device = cfg.fields.iter().position(|f| f.name == "device").unwrap();
        let expect = bucket(
            hash_bytes(b"phone", cfg.hash_seed),
            field_seed(cfg.hash_seed, device as u32),
            8,
        );
        assert_eq!(enc.row(device, 8, "phone"), expect);
        assert_eq!(enc.row(device, 8, ""), 0);
        let mut ds = Dataset::default();
        let mut vals = vec!["x"; cfg.fields.len()];
        let sm = cfg
            .fields
            .iter()
            .position(|f| f.name == "session_minutes")
            .unwrap();
        vals[sm] = "50";
        vals[device] = "phone";
        enc.push(&mut ds, &vals, 3, 1.0, 0.5);
        // session_minutes is the first dense field: (50 − 20) / 15 = 2.
        assert_eq!(ds.dense[0][0], 2.0);
        // device is the 4th categorical field in x0 order.
        assert_eq!(ds.cat[3][0], expect);
        assert_eq!(ds.task[0], 3);
    }
}
