//! CAMoE in candle: hashed embeddings → x0 → E experts (DCN-v2 cross layers, MLP)
//! → one softmax gate and tower per group → one logit per group.
//!
//! Parameters are stored "math-major" for batched matmuls (`[E, in, out]`); the
//! NNEF export and `ModelSpec` use `[out][in]`. Tensor names are listed in
//! `docs/NNEF.md`.

use camoe::hash::SplitMix;
use camoe::layers::Role;
use camoe::spec::{FieldKind, LinearSpec, ModelConfig, ModelSpec};
use candle_core::{DType, Device, Tensor, Var, D};

pub type CResult<T> = candle_core::Result<T>;

/// All trainable tensors of one model.
pub struct Net {
    pub cfg: ModelConfig,
    /// Per categorical field in x0 order: `[vocab, dim]`.
    pub emb: Vec<Var>,
    /// Per cross layer l: full rank `w [E, D, D]`, or low rank `v [E, D, r]`, `u [E, r, D]`; bias `[E, 1, D]`.
    pub cross_w: Vec<Var>,
    pub cross_u: Vec<Var>,
    pub cross_b: Vec<Var>,
    /// Per expert MLP layer: `[E, in, out]`, bias `[E, 1, out]`.
    pub mlp_w: Vec<Var>,
    pub mlp_b: Vec<Var>,
    /// Gates of every group side by side: `[D, G·E]`, `[G·E]`.
    pub gate_w: Var,
    pub gate_b: Var,
    /// Per tower layer (including the final one to 1): `[G, in, out]`, `[G, 1, out]`.
    pub tower_w: Vec<Var>,
    pub tower_b: Vec<Var>,
    /// Sparse gating: each row's gate keeps its `gate_top_k` largest logits and
    /// renormalizes over them, as the runtime does at `expert_top_k` (0 = dense).
    /// Not a parameter: set it before training and before scoring.
    pub gate_top_k: usize,
}

/// A forward pass with what the load-balancing loss needs.
pub struct Forward {
    /// Per-group logits `[B, G]`.
    pub logits: Tensor,
    /// The dense softmax of every group's gate `[B, G, E]`.
    pub dense_gates: Tensor,
    /// Row-major `[B, G, E]`: whether the sparse gate kept that expert (empty when dense).
    pub kept: Vec<bool>,
}

/// Per row of `e` gate logits: whether each is among the `k` largest (ties: lower index).
pub fn top_k_kept(logits: &[f32], e: usize, k: usize) -> Vec<bool> {
    let mut kept = vec![false; logits.len()];
    for (row, out) in logits.chunks(e).zip(kept.chunks_mut(e)) {
        let mut idx: Vec<usize> = (0..e).collect();
        idx.sort_by(|&a, &b| row[b].total_cmp(&row[a]).then(a.cmp(&b)));
        for &i in idx.iter().take(k) {
            out[i] = true;
        }
    }
    kept
}

/// One batch: embedding rows per categorical field, normalized dense columns.
pub struct Batch {
    pub ids: Vec<Tensor>,
    pub dense: Vec<Tensor>,
}

impl Batch {
    pub fn new(ds: &crate::data::Dataset, rows: &[usize], dev: &Device) -> CResult<Batch> {
        let n = rows.len();
        let ids = ds
            .cat
            .iter()
            .map(|c| Tensor::from_vec(rows.iter().map(|&i| c[i]).collect::<Vec<u32>>(), n, dev))
            .collect::<CResult<Vec<_>>>()?;
        let dense = ds
            .dense
            .iter()
            .map(|c| {
                Tensor::from_vec(
                    rows.iter().map(|&i| c[i]).collect::<Vec<f32>>(),
                    (n, 1),
                    dev,
                )
            })
            .collect::<CResult<Vec<_>>>()?;
        Ok(Batch { ids, dense })
    }
}

fn var(rng: &mut SplitMix, shape: &[usize], std: f32, dev: &Device) -> CResult<Var> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n).map(|_| rng.normal() * std).collect();
    Var::from_vec(v, shape, dev)
}

fn zeros(shape: &[usize], dev: &Device) -> CResult<Var> {
    Var::zeros(shape, DType::F32, dev)
}

impl Net {
    /// A freshly initialised model (all randomness from `seed`).
    pub fn new(cfg: &ModelConfig, seed: u64, emb_std: f32, dev: &Device) -> CResult<Net> {
        let mut rng = SplitMix(seed);
        let d = cfg.x0_width();
        let a = &cfg.arch;
        let e = a.experts as usize;
        let g = cfg.groups.len();
        let mut emb = Vec::new();
        for i in cfg.x0_order() {
            if let FieldKind::Categorical { vocab, dim } = cfg.fields[i].kind {
                emb.push(var(
                    &mut rng,
                    &[vocab as usize, dim as usize],
                    emb_std,
                    dev,
                )?);
            }
        }
        let (mut cross_w, mut cross_u, mut cross_b) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..a.cross_layers {
            if a.cross_rank == 0 {
                cross_w.push(var(&mut rng, &[e, d, d], (1.0 / d as f32).sqrt(), dev)?);
            } else {
                let r = a.cross_rank as usize;
                cross_w.push(var(&mut rng, &[e, d, r], (1.0 / d as f32).sqrt(), dev)?);
                cross_u.push(var(&mut rng, &[e, r, d], (1.0 / r as f32).sqrt(), dev)?);
            }
            cross_b.push(zeros(&[e, 1, d], dev)?);
        }
        let (mut mlp_w, mut mlp_b) = (Vec::new(), Vec::new());
        let mut inp = d;
        for &w in &a.expert_mlp {
            mlp_w.push(var(
                &mut rng,
                &[e, inp, w as usize],
                (2.0 / inp as f32).sqrt(),
                dev,
            )?);
            mlp_b.push(zeros(&[e, 1, w as usize], dev)?);
            inp = w as usize;
        }
        let gate_w = var(&mut rng, &[d, g * e], (1.0 / d as f32).sqrt() * 0.1, dev)?;
        let gate_b = zeros(&[g * e], dev)?;
        let (mut tower_w, mut tower_b) = (Vec::new(), Vec::new());
        let mut inp = cfg.expert_width();
        for &w in a.tower.iter().chain(std::iter::once(&1u32)) {
            let std = if w == 1 {
                (1.0 / inp as f32).sqrt()
            } else {
                (2.0 / inp as f32).sqrt()
            };
            tower_w.push(var(&mut rng, &[g, inp, w as usize], std, dev)?);
            tower_b.push(zeros(&[g, 1, w as usize], dev)?);
            inp = w as usize;
        }
        // Start the logits near a typical CTR (−4.5 ≈ 1%) so early steps do not
        // spend themselves learning the base rate.
        let last = tower_b.len() - 1;
        tower_b[last].set(&Tensor::full(-4.5f32, (g, 1, 1), dev)?)?;
        Ok(Net {
            cfg: cfg.clone(),
            emb,
            cross_w,
            cross_u,
            cross_b,
            mlp_w,
            mlp_b,
            gate_w,
            gate_b,
            tower_w,
            tower_b,
            gate_top_k: 0,
        })
    }

    /// Embedding tables (no weight decay) and the other parameters, separately.
    pub fn vars(&self) -> (Vec<Var>, Vec<Var>) {
        let mut rest = Vec::new();
        rest.extend(self.cross_w.iter().cloned());
        rest.extend(self.cross_u.iter().cloned());
        rest.extend(self.cross_b.iter().cloned());
        rest.extend(self.mlp_w.iter().cloned());
        rest.extend(self.mlp_b.iter().cloned());
        rest.push(self.gate_w.clone());
        rest.push(self.gate_b.clone());
        rest.extend(self.tower_w.iter().cloned());
        rest.extend(self.tower_b.iter().cloned());
        (self.emb.clone(), rest)
    }

    /// Every parameter with its stable name (the NNEF variable labels).
    pub fn named(&self) -> Vec<(String, Var)> {
        let mut v = Vec::new();
        let cats: Vec<usize> = self
            .cfg
            .x0_order()
            .into_iter()
            .filter(|&i| matches!(self.cfg.fields[i].kind, FieldKind::Categorical { .. }))
            .collect();
        for (t, &i) in self.emb.iter().zip(&cats) {
            v.push((format!("emb.{}", self.cfg.fields[i].name), t.clone()));
        }
        let lowrank = self.cfg.arch.cross_rank > 0;
        for (l, t) in self.cross_w.iter().enumerate() {
            v.push((
                format!("cross{l}.{}", if lowrank { "v" } else { "w" }),
                t.clone(),
            ));
        }
        for (l, t) in self.cross_u.iter().enumerate() {
            v.push((format!("cross{l}.u"), t.clone()));
        }
        for (l, t) in self.cross_b.iter().enumerate() {
            v.push((format!("cross{l}.b"), t.clone()));
        }
        for (l, (w, b)) in self.mlp_w.iter().zip(&self.mlp_b).enumerate() {
            v.push((format!("mlp{l}.w"), w.clone()));
            v.push((format!("mlp{l}.b"), b.clone()));
        }
        v.push(("gate.w".into(), self.gate_w.clone()));
        v.push(("gate.b".into(), self.gate_b.clone()));
        for (l, (w, b)) in self.tower_w.iter().zip(&self.tower_b).enumerate() {
            v.push((format!("tower{l}.w"), w.clone()));
            v.push((format!("tower{l}.b"), b.clone()));
        }
        v
    }

    pub fn snapshot(&self) -> CResult<Vec<Tensor>> {
        self.named()
            .iter()
            .map(|(_, v)| v.as_tensor().copy())
            .collect()
    }

    pub fn restore(&self, snap: &[Tensor]) -> CResult<()> {
        for ((_, v), t) in self.named().iter().zip(snap) {
            v.set(t)?;
        }
        Ok(())
    }

    pub fn save(&self, path: &std::path::Path) -> CResult<()> {
        let m: std::collections::HashMap<String, Tensor> = self
            .named()
            .into_iter()
            .map(|(n, v)| (n, v.as_tensor().clone()))
            .collect();
        candle_core::safetensors::save(&m, path)
    }

    pub fn load(cfg: &ModelConfig, path: &std::path::Path, dev: &Device) -> CResult<Net> {
        let net = Net::new(cfg, 0, 0.0, dev)?;
        let m = candle_core::safetensors::load(path, dev)?;
        for (n, v) in net.named() {
            let t = m.get(&n).ok_or_else(|| {
                candle_core::Error::Msg(format!("{}: no tensor {n}", path.display()))
            })?;
            v.set(t)?;
        }
        Ok(net)
    }

    pub fn x0(&self, b: &Batch) -> CResult<Tensor> {
        let (mut c, mut dn) = (0, 0);
        let mut parts = Vec::new();
        for i in self.cfg.x0_order() {
            match self.cfg.fields[i].kind {
                FieldKind::Categorical { .. } => {
                    parts.push(self.emb[c].as_tensor().index_select(&b.ids[c], 0)?);
                    c += 1;
                }
                FieldKind::Dense { .. } => {
                    parts.push(b.dense[dn].clone());
                    dn += 1;
                }
            }
        }
        Tensor::cat(&parts, 1)
    }

    /// Per-group logits `[B, G]` from x0 `[B, D]`.
    pub fn logits_from_x0(&self, x0: &Tensor) -> CResult<Tensor> {
        Ok(self.forward(x0)?.logits)
    }

    /// The forward pass from x0 `[B, D]`, with the gates.
    pub fn forward(&self, x0: &Tensor) -> CResult<Forward> {
        let e = self.cfg.arch.experts as usize;
        let g = self.cfg.groups.len();
        let (bsz, d) = x0.dims2()?;
        let x0e = x0.unsqueeze(0)?.broadcast_as((e, bsz, d))?.contiguous()?;
        let mut x = x0e.clone();
        for l in 0..self.cross_w.len() {
            let y = if self.cfg.arch.cross_rank == 0 {
                x.matmul(self.cross_w[l].as_tensor())?
            } else {
                x.matmul(self.cross_w[l].as_tensor())?
                    .matmul(self.cross_u[l].as_tensor())?
            };
            let y = y.broadcast_add(self.cross_b[l].as_tensor())?;
            x = ((&x0e * y)? + x)?;
        }
        for (w, b) in self.mlp_w.iter().zip(&self.mlp_b) {
            x = x
                .matmul(w.as_tensor())?
                .broadcast_add(b.as_tensor())?
                .relu()?;
        }
        // x: [E, B, H]
        let gates = x0
            .matmul(self.gate_w.as_tensor())?
            .broadcast_add(self.gate_b.as_tensor())?
            .reshape((bsz, g, e))?;
        let dense_gates = candle_nn::ops::softmax(&gates, D::Minus1)?;
        let k = self.gate_top_k;
        let (gates, kept) = if k > 0 && k < e {
            let kept = top_k_kept(&gates.flatten_all()?.to_vec1::<f32>()?, e, k);
            // A large negative logit, not −inf: its softmax weight is exactly 0 in
            // f32 and the arithmetic stays finite.
            let add: Vec<f32> = kept.iter().map(|&k| if k { 0.0 } else { -1e9 }).collect();
            let add = Tensor::from_vec(add, (bsz, g, e), x0.device())?;
            (candle_nn::ops::softmax(&(gates + add)?, D::Minus1)?, kept)
        } else {
            (dense_gates.clone(), Vec::new())
        };
        let xb = x.transpose(0, 1)?.contiguous()?; // [B, E, H]
        let h = gates.matmul(&xb)?; // [B, G, H]
        let mut h = h.transpose(0, 1)?.contiguous()?; // [G, B, H]
        let n = self.tower_w.len();
        for (k, (w, b)) in self.tower_w.iter().zip(&self.tower_b).enumerate() {
            h = h.matmul(w.as_tensor())?.broadcast_add(b.as_tensor())?;
            if k + 1 < n {
                h = h.relu()?;
            }
        }
        Ok(Forward {
            logits: h.squeeze(2)?.t()?, // [B, G]
            dense_gates,
            kept,
        })
    }

    pub fn logits(&self, b: &Batch) -> CResult<Tensor> {
        self.logits_from_x0(&self.x0(b)?)
    }

    /// The float model in the runtime's `ModelSpec` layout (`[out][in]` weights).
    pub fn to_spec(&self) -> CResult<ModelSpec> {
        let cfg = &self.cfg;
        let mut embeddings = vec![None; cfg.fields.len()];
        let mut c = 0;
        for i in cfg.x0_order() {
            if let FieldKind::Categorical { .. } = cfg.fields[i].kind {
                embeddings[i] = Some(self.emb[c].as_tensor().flatten_all()?.to_vec1::<f32>()?);
                c += 1;
            }
        }
        // w: [.., in, out] slice k → LinearSpec with weight [out][in].
        let lin = |w: &Tensor, b: Option<&Tensor>, k: usize| -> CResult<LinearSpec> {
            let w = w.get(k)?; // [in, out]
            let (inputs, outputs) = w.dims2()?;
            Ok(LinearSpec {
                inputs,
                outputs,
                weight: w.t()?.contiguous()?.flatten_all()?.to_vec1()?,
                bias: match b {
                    Some(b) => b.get(k)?.flatten_all()?.to_vec1()?,
                    None => Vec::new(),
                },
            })
        };
        let (e, g) = (cfg.arch.experts as usize, cfg.groups.len());
        let gw = self
            .gate_w
            .as_tensor()
            .reshape((cfg.x0_width(), g, e))?
            .transpose(0, 1)?
            .contiguous()?; // [G, D, E]
        let gb = self.gate_b.as_tensor().reshape((g, 1, e))?;
        let last = self.tower_w.len() - 1;
        // Per layer: its stacked weight and bias tensors, and its slice k of them.
        let (cw, cu, cb) = (&self.cross_w, &self.cross_u, &self.cross_b);
        let (mw, mb, tw, tb) = (&self.mlp_w, &self.mlp_b, &self.tower_w, &self.tower_b);
        let linears = cfg
            .layers()
            .iter()
            .map(|l| {
                let (w, b, k) = match l.role {
                    Role::Cross { expert, layer } => (&cw[layer], Some(&cb[layer]), expert),
                    Role::CrossV { expert, layer } => (&cw[layer], None, expert),
                    Role::CrossU { expert, layer } => (&cu[layer], Some(&cb[layer]), expert),
                    Role::Mlp { expert, layer } => (&mw[layer], Some(&mb[layer]), expert),
                    Role::Gate { group } => return lin(&gw, Some(&gb), group),
                    Role::Tower { group, layer } => (&tw[layer], Some(&tb[layer]), group),
                    Role::Output { group } => (&tw[last], Some(&tb[last]), group),
                };
                lin(w.as_tensor(), b.map(|b| b.as_tensor()), k)
            })
            .collect::<CResult<Vec<_>>>()?;
        Ok(ModelSpec {
            config: cfg.clone(),
            embeddings,
            linears,
        })
    }
}

/// Numerically stable per-element BCE with logits: `relu(z) − z·y + log(1 + e^{−|z|})`.
pub fn bce_with_logits(z: &Tensor, y: &Tensor) -> CResult<Tensor> {
    let soft = ((z.abs()?.neg()?.exp()? + 1.0)?).log()?;
    (z.relu()? - z.broadcast_mul(y)?)? + soft
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_bce_matches_the_definition_and_stays_finite() {
        let dev = Device::Cpu;
        let z = Tensor::new(&[-40f32, -2.0, 0.0, 3.0, 40.0], &dev).unwrap();
        let y = Tensor::new(&[1f32, 0.0, 1.0, 1.0, 0.0], &dev).unwrap();
        let l: Vec<f32> = bce_with_logits(&z, &y).unwrap().to_vec1().unwrap();
        let naive = |z: f32, y: f32| {
            let p = 1.0 / (1.0 + (-z as f64).exp());
            -(y as f64 * p.ln() + (1.0 - y as f64) * (1.0 - p).ln())
        };
        assert!((l[0] - 40.0).abs() < 1e-4 && (l[4] - 40.0).abs() < 1e-4);
        for k in 1..4 {
            let (zk, yk) = (
                [-40f32, -2.0, 0.0, 3.0, 40.0][k],
                [1f32, 0.0, 1.0, 1.0, 0.0][k],
            );
            assert!((l[k] as f64 - naive(zk, yk)).abs() < 1e-5);
        }
    }
}
