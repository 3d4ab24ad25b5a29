//! JSON form of `camoe::spec::ModelConfig`: the schema/config file written next to
//! every exported NNEF model (`<name>.config.json`), from which the converter
//! rebuilds the `.camoe` config. Layout documented in `docs/NNEF.md`.

use camoe::spec::{Architecture, FieldKind, FieldSpec, Missing, ModelConfig, Side, TaskSpec};
use serde_json::{json, Value};

pub fn to_json(cfg: &ModelConfig) -> Value {
    let fields: Vec<Value> = cfg
        .fields
        .iter()
        .map(|f| {
            let mut v = json!({
                "name": f.name,
                "side": match f.side { Side::Request => "request", Side::Candidate => "candidate" },
                "missing": match f.missing { Missing::UseDefault => "default", Missing::Error => "error" },
            });
            match f.kind {
                FieldKind::Categorical { vocab, dim } => {
                    v["kind"] = json!("categorical");
                    v["vocab"] = json!(vocab);
                    v["dim"] = json!(dim);
                }
                FieldKind::Dense { mean, std, clip } => {
                    v["kind"] = json!("dense");
                    v["mean"] = json!(mean);
                    v["std"] = json!(std);
                    v["clip"] = json!(clip);
                }
            }
            v
        })
        .collect();
    let tasks: Vec<Value> = cfg
        .tasks
        .iter()
        .map(|t| {
            json!({
                "name": t.name,
                "format": cfg.formats[t.format as usize],
                "group": cfg.groups[t.group as usize],
                "calib_a": t.calib_a,
                "calib_b": t.calib_b,
            })
        })
        .collect();
    json!({
        "camoe_config_version": 1,
        "name": cfg.name,
        // As a string: JSON numbers lose precision above 2^53.
        "hash_seed": format!("{:#018x}", cfg.hash_seed),
        "formats": cfg.formats,
        "groups": cfg.groups,
        "fields": fields,
        "tasks": tasks,
        "arch": {
            "experts": cfg.arch.experts,
            "cross_layers": cfg.arch.cross_layers,
            "cross_rank": cfg.arch.cross_rank,
            "expert_mlp": cfg.arch.expert_mlp,
            "tower": cfg.arch.tower,
        },
    })
}

fn s<'a>(v: &'a Value, k: &str) -> Result<&'a str, String> {
    v[k].as_str()
        .ok_or_else(|| format!("`{k}` missing or not a string"))
}
fn u(v: &Value, k: &str) -> Result<u32, String> {
    v[k].as_u64()
        .and_then(|x| u32::try_from(x).ok())
        .ok_or_else(|| format!("`{k}` missing or not a u32"))
}
/// A finite f32: a number beyond f32's range would silently become ±inf.
fn f(v: &Value, k: &str) -> Result<f32, String> {
    v[k].as_f64()
        .map(|x| x as f32)
        .filter(|x| x.is_finite())
        .ok_or_else(|| format!("`{k}` missing or not a finite f32"))
}
fn u32s(v: &Value, k: &str) -> Result<Vec<u32>, String> {
    v[k].as_array()
        .ok_or_else(|| format!("`{k}` missing"))?
        .iter()
        .map(|x| {
            x.as_u64()
                .and_then(|x| u32::try_from(x).ok())
                .ok_or_else(|| format!("`{k}`: not a u32"))
        })
        .collect()
}
fn strs(v: &Value, k: &str) -> Result<Vec<String>, String> {
    v[k].as_array()
        .ok_or_else(|| format!("`{k}` missing"))?
        .iter()
        .map(|x| {
            x.as_str()
                .map(String::from)
                .ok_or_else(|| format!("`{k}`: not a string"))
        })
        .collect()
}

pub fn from_json(v: &Value) -> Result<ModelConfig, String> {
    if v["camoe_config_version"].as_u64() != Some(1) {
        return Err("unsupported camoe_config_version".into());
    }
    let hs = s(v, "hash_seed")?;
    let hash_seed = u64::from_str_radix(hs.trim_start_matches("0x"), 16)
        .map_err(|e| format!("hash_seed: {e}"))?;
    let formats = strs(v, "formats")?;
    let groups = strs(v, "groups")?;
    let fields = v["fields"]
        .as_array()
        .ok_or("`fields` missing")?
        .iter()
        .map(|fv| {
            let side = match s(fv, "side")? {
                "request" => Side::Request,
                "candidate" => Side::Candidate,
                x => return Err(format!("bad side {x}")),
            };
            let missing = match fv["missing"].as_str().unwrap_or("default") {
                "default" => Missing::UseDefault,
                "error" => Missing::Error,
                x => return Err(format!("bad missing {x}")),
            };
            let kind = match s(fv, "kind")? {
                "categorical" => FieldKind::Categorical {
                    vocab: u(fv, "vocab")?,
                    dim: u(fv, "dim")?,
                },
                "dense" => FieldKind::Dense {
                    mean: f(fv, "mean")?,
                    std: f(fv, "std")?,
                    clip: f(fv, "clip")?,
                },
                x => return Err(format!("bad kind {x}")),
            };
            Ok(FieldSpec {
                name: s(fv, "name")?.to_string(),
                side,
                kind,
                missing,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let index = |list: &[String], name: &str| {
        list.iter()
            .position(|x| x == name)
            .map(|i| i as u32)
            .ok_or_else(|| format!("unknown name {name}"))
    };
    let tasks = v["tasks"]
        .as_array()
        .ok_or("`tasks` missing")?
        .iter()
        .map(|t| {
            Ok(TaskSpec {
                name: s(t, "name")?.to_string(),
                format: index(&formats, s(t, "format")?)?,
                group: index(&groups, s(t, "group")?)?,
                calib_a: f(t, "calib_a")?,
                calib_b: f(t, "calib_b")?,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let a = &v["arch"];
    Ok(ModelConfig {
        name: s(v, "name")?.to_string(),
        hash_seed,
        formats,
        fields,
        groups,
        tasks,
        arch: Architecture {
            experts: u(a, "experts")?,
            cross_layers: u(a, "cross_layers")?,
            cross_rank: u(a, "cross_rank")?,
            expert_mlp: u32s(a, "expert_mlp")?,
            tower: u32s(a, "tower")?,
        },
    })
}

pub fn write(cfg: &ModelConfig, extra: Value, path: &std::path::Path) -> std::io::Result<()> {
    let mut v = to_json(cfg);
    if !extra.is_null() {
        v["training"] = extra;
    }
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap() + "\n")
}

pub fn read(path: &std::path::Path) -> Result<ModelConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    from_json(&v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_round_trip() {
        let mut cfg = ModelConfig::demo();
        cfg.tasks[3].calib_a = 1.25;
        cfg.tasks[3].calib_b = -0.375;
        cfg.arch.cross_rank = 16;
        cfg.fields[2].missing = Missing::Error;
        let text = serde_json::to_string(&to_json(&cfg)).unwrap();
        let back = from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        assert_eq!(back, cfg);
        // A wrong group name is an error, not a silent default.
        let mut v = to_json(&cfg);
        v["tasks"][0]["group"] = json!("nope");
        assert!(from_json(&v).is_err());
    }
}
