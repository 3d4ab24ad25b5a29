//! The rows `camoe convert` verifies on: a [`Table`] of raw impressions (labelled
//! CSV rows or rows generated from the schema) and the (request, candidate) pairs
//! drawn from it as [`Sample`] asks.

use crate::data::read_csv_rows;
use camoe::hash::SplitMix;
use camoe::spec::{FieldKind, Missing, ModelConfig, Side};
use std::path::Path;

/// Raw impressions: per row, every config field's value as text ("" = missing).
#[derive(Clone, Debug, Default)]
pub struct Table {
    pub values: Vec<Vec<String>>,
    pub task: Vec<usize>,
    pub label: Option<Vec<f32>>,
}

impl Table {
    pub fn len(&self) -> usize {
        self.task.len()
    }
    pub fn is_empty(&self) -> bool {
        self.task.is_empty()
    }

    /// Reads up to `max_rows` rows of a CSV as `camoe train` reads it
    /// ([`crate::data::read_csv_rows`]); labelled when it has a `click` column.
    pub fn read_csv(cfg: &ModelConfig, path: &Path, max_rows: usize) -> Result<Table, String> {
        let mut t = Table::default();
        let mut labels = Vec::new();
        let labelled = read_csv_rows(cfg, path, max_rows, false, |vals, task, click, _| {
            t.values.push(vals.iter().map(|v| v.to_string()).collect());
            t.task.push(task);
            labels.push(click);
        })?;
        if t.is_empty() {
            return Err(format!("{}: no rows", path.display()));
        }
        t.label = labelled.then_some(labels);
        Ok(t)
    }

    /// `n` unlabelled rows drawn from the schema: categorical values from a space
    /// twice the vocabulary, dense values around the field's mean, ~4 % missing where
    /// the field allows it, tasks uniform.
    pub fn generate(cfg: &ModelConfig, n: usize, seed: u64) -> Table {
        let mut rng = SplitMix(seed);
        let mut t = Table::default();
        for _ in 0..n {
            let vals = cfg
                .fields
                .iter()
                .map(|f| {
                    if f.missing == Missing::UseDefault && rng.below(25) == 0 {
                        return String::new();
                    }
                    match f.kind {
                        FieldKind::Categorical { vocab, .. } => {
                            format!("v{}", rng.below(2 * vocab as u64))
                        }
                        FieldKind::Dense { mean, std, .. } => {
                            format!("{}", mean + 1.5 * std * rng.normal())
                        }
                    }
                })
                .collect();
            t.values.push(vals);
            t.task.push(rng.below(cfg.tasks.len() as u64) as usize);
        }
        t
    }
}

/// How the sample rows are chosen.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Rows scored one request each (the labelled data when given).
    pub rows: usize,
    /// Rankings: `requests` × `candidates` pairs drawn from the rows.
    pub requests: usize,
    pub candidates: usize,
    pub seed: u64,
    pub expert_top_k: usize,
}

impl Default for Sample {
    fn default() -> Self {
        Sample {
            rows: 2000,
            requests: 200,
            candidates: 50,
            seed: 1,
            expert_top_k: 0,
        }
    }
}

/// Scored (request, candidate) pairs: request fields from row `req`, candidate fields
/// and task from row `cand`. Consecutive pairs with the same `group` are one request.
/// The first `rows` requests are single rows scored alone; the rankings follow.
#[derive(Clone, Debug, Default)]
pub(super) struct Pairs {
    pub req: Vec<usize>,
    pub cand: Vec<usize>,
    group: Vec<usize>,
    pub rows: usize,
}

impl Pairs {
    /// Each of the first `s.rows` rows as its own request, then `s.requests` rankings
    /// of `s.candidates` candidates: the request fields of one random row, the
    /// candidate fields and task of others.
    pub fn draw(table: &Table, s: &Sample) -> Pairs {
        let mut pairs = Pairs {
            rows: table.len().min(s.rows),
            ..Pairs::default()
        };
        for r in 0..pairs.rows {
            pairs.push(r, r, r);
        }
        let mut rng = SplitMix(s.seed);
        let n = table.len() as u64;
        for q in 0..s.requests {
            let req = rng.below(n) as usize;
            for _ in 0..s.candidates {
                pairs.push(req, rng.below(n) as usize, pairs.rows + q);
            }
        }
        pairs
    }
    fn push(&mut self, req: usize, cand: usize, group: usize) {
        self.req.push(req);
        self.cand.push(cand);
        self.group.push(group);
    }
    pub fn len(&self) -> usize {
        self.req.len()
    }
    /// Ranges of consecutive pairs forming one request.
    pub fn requests(&self) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut s = 0;
        for i in 1..=self.len() {
            if i == self.len() || self.group[i] != self.group[s] {
                out.push(s..i);
                s = i;
            }
        }
        out
    }
    /// Field `i`'s raw value in pair `k` (from its request or its candidate row).
    pub fn value<'a>(&self, cfg: &ModelConfig, t: &'a Table, k: usize, i: usize) -> &'a str {
        let row = match cfg.fields[i].side {
            Side::Request => self.req[k],
            Side::Candidate => self.cand[k],
        };
        &t.values[row][i]
    }
}
