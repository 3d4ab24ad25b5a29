//! The model's configuration (schema, tasks, groups, architecture) and an owned,
//! float description of a whole model that the writer turns into a `.camoe` file.

use std::vec::Vec;

/// Which side of a ranking call a field belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Side {
    /// User or context: one value per request, shared by every candidate.
    Request = 0,
    /// The ad: one value per candidate.
    Candidate = 1,
}

/// What a field holds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FieldKind {
    /// Hashed into `vocab` rows (row 0 = missing) of an embedding table of width `dim`.
    Categorical { vocab: u32, dim: u32 },
    /// A float, normalized as `clamp((v - mean) / std, -clip, clip)`.
    Dense { mean: f32, std: f32, clip: f32 },
}

/// What happens when a field has no value in a request or candidate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Missing {
    /// Categorical: embedding row 0. Dense: the mean (normalized 0).
    UseDefault = 0,
    /// The call fails with `BadFeature`.
    Error = 1,
}

#[derive(Clone, Debug, PartialEq)]
pub struct FieldSpec {
    pub name: String,
    pub side: Side,
    pub kind: FieldKind,
    pub missing: Missing,
}

impl FieldSpec {
    /// A categorical field whose missing values use row 0.
    pub fn categorical(name: &str, side: Side, vocab: u32, dim: u32) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            side,
            kind: FieldKind::Categorical { vocab, dim },
            missing: Missing::UseDefault,
        }
    }

    /// A dense field whose missing values use the mean.
    pub fn dense(name: &str, side: Side, mean: f32, std: f32, clip: f32) -> FieldSpec {
        FieldSpec {
            name: name.into(),
            side,
            kind: FieldKind::Dense { mean, std, clip },
            missing: Missing::UseDefault,
        }
    }

    /// Width of this field's slice of x0.
    pub fn width(&self) -> usize {
        match self.kind {
            FieldKind::Categorical { dim, .. } => dim as usize,
            FieldKind::Dense { .. } => 1,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct TaskSpec {
    pub name: String,
    /// Index into `ModelConfig::formats` (for eligibility).
    pub format: u32,
    /// Index into `ModelConfig::groups`: whose gate and tower score this task.
    pub group: u32,
    /// Platt calibration: `p = sigmoid(a * logit + b)`.
    pub calib_a: f32,
    pub calib_b: f32,
}

impl TaskSpec {
    /// A task with identity calibration (`a = 1`, `b = 0`).
    pub fn new(name: &str, format: u32, group: u32) -> TaskSpec {
        TaskSpec {
            name: name.into(),
            format,
            group,
            calib_a: 1.0,
            calib_b: 0.0,
        }
    }
}

/// Shape of the expert pool and heads; every size comes from here.
#[derive(Clone, Debug, PartialEq)]
pub struct Architecture {
    pub experts: u32,
    /// DCN-v2 cross layers per expert.
    pub cross_layers: u32,
    /// 0 = full-rank `W` (D×D); r > 0 = low-rank `W = U Vᵀ` with U, V of D×r.
    pub cross_rank: u32,
    /// Hidden widths of each expert's MLP (ReLU after each).
    pub expert_mlp: Vec<u32>,
    /// Hidden widths of each group's tower (ReLU after each), then a linear to 1 logit.
    pub tower: Vec<u32>,
}

/// The self-describing part of a model file.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    pub name: String,
    /// Seed of the feature hash (see `hash.rs`).
    pub hash_seed: u64,
    /// Ad formats, e.g. `audio`, `video`, `display` (at most 32).
    pub formats: Vec<String>,
    pub fields: Vec<FieldSpec>,
    pub groups: Vec<String>,
    pub tasks: Vec<TaskSpec>,
    pub arch: Architecture,
}

impl ModelConfig {
    /// Fields in x0 order: every request field (schema order), then every candidate field.
    pub fn x0_order(&self) -> Vec<usize> {
        let req = (0..self.fields.len()).filter(|&i| self.fields[i].side == Side::Request);
        let cand = (0..self.fields.len()).filter(|&i| self.fields[i].side == Side::Candidate);
        req.chain(cand).collect()
    }

    /// Width of the request part of x0.
    pub fn request_width(&self) -> usize {
        self.fields
            .iter()
            .filter(|f| f.side == Side::Request)
            .map(FieldSpec::width)
            .sum()
    }

    /// Width of x0.
    pub fn x0_width(&self) -> usize {
        self.fields.iter().map(FieldSpec::width).sum()
    }

    /// Width of each expert's output.
    pub fn expert_width(&self) -> usize {
        self.arch
            .expert_mlp
            .last()
            .map_or(self.x0_width(), |&w| w as usize)
    }

    /// Every linear layer's (in, out, has_bias) in file order ([`ModelConfig::layers`]).
    pub fn linear_shapes(&self) -> Vec<(usize, usize, bool)> {
        self.layers()
            .iter()
            .map(|l| (l.inputs, l.outputs, l.bias))
            .collect()
    }

    /// Multiply-accumulates per candidate when nothing is precomputed per request: every
    /// expert runs, but only the gate and head of the candidate's own group.
    pub fn macs_per_candidate(&self) -> u64 {
        self.layers()
            .iter()
            .filter(|l| l.role.group().unwrap_or(0) == 0)
            .map(|l| (l.inputs * l.outputs) as u64)
            .sum()
    }
}

/// One linear layer in float: `y = W x + b` with `W` stored `[out][in]` row-major.
#[derive(Clone, Debug, PartialEq)]
pub struct LinearSpec {
    pub inputs: usize,
    pub outputs: usize,
    pub weight: Vec<f32>,
    /// Empty when the layer has no bias (the V factor of a low-rank cross layer).
    pub bias: Vec<f32>,
}

/// A whole model in float: config, embedding tables (one per categorical field,
/// `None` for dense fields), and every linear layer in [`ModelConfig::layers`] order.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    pub config: ModelConfig,
    pub embeddings: Vec<Option<Vec<f32>>>,
    pub linears: Vec<LinearSpec>,
}

impl ModelSpec {
    /// A model with random weights (seeded), for tests, benches and the demo until a
    /// trained model exists. Scaled so activations stay in a sensible range.
    pub fn random(config: ModelConfig, seed: u64) -> ModelSpec {
        let mut rng = crate::hash::SplitMix(seed);
        let embeddings = config
            .fields
            .iter()
            .map(|f| match f.kind {
                FieldKind::Categorical { vocab, dim } => Some(
                    (0..vocab as usize * dim as usize)
                        .map(|_| rng.normal() * 0.5)
                        .collect(),
                ),
                FieldKind::Dense { .. } => None,
            })
            .collect();
        let linears = config
            .layers()
            .into_iter()
            .map(|l| {
                let s = (1.0 / l.inputs as f32).sqrt();
                LinearSpec {
                    inputs: l.inputs,
                    outputs: l.outputs,
                    weight: (0..l.inputs * l.outputs)
                        .map(|_| rng.normal() * s)
                        .collect(),
                    bias: if l.bias {
                        (0..l.outputs).map(|_| rng.normal() * 0.1).collect()
                    } else {
                        Vec::new()
                    },
                }
            })
            .collect();
        ModelSpec {
            config,
            embeddings,
            linears,
        }
    }
}

impl ModelConfig {
    /// The demo model's config: the audio-centric schema of the simulator
    /// (`camoe simulate`), seven placements over three formats, two modality groups
    /// (audio+display, video), 8 experts of 2 full-rank cross layers and an MLP.
    pub fn demo() -> ModelConfig {
        let cat = FieldSpec::categorical;
        let dense = |name: &str, side, mean, std| FieldSpec::dense(name, side, mean, std, 8.0);
        use Side::{Candidate as C, Request as R};
        let fields = vec![
            cat("user_id", R, 16384, 16),
            cat("age_bucket", R, 8, 4),
            cat("country", R, 32, 4),
            cat("device", R, 8, 4),
            cat("app_state", R, 4, 4),
            cat("content_type", R, 8, 4),
            cat("genre", R, 64, 8),
            cat("hour_of_week", R, 169, 8),
            dense("session_minutes", R, 20.0, 15.0),
            cat("ad_id", C, 32768, 16),
            cat("advertiser", C, 2048, 8),
            cat("ad_category", C, 64, 8),
            cat("placement", C, 16, 4),
            cat("ad_format", C, 4, 2),
            dense("creative_seconds", C, 20.0, 10.0),
            cat("has_companion", C, 3, 2),
        ];
        let task = TaskSpec::new;
        ModelConfig {
            name: "camoe-demo".into(),
            hash_seed: 0x00ca_50e0_0000_0001,
            formats: vec!["audio".into(), "video".into(), "display".into()],
            fields,
            groups: vec!["audio_display".into(), "video".into()],
            tasks: vec![
                task("music_audio_break", 0, 0),
                task("podcast_midroll", 0, 0),
                task("audiobook_break", 0, 0),
                task("video_takeover", 1, 1),
                task("inapp_banner", 2, 0),
                task("home_leaderboard", 2, 0),
                task("overlay", 2, 0),
            ],
            arch: Architecture {
                experts: 8,
                cross_layers: 2,
                cross_rank: 0,
                expert_mlp: vec![128, 64],
                tower: vec![32],
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned values (`camoe train` and the C API report them): per candidate, every
    /// expert's layers and one group's gate and head.
    #[test]
    fn macs_per_candidate_counts_every_expert_and_one_group() {
        let demo = ModelConfig::demo();
        // 8 experts × (2 × 94·94 + 94·128 + 128·64) + 94·8 + 64·32 + 32·1
        assert_eq!(demo.macs_per_candidate(), 306_000);
        let mut c = demo;
        c.groups.push("third".into());
        (c.arch.cross_layers, c.arch.cross_rank) = (3, 8);
        (c.arch.expert_mlp, c.arch.tower) = (vec![32], vec![16, 8]);
        // 8 × (3 × 2 × 94·8 + 94·32) + 94·8 + 32·16 + 16·8 + 8·1
        assert_eq!(c.macs_per_candidate(), 61_560);
    }
}
