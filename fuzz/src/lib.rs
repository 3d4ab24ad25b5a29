//! Shared by the fuzz targets: a tiny model, a fixed request that fits any model, a
//! reader that turns fuzzer bytes into features, candidates and options, and the
//! checks every successful ranking must pass.

use std::sync::Arc;

use camoe::spec::{Architecture, FieldKind, FieldSpec, Missing, ModelConfig, Side, TaskSpec};
use camoe::{Candidate, Feature, Model, Objective, RankOptions, Session, Value};

/// A small config touching every feature path: categorical and dense fields on both
/// sides, a `Missing::Error` field per side, three formats, two groups, a low-rank cross.
pub fn tiny_config() -> ModelConfig {
    let cat = FieldSpec::categorical;
    let dense = |n: &str, side| FieldSpec::dense(n, side, 1.0, 2.0, 3.0);
    let must = |mut f: FieldSpec| {
        f.missing = Missing::Error;
        f
    };
    ModelConfig {
        name: "fuzz".into(),
        hash_seed: 0x5eed,
        formats: vec!["audio".into(), "video".into(), "display".into()],
        fields: vec![
            cat("user", Side::Request, 20, 3),
            dense("minutes", Side::Request),
            must(cat("device", Side::Request, 4, 2)),
            cat("ad", Side::Candidate, 30, 4),
            dense("length", Side::Candidate),
            must(cat("category", Side::Candidate, 6, 2)),
        ],
        groups: vec!["g0".into(), "g1".into()],
        tasks: (0..5u32)
            .map(|t| TaskSpec {
                name: format!("task{t}"),
                format: t % 3,
                group: t % 2,
                calib_a: 1.0 + 0.25 * t as f32,
                calib_b: -0.5 * t as f32,
            })
            .collect(),
        arch: Architecture {
            experts: 3,
            cross_layers: 1,
            cross_rank: 2,
            expert_mlp: vec![6],
            tower: vec![4],
        },
    }
}

/// A valid value for every field of `side` of `cfg` (so `Missing::Error` never fires).
pub fn fixed_features(cfg: &ModelConfig, side: Side) -> Vec<Feature<'static>> {
    cfg.fields
        .iter()
        .enumerate()
        .filter(|(_, f)| f.side == side)
        .map(|(i, f)| match f.kind {
            FieldKind::Categorical { .. } => Feature::id(i as u32, i as u64 * 7919 + 1),
            FieldKind::Dense { .. } => Feature::dense(i as u32, 0.5),
        })
        .collect()
}

/// Opens a session on `model`, sets the fixed request and ranks a fixed slate (one
/// candidate per task, up to 8), checking the result. Any valid model must rank it.
pub fn rank_fixed(model: Arc<Model>) {
    let cfg = model.config().clone();
    let mut session = Session::new(model, 8).expect("a loaded model opens a session");
    session
        .set_request(&fixed_features(&cfg, Side::Request))
        .expect("the fixed request fits every model");
    let cand = fixed_features(&cfg, Side::Candidate);
    let list: Vec<Candidate> = (0..cfg.tasks.len().min(8))
        .map(|t| Candidate {
            task: t as u32,
            bid: 1.0 + t as f32,
            features: &cand,
        })
        .collect();
    for objective in [Objective::Pctr, Objective::ExpectedValue] {
        let opts = RankOptions {
            objective,
            ..RankOptions::default()
        };
        let (mut scores, mut order) = (vec![0.0; list.len()], vec![0; list.len()]);
        let got = session
            .rank(&list, &opts, &mut scores, &mut order)
            .expect("the fixed slate ranks on every model");
        // A loaded model's f32 weights may overflow to NaN scores: only the order's
        // structure is checked here (the `rank` target checks values on a sane model).
        check_ranking(&cfg, &list, &opts, &scores, &order, got, false);
    }
}

/// Checks what `Session::rank` promises on success: NaN exactly for ineligible
/// candidates, `got` = min(top_k or eligible, order.len()) distinct eligible indices,
/// best first by the objective (ties: lower index). `probabilities`: every eligible
/// score must be a number in [0, 1].
pub fn check_ranking(
    cfg: &ModelConfig,
    list: &[Candidate],
    opts: &RankOptions,
    scores: &[f32],
    order: &[u32],
    got: usize,
    probabilities: bool,
) {
    let eligible = |i: usize| {
        let f = cfg.tasks[list[i].task as usize].format;
        f < 32 && opts.eligible_formats & (1 << f) != 0
    };
    let rows = (0..list.len()).filter(|&i| eligible(i)).count();
    for (i, s) in scores[..list.len()].iter().enumerate() {
        if !eligible(i) {
            assert!(s.is_nan(), "ineligible candidate {i} scored {s}");
        } else if probabilities {
            assert!((0.0..=1.0).contains(s), "candidate {i} scored {s}");
        }
    }
    let want = match opts.top_k {
        0 => rows,
        k => k.min(rows),
    }
    .min(order.len());
    assert_eq!(got, want, "rank returned {got}, expected {want}");
    let key = |i: u32| {
        let p = scores[i as usize];
        match opts.objective {
            Objective::Pctr => p,
            Objective::ExpectedValue => list[i as usize].bid * p,
        }
    };
    let mut seen = vec![false; list.len()];
    for (k, &i) in order[..got].iter().enumerate() {
        assert!((i as usize) < list.len(), "order[{k}] = {i} out of range");
        assert!(!seen[i as usize], "candidate {i} ordered twice");
        seen[i as usize] = true;
        assert!(eligible(i as usize), "ineligible candidate {i} ordered");
        if k > 0 {
            let j = order[k - 1];
            let ok = key(j).total_cmp(&key(i)).then(i.cmp(&j)).is_gt();
            assert!(ok, "order[{}] = {j} before order[{k}] = {i}", k - 1);
        }
    }
    // Nothing left out ranks better than the last one kept.
    if let Some(&last) = order[..got].last() {
        for i in (0..list.len() as u32).filter(|&i| eligible(i as usize) && !seen[i as usize]) {
            let worse = key(last).total_cmp(&key(i)).then(i.cmp(&last)).is_gt();
            assert!(
                worse,
                "candidate {i} left out but beats order's last {last}"
            );
        }
    }
}

/// Reads fuzzer bytes front to back; past the end every read is 0, so any input decodes.
pub struct Bytes<'a>(pub &'a [u8]);

impl<'a> Bytes<'a> {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let n = n.min(self.0.len());
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        head
    }

    pub fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }

    pub fn u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        let src = self.take(4);
        b[..src.len()].copy_from_slice(src);
        u32::from_le_bytes(b)
    }

    pub fn u64(&mut self) -> u64 {
        self.u32() as u64 | (self.u32() as u64) << 32
    }

    /// A float, mostly from a short list of edge cases, else any bit pattern.
    pub fn f32(&mut self) -> f32 {
        const EDGES: [f32; 8] = [
            0.0,
            1.0,
            2.5,
            -1.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
        ];
        match self.u8() {
            b if (b as usize) < EDGES.len() * 16 => EDGES[b as usize / 16],
            _ => f32::from_bits(self.u32()),
        }
    }

    /// Up to `max` features with fields drawn from `0..fields + 2` (so some do not
    /// exist) and values of every kind, including ones the field's kind refuses.
    pub fn features(&mut self, fields: usize, max: usize) -> Vec<Feature<'a>> {
        let n = self.u8() as usize % (max + 1);
        (0..n)
            .map(|_| {
                let field = (self.u8() as usize % (fields + 2)) as u32;
                let value = match self.u8() % 4 {
                    0 => Value::Missing,
                    1 => Value::Id(self.u64()),
                    2 => {
                        let len = self.u8() as usize % 9;
                        Value::Str(self.take(len))
                    }
                    _ => Value::Dense(self.f32()),
                };
                Feature { field, value }
            })
            .collect()
    }

    pub fn options(&mut self, experts: usize) -> RankOptions {
        let flags = self.u8();
        RankOptions {
            top_k: self.u8() as usize % 10,
            objective: if flags & 1 == 0 {
                Objective::Pctr
            } else {
                Objective::ExpectedValue
            },
            // Low bits select the model's formats; bit 7 of the byte reaches bit 31.
            eligible_formats: {
                let b = self.u8() as u32;
                (b & 0x7f) | (b & 0x80) << 24
            },
            expert_top_k: self.u8() as usize % (experts + 2),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use camoe::{write_model, ModelSpec, WriteOptions};

    /// The loader's seed corpus: the tiny model in each weight type, behind a first
    /// byte of 1 (the target then keeps the checksum right while it mutates).
    /// `CAMOE_WRITE_SEEDS=1 cargo test --manifest-path fuzz/Cargo.toml` rewrites them.
    #[test]
    fn loader_seeds_are_current_and_rank() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds/loader");
        let spec = ModelSpec::random(tiny_config(), 11);
        let opts = [
            ("tiny-f32", WriteOptions::F32),
            ("tiny-f16", WriteOptions::F16),
            ("tiny-int8", WriteOptions::INT8),
        ];
        for (name, o) in opts {
            let file = write_model(&spec, o).unwrap();
            rank_fixed(Model::from_bytes(&file).unwrap());
            let seed = [&[1u8][..], &file].concat();
            let path = dir.join(name);
            if std::env::var_os("CAMOE_WRITE_SEEDS").is_some() {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, &seed).unwrap();
            }
            let committed = std::fs::read(&path).expect("seed missing: set CAMOE_WRITE_SEEDS=1");
            assert!(committed == seed, "{} is stale", path.display());
        }
    }
}
