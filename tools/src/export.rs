//! `camoe export`: the trained float model as an NNEF archive written by
//! tract-nnef. The graph contract (input, output and variable names) is
//! documented in `docs/NNEF.md`; a model trained elsewhere that follows it can be
//! converted like ours.

use camoe::layers::{Role, Source};
use camoe::spec::{FieldKind, ModelConfig, ModelSpec};
use tract_core::ops::array::{Gather, Slice, TypedConcat};
use tract_core::ops::einsum::prefix_matmul::PrefixMatMul;
use tract_core::ops::math;
use tract_core::ops::nn::{Softmax, SoftmaxExp, SoftmaxKind};
use tract_nnef::internal::*;

fn konst(m: &mut TypedModel, name: &str, shape: &[usize], data: &[f32]) -> TractResult<OutletId> {
    let t = Tensor::from_shape(shape, data)?;
    m.add_const(name, t)
}

/// `x · Wᵀ + b` for `W` stored `[out][in]` (a PyTorch `Linear`).
fn linear(
    m: &mut TypedModel,
    name: &str,
    x: OutletId,
    l: &camoe::spec::LinearSpec,
) -> TractResult<OutletId> {
    let w = konst(m, &format!("{name}_w"), &[l.outputs, l.inputs], &l.weight)?;
    let op = PrefixMatMul {
        transpose_a: false,
        transpose_b: true,
        transpose_c: false,
        quantize_output: None,
    };
    let y = m.wire_node(format!("{name}_matmul"), op, &[x, w])?[0];
    if l.bias.is_empty() {
        return Ok(y);
    }
    let b = konst(m, &format!("{name}_b"), &[1, l.outputs], &l.bias)?;
    Ok(m.wire_node(format!("{name}_add"), math::add(), &[y, b])?[0])
}

fn relu(m: &mut TypedModel, name: &str, x: OutletId) -> TractResult<OutletId> {
    let z = konst(m, &format!("{name}_zero"), &[1, 1], &[0.0])?;
    Ok(m.wire_node(format!("{name}_relu"), math::max(), &[x, z])?[0])
}

/// The name prefix of a linear layer (the NNEF variables are `<prefix>_w` and
/// `<prefix>_b`; docs/NNEF.md).
pub fn layer_name(role: Role) -> String {
    match role {
        Role::Cross { expert, layer } => format!("expert{expert}_cross{layer}"),
        Role::CrossV { expert, layer } => format!("expert{expert}_cross{layer}_v"),
        Role::CrossU { expert, layer } => format!("expert{expert}_cross{layer}_u"),
        Role::Mlp { expert, layer } => format!("expert{expert}_mlp{layer}"),
        Role::Gate { group } => format!("group{group}_gate"),
        Role::Tower { group, layer } => format!("group{group}_tower{layer}"),
        Role::Output { group } => format!("group{group}_out"),
    }
}

/// The name prefix of every linear layer, in `ModelConfig::layers()` order.
pub fn linear_names(cfg: &ModelConfig) -> Vec<String> {
    cfg.layers().iter().map(|l| layer_name(l.role)).collect()
}

/// Group `g`'s gate-weighted sum of the experts' outputs.
fn mixture(
    m: &mut TypedModel,
    g: usize,
    gate: OutletId,
    experts: &[OutletId],
) -> TractResult<OutletId> {
    let mut h: Option<OutletId> = None;
    for (e, &ex) in experts.iter().enumerate() {
        let slice = Slice::new(1, e, e + 1);
        let ge = m.wire_node(format!("group{g}_gate_{e}"), slice, &[gate])?[0];
        let w = m.wire_node(format!("group{g}_mix{e}"), math::mul(), &[ge, ex])?[0];
        h = Some(match h {
            None => w,
            Some(acc) => m.wire_node(format!("group{g}_sum{e}"), math::add(), &[acc, w])?[0],
        });
    }
    Ok(h.expect("a model has at least one expert"))
}

/// Builds the tract graph of a float model (see `docs/NNEF.md`).
pub fn build_graph(spec: &ModelSpec) -> TractResult<TypedModel> {
    let cfg = &spec.config;
    let mut m = TypedModel::default();
    let b = m.sym("B");
    let mut parts = Vec::new();
    for i in cfg.x0_order() {
        let f = &cfg.fields[i];
        match f.kind {
            FieldKind::Categorical { vocab, dim } => {
                let ids = m.add_source(f.name.clone(), i64::fact([b.to_dim()]))?;
                let table = konst(
                    &mut m,
                    &format!("emb_{}", f.name),
                    &[vocab as usize, dim as usize],
                    spec.embeddings[i]
                        .as_ref()
                        .expect("categorical field without a table"),
                )?;
                parts.push(
                    m.wire_node(format!("lookup_{}", f.name), Gather::new(0), &[table, ids])?[0],
                );
            }
            FieldKind::Dense { .. } => {
                parts.push(m.add_source(f.name.clone(), f32::fact([b.to_dim(), 1.to_dim()]))?);
            }
        }
    }
    let x0 = m.wire_node("x0", TypedConcat::new(1), &parts)?[0];
    // In file order: `x` is the current expert's x_l, `prev` the output of the layer
    // before (V x after a low-rank V), `gate` the current group's softmax.
    let (mut x, mut prev) = (x0, x0);
    let mut experts = vec![x0; cfg.arch.experts as usize];
    let (mut gate, mut logits) = (x0, Vec::new());
    for (layer, l) in cfg.layers().iter().zip(&spec.linears) {
        let name = layer_name(layer.role);
        let input = match layer.source {
            Source::X0 => x0,
            Source::Previous => prev,
            Source::Mixture => {
                let g = layer
                    .role
                    .group()
                    .expect("a tower layer belongs to a group");
                mixture(&mut m, g, gate, &experts)?
            }
        };
        if layer.source != Source::Previous {
            x = input;
        }
        let y = linear(&mut m, &name, input, l)?;
        prev = match layer.role {
            Role::Cross { expert, layer } | Role::CrossU { expert, layer } => {
                // x_{l+1} = x0 ⊙ y + x_l, named after the cross layer (not its U).
                let cross = format!("expert{expert}_cross{layer}");
                let p = m.wire_node(format!("{cross}_x0mul"), math::mul(), &[x0, y])?[0];
                x = m.wire_node(format!("{cross}_residual"), math::add(), &[p, x])?[0];
                experts[expert] = x;
                x
            }
            Role::CrossV { .. } => y,
            Role::Mlp { expert, .. } => {
                x = relu(&mut m, &name, y)?;
                experts[expert] = x;
                x
            }
            Role::Gate { group } => {
                let sm = Softmax {
                    axes: tvec![1],
                    quant_output_dt: None,
                    kind: SoftmaxKind::Softmax(SoftmaxExp::Libc),
                };
                gate = m.wire_node(format!("group{group}_gate_softmax"), sm, &[y])?[0];
                gate
            }
            Role::Tower { .. } => relu(&mut m, &name, y)?,
            Role::Output { .. } => {
                logits.push(y);
                y
            }
        };
    }
    let out = if logits.len() == 1 {
        // One group: its head is the output; the contract names it `logits`.
        m.node_mut(logits[0].node).name = "logits".into();
        logits[0]
    } else {
        m.wire_node("logits", TypedConcat::new(1), &logits)?[0]
    };
    m.set_output_outlets(&[out])?;
    m.set_output_names(["logits"])?;
    Ok(m)
}

pub fn nnef() -> tract_nnef::framework::Nnef {
    tract_nnef::nnef().with_tract_core()
}

/// Writes `spec` as `path` (a `.nnef.tgz`), deterministically.
pub fn write_nnef(spec: &ModelSpec, path: &std::path::Path) -> TractResult<()> {
    let model = build_graph(spec)?;
    let f = std::fs::File::create(path)?;
    let gz = flate2::write::GzEncoder::new(f, flate2::Compression::default());
    let gz = nnef().write_to_tar_with_config(&model, gz, false, true)?;
    gz.finish()?;
    Ok(())
}

/// Loads an exported model and makes it runnable (batch size fixed to `batch`).
pub fn load_runnable(
    path: &std::path::Path,
    batch: usize,
) -> TractResult<TypedRunnableModel<TypedModel>> {
    let mut model = nnef().model_for_path(path)?;
    let b = model.sym("B");
    model = model.concretize_dims(&SymbolValues::default().with(&b, batch as i64))?;
    model.into_optimized()?.into_runnable()
}

/// Runs a loaded model on encoded rows: `cat[j]` / `dense[k]` are the categorical
/// and dense columns in x0 order. Returns `[B][G]` logits, row-major.
pub fn run(
    cfg: &ModelConfig,
    model: &TypedRunnableModel<TypedModel>,
    cat: &[Vec<u32>],
    dense: &[Vec<f32>],
) -> TractResult<Vec<f32>> {
    let n = cat
        .first()
        .map(|c| c.len())
        .or(dense.first().map(|d| d.len()))
        .unwrap_or(0);
    let mut inputs = TVec::new();
    let (mut c, mut d) = (0, 0);
    for i in cfg.x0_order() {
        match cfg.fields[i].kind {
            FieldKind::Categorical { .. } => {
                let v: Vec<i64> = cat[c].iter().map(|&x| x as i64).collect();
                inputs.push(Tensor::from_shape(&[n], &v)?.into_tvalue());
                c += 1;
            }
            FieldKind::Dense { .. } => {
                inputs.push(Tensor::from_shape(&[n, 1], &dense[d])?.into_tvalue());
                d += 1;
            }
        }
    }
    let out = model.run(inputs)?;
    Ok(out[0].to_array_view::<f32>()?.iter().copied().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Dataset;
    use crate::model::{Batch, Net};
    use crate::sim::{simulate_vec, SimConfig};
    use candle_core::Device;

    fn tiny(rank: u32) -> ModelConfig {
        let mut c = ModelConfig::demo();
        for f in c.fields.iter_mut() {
            if let FieldKind::Categorical { vocab, dim } = &mut f.kind {
                *vocab = (*vocab).min(300);
                *dim = (*dim).min(4);
            }
        }
        c.arch.experts = 3;
        c.arch.cross_rank = rank;
        c.arch.expert_mlp = vec![12, 8];
        c.arch.tower = vec![6];
        c
    }

    /// Exporting the shipped NNEF's own weights writes the shipped file again, byte for
    /// byte: the graph, its node names and the tensor names are the contract.
    #[test]
    fn export_reproduces_the_shipped_nnef() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join("models");
        let cfg = crate::config::read(&root.join("camoe-demo.config.json")).unwrap();
        let nnef = root.join("camoe-demo.nnef.tgz");
        let spec = crate::convert::read_nnef(&nnef, &cfg).unwrap();
        let out =
            std::env::temp_dir().join(format!("camoe-reexport-{}.nnef.tgz", std::process::id()));
        write_nnef(&spec, &out).unwrap();
        let (got, want) = (std::fs::read(&out).unwrap(), std::fs::read(&nnef).unwrap());
        std::fs::remove_file(&out).ok();
        assert!(
            got == want,
            "export of models/camoe-demo.nnef.tgz's weights differs from it"
        );
    }

    /// The NNEF file, loaded back by tract, computes the trainer's forward pass.
    #[test]
    fn nnef_round_trip_matches_the_trainer() {
        let dev = Device::Cpu;
        for rank in [0, 5] {
            let cfg = tiny(rank);
            // Larger-than-trained weights so every layer matters.
            let net = Net::new(&cfg, 7, 0.5, &dev).unwrap();
            let ims = simulate_vec(&SimConfig {
                seed: 3,
                impressions: 64,
                ..Default::default()
            });
            let ds = Dataset::from_sim(&cfg, &ims);
            let rows: Vec<usize> = (0..ds.len()).collect();
            let want: Vec<f32> = net
                .logits(&Batch::new(&ds, &rows, &dev).unwrap())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            let dir =
                std::env::temp_dir().join(format!("camoe-nnef-test-{}-{rank}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join("m.nnef.tgz");
            write_nnef(&net.to_spec().unwrap(), &path).unwrap();
            let model = load_runnable(&path, ds.len()).unwrap();
            let got = run(&cfg, &model, &ds.cat, &ds.dense).unwrap();
            assert_eq!(got.len(), want.len());
            let max = got
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            let spread = want.iter().fold(0f32, |m, x| m.max(x.abs()));
            assert!(spread > 0.1, "degenerate logits");
            assert!(max < 1e-5, "rank {rank}: max abs diff {max}");
            std::fs::remove_dir_all(&dir).ok();
        }
    }
}
