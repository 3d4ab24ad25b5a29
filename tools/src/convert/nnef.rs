//! Reading an NNEF archive against the contract of docs/NNEF.md: inputs, output,
//! operators and every variable's name and shape, into the float [`ModelSpec`].

use crate::export;
use camoe::spec::{FieldKind, LinearSpec, ModelConfig, ModelSpec};
use std::collections::HashMap;
use std::path::Path;
use tract_core::ops::konst::Const;
use tract_nnef::internal::*;

/// tract's operators that the contract's NNEF operators load as.
const ALLOWED_OPS: &[&str] = &[
    "Source", "Const", "Cast", "Gather", "Concat", "EinSum", "MatMul", "Add", "Mul", "Max",
    "Softmax", "Slice", "DynSlice",
];

/// An error of tract as one line (its context chain joined with ": ").
fn one_line(e: impl std::fmt::Display) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `f`, turning a panic inside tract into an error.
pub(super) fn no_panic<T>(what: &str, f: impl FnOnce() -> TractResult<T>) -> Result<T, String> {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(prev);
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!("{what}: {}", one_line(format!("{e:#}")))),
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!("{what}: tract panicked: {}", one_line(msg)))
        }
    }
}

fn dims(fact: &TypedFact) -> String {
    format!(
        "[{}]",
        fact.shape
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn check_io(model: &TypedModel, cfg: &ModelConfig) -> Result<(), String> {
    let order = cfg.x0_order();
    let inputs = model.input_outlets().map_err(one_line)?;
    let names: Vec<&str> = inputs
        .iter()
        .map(|o| model.node(o.node).name.as_str())
        .collect();
    let want: Vec<&str> = order.iter().map(|&i| cfg.fields[i].name.as_str()).collect();
    if names != want {
        return Err(format!(
            "inputs ({}) differ from the config's fields in x0 order ({}) (docs/NNEF.md, \"Inputs\")",
            names.join(", "),
            want.join(", ")
        ));
    }
    for (o, &i) in inputs.iter().zip(&order) {
        let f = &cfg.fields[i];
        let fact = model.outlet_fact(*o).map_err(one_line)?;
        let (dt, rank, what) = match f.kind {
            FieldKind::Categorical { .. } => (i64::datum_type(), 1, "i64 [B]"),
            FieldKind::Dense { .. } => (f32::datum_type(), 2, "f32 [B, 1]"),
        };
        let ok = fact.datum_type == dt
            && fact.rank() == rank
            && (rank == 1 || fact.shape[1] == 1.to_dim());
        if !ok {
            return Err(format!(
                "input `{}`: {:?} {}, expected {what}",
                f.name,
                fact.datum_type,
                dims(fact)
            ));
        }
    }
    let outputs = model.output_outlets().map_err(one_line)?;
    let g = cfg.groups.len();
    let [o] = outputs else {
        return Err(format!(
            "the graph has {} outputs, expected one (`logits`)",
            outputs.len()
        ));
    };
    let label = model
        .outlet_label(*o)
        .unwrap_or(model.node(o.node).name.as_str());
    let fact = model.outlet_fact(*o).map_err(one_line)?;
    if label != "logits" {
        return Err(format!("the output is `{label}`, expected `logits`"));
    }
    if fact.datum_type != f32::datum_type() || fact.rank() != 2 || fact.shape[1] != g.to_dim() {
        return Err(format!(
            "output `logits`: {:?} {}, expected f32 [B, {g}] (one logit per group)",
            fact.datum_type,
            dims(fact)
        ));
    }
    Ok(())
}

fn check_ops(model: &TypedModel) -> Result<(), String> {
    let mut bad: Vec<String> = Vec::new();
    for node in model.nodes() {
        let op = node.op.name();
        if !ALLOWED_OPS.contains(&op.as_ref()) && !bad.iter().any(|b| b.starts_with(op.as_ref())) {
            bad.push(format!("{op} (node `{}`)", node.name));
        }
    }
    if bad.is_empty() {
        return Ok(());
    }
    Err(format!(
        "operator{} {} not part of the contract (docs/NNEF.md, \"Operators used\")",
        if bad.len() > 1 { "s" } else { "" },
        bad.join(", ")
    ))
}

/// A constant of the graph as f32 values, checked against the shape `want`
/// (`alt` is a second accepted shape: a bias `[out]` for `[1, out]`).
fn tensor(
    consts: &HashMap<String, Arc<Tensor>>,
    name: &str,
    want: &[usize],
    alt: Option<&[usize]>,
) -> Result<Vec<f32>, String> {
    let t = consts
        .get(name)
        .ok_or_else(|| format!("tensor `{name}` is missing (docs/NNEF.md names every weight)"))?;
    if t.datum_type() != f32::datum_type() {
        return Err(format!(
            "tensor `{name}`: {:?}, expected f32",
            t.datum_type()
        ));
    }
    if t.shape() != want && Some(t.shape()) != alt {
        return Err(format!(
            "tensor `{name}`: shape {:?}, the config implies {:?}",
            t.shape(),
            want
        ));
    }
    let v: Vec<f32> = t
        .as_slice::<f32>()
        .map_err(|e| format!("tensor `{name}`: {}", one_line(e)))?
        .to_vec();
    if let Some(k) = v.iter().position(|x| !x.is_finite()) {
        return Err(format!(
            "tensor `{name}`: value {} at flat index {k} is not finite",
            v[k]
        ));
    }
    Ok(v)
}

/// Reads an NNEF archive that follows docs/NNEF.md into the float model `cfg`
/// describes. Errors are one line naming the tensor, input or operator at fault.
pub fn read_nnef(path: &Path, cfg: &ModelConfig) -> Result<ModelSpec, String> {
    if !path.exists() {
        return Err(format!("{}: no such file", path.display()));
    }
    let (proto, model) = no_panic(&format!("{}: cannot load as NNEF", path.display()), || {
        let nnef = export::nnef();
        let proto = nnef.proto_model_for_path(path)?;
        let model = nnef.model_for_proto_model(&proto)?;
        Ok((proto, model))
    })?;
    check_io(&model, cfg)?;
    check_ops(&model)?;
    // A small tensor written inline (tract's writer does so) is a graph constant
    // named by its identifier; a variable is found by its label, as the archive
    // stores it, since tract may fold its node away (an all-zero bias added is a
    // no-op) and an exporter such as torch-to-nnef names graph nodes its own way.
    let mut consts: HashMap<String, Arc<Tensor>> = model
        .nodes()
        .iter()
        .filter_map(|n| {
            n.op_as::<Const>()
                .map(|c| (n.name.clone(), c.val().clone()))
        })
        .collect();
    for (label, t) in &proto.tensors {
        consts.insert(label.0.trim_start_matches('/').to_string(), t.clone());
    }
    let embeddings = cfg
        .fields
        .iter()
        .map(|f| match f.kind {
            FieldKind::Categorical { vocab, dim } => tensor(
                &consts,
                &format!("emb_{}", f.name),
                &[vocab as usize, dim as usize],
                None,
            )
            .map(Some),
            FieldKind::Dense { .. } => Ok(None),
        })
        .collect::<Result<Vec<_>, String>>()?;
    let names = export::linear_names(cfg);
    let mut linears = Vec::new();
    for (name, (inputs, outputs, has_bias)) in names.iter().zip(cfg.linear_shapes()) {
        let weight = tensor(&consts, &format!("{name}_w"), &[outputs, inputs], None)?;
        let b = format!("{name}_b");
        let bias = if has_bias {
            tensor(&consts, &b, &[1, outputs], Some(&[outputs]))?
        } else if consts.contains_key(&b) {
            return Err(format!(
                "tensor `{b}`: a low-rank `v` projection has no bias in the contract"
            ));
        } else {
            Vec::new()
        };
        linears.push(LinearSpec {
            inputs,
            outputs,
            weight,
            bias,
        });
    }
    // A weight the config does not account for means the two disagree.
    let mut expected: Vec<String> = names
        .iter()
        .flat_map(|n| [format!("{n}_w"), format!("{n}_b")])
        .collect();
    expected.extend(cfg.fields.iter().map(|f| format!("emb_{}", f.name)));
    let mut extra: Vec<&String> = consts
        .keys()
        .filter(|k| {
            let weightish = k.starts_with("emb_")
                || ((k.starts_with("expert") || k.starts_with("group"))
                    && (k.ends_with("_w") || k.ends_with("_b")));
            weightish && !expected.contains(k)
        })
        .collect();
    extra.sort();
    if let Some(k) = extra.first() {
        return Err(format!(
            "tensor `{k}` is not part of the model the config describes ({} experts, {} cross layers, rank {}, {} groups)",
            cfg.arch.experts,
            cfg.arch.cross_layers,
            cfg.arch.cross_rank,
            cfg.groups.len()
        ));
    }
    Ok(ModelSpec {
        config: cfg.clone(),
        embeddings,
        linears,
    })
}
