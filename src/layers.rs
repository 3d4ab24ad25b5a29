//! The model's linear layers in file order, and the forward pass's plan built from them.
//!
//! [`ModelConfig::layers`] is the one list that the writer, the reader, the forward pass,
//! the exporter and the trainer all walk.

use crate::spec::ModelConfig;

/// What a linear layer is in the CAMoE graph (see `docs/FORMAT.md`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Full-rank cross layer `layer` of expert `expert`: `x0 ⊙ (W x + b) + x`.
    Cross { expert: usize, layer: usize },
    /// The V factor of a low-rank cross layer (no bias): `V x`, read only by its U.
    CrossV { expert: usize, layer: usize },
    /// The U factor of a low-rank cross layer: `x0 ⊙ (U (V x) + b) + x`.
    CrossU { expert: usize, layer: usize },
    /// Hidden layer `layer` of an expert's MLP: `relu(W x + b)`.
    Mlp { expert: usize, layer: usize },
    /// A group's gate: one logit per expert, then a softmax.
    Gate { group: usize },
    /// Hidden layer `layer` of a group's tower: `relu(W h + b)`.
    Tower { group: usize, layer: usize },
    /// A group's last layer: its one logit.
    Output { group: usize },
}

impl Role {
    /// The expert this layer belongs to, if any.
    pub fn expert(self) -> Option<usize> {
        match self {
            Role::Cross { expert, .. }
            | Role::CrossV { expert, .. }
            | Role::CrossU { expert, .. }
            | Role::Mlp { expert, .. } => Some(expert),
            Role::Gate { .. } | Role::Tower { .. } | Role::Output { .. } => None,
        }
    }

    /// The group head this layer belongs to, if any.
    pub fn group(self) -> Option<usize> {
        match self {
            Role::Gate { group } | Role::Tower { group, .. } | Role::Output { group } => {
                Some(group)
            }
            _ => None,
        }
    }
}

/// What a layer reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// x0, the concatenated features: an expert's first layer and every gate. The runtime
    /// splits these layers into a request part and a candidate part.
    X0,
    /// The output of the layer before it in the same expert or tower (for a cross
    /// layer, `x_{l+1}`; for a U factor, `V x`).
    Previous,
    /// The gate-weighted mixture of the experts' outputs: a tower's first layer.
    Mixture,
}

/// One linear layer `y = W x (+ b)`, `W` of `outputs × inputs`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layer {
    pub role: Role,
    pub source: Source,
    pub inputs: usize,
    pub outputs: usize,
    pub bias: bool,
}

impl ModelConfig {
    /// Every linear layer in file order: per expert its cross layers (low rank: V then U)
    /// and MLP, then per group its gate, tower and output.
    pub fn layers(&self) -> Vec<Layer> {
        let (d, a) = (self.x0_width(), &self.arch);
        let mut v = Vec::new();
        // Each expert and each tower is a chain: its first layer reads `source`, every
        // later one the layer before it.
        let mut add = |source: &mut Source, role, inputs, outputs, bias| {
            v.push(Layer {
                role,
                source: *source,
                inputs,
                outputs,
                bias,
            });
            *source = Source::Previous;
        };
        for expert in 0..a.experts as usize {
            let s = &mut Source::X0;
            for layer in 0..a.cross_layers as usize {
                if a.cross_rank == 0 {
                    add(s, Role::Cross { expert, layer }, d, d, true);
                } else {
                    let r = a.cross_rank as usize;
                    add(s, Role::CrossV { expert, layer }, d, r, false);
                    add(s, Role::CrossU { expert, layer }, r, d, true);
                }
            }
            let mut inp = d;
            for (layer, &w) in a.expert_mlp.iter().enumerate() {
                add(s, Role::Mlp { expert, layer }, inp, w as usize, true);
                inp = w as usize;
            }
        }
        for group in 0..self.groups.len() {
            add(
                &mut Source::X0,
                Role::Gate { group },
                d,
                a.experts as usize,
                true,
            );
            let s = &mut Source::Mixture;
            let mut inp = self.expert_width();
            for (layer, &w) in a.tower.iter().enumerate() {
                add(s, Role::Tower { group, layer }, inp, w as usize, true);
                inp = w as usize;
            }
            add(s, Role::Output { group }, inp, 1, true);
        }
        v
    }
}

/// How the forward pass finishes a layer of an expert.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StepKind {
    /// Nothing more (the V factor of a low-rank cross layer: its output only feeds U).
    Linear,
    /// `x0 ⊙ y + x`, x the input of the cross layer.
    Cross,
    Relu,
}

/// One layer of an expert: its index in the file and how it finishes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Step {
    pub layer: usize,
    pub kind: StepKind,
}

/// [`ModelConfig::layers`] as the forward pass uses it: file indices per expert and group.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    /// Per expert: its layers in order.
    pub experts: Vec<Vec<Step>>,
    /// Per group: its gate.
    pub gate: Vec<usize>,
    /// Per group: tower hidden layers then the output layer.
    pub tower: Vec<Vec<usize>>,
}

impl Plan {
    pub fn new(cfg: &ModelConfig) -> Plan {
        let groups = cfg.groups.len();
        let mut plan = Plan {
            experts: vec![Vec::new(); cfg.arch.experts as usize],
            gate: vec![0; groups],
            tower: vec![Vec::new(); groups],
        };
        for (i, l) in cfg.layers().iter().enumerate() {
            let step = |kind| Step { layer: i, kind };
            match l.role {
                Role::Cross { expert, .. } | Role::CrossU { expert, .. } => {
                    plan.experts[expert].push(step(StepKind::Cross))
                }
                Role::CrossV { expert, .. } => plan.experts[expert].push(step(StepKind::Linear)),
                Role::Mlp { expert, .. } => plan.experts[expert].push(step(StepKind::Relu)),
                Role::Gate { group } => plan.gate[group] = i,
                Role::Tower { group, .. } | Role::Output { group } => plan.tower[group].push(i),
            }
        }
        plan
    }

    /// The layer of expert `e` that reads x0.
    pub fn first_of_expert(&self, e: usize) -> usize {
        self.experts[e][0].layer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ModelConfig;

    #[test]
    fn chains_start_at_their_source_and_shapes_connect() {
        let shapes = [
            (2, vec![7, 3], vec![4]),
            (0, vec![6], vec![]),
            (1, vec![], vec![3, 2]),
        ];
        for rank in [0, 5] {
            for (cross, mlp, tower) in shapes.clone() {
                let mut c = ModelConfig::demo();
                (c.arch.cross_rank, c.arch.cross_layers) = (rank, cross);
                (c.arch.expert_mlp, c.arch.tower) = (mlp, tower);
                let (d, h) = (c.x0_width(), c.expert_width());
                let layers = c.layers();
                for (i, l) in layers.iter().enumerate() {
                    let prev = i.checked_sub(1).map(|j| layers[j].role);
                    let starts_expert =
                        l.role.expert().is_some() && prev.and_then(Role::expert) != l.role.expert();
                    let starts_x0 = starts_expert || matches!(l.role, Role::Gate { .. });
                    let starts_tower = matches!(prev, Some(Role::Gate { .. }));
                    match l.source {
                        Source::X0 => assert!(starts_x0 && l.inputs == d, "{l:?}"),
                        Source::Mixture => assert!(starts_tower && l.inputs == h, "{l:?}"),
                        Source::Previous => assert!(
                            !starts_x0 && !starts_tower && l.inputs == layers[i - 1].outputs,
                            "{l:?}"
                        ),
                    }
                    assert_eq!(l.bias, !matches!(l.role, Role::CrossV { .. }));
                }
                let per_expert =
                    cross as usize * if rank == 0 { 1 } else { 2 } + c.arch.expert_mlp.len();
                let per_group = 2 + c.arch.tower.len();
                let (e, g) = (c.arch.experts as usize, c.groups.len());
                assert_eq!(layers.len(), e * per_expert + g * per_group);
                let plan = Plan::new(&c);
                for (e, steps) in plan.experts.iter().enumerate() {
                    assert_eq!(steps.len(), per_expert);
                    assert_eq!(layers[steps[0].layer].source, Source::X0);
                    assert!(steps
                        .iter()
                        .all(|s| layers[s.layer].role.expert() == Some(e)));
                }
                assert!(plan.tower.iter().all(|t| t.len() == per_group - 1));
            }
        }
    }
}
