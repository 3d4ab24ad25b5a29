//! The JVM tests' reference: ranks a request file through the Rust API the way
//! `camoe-rank` does (per-candidate `Session::rank`, text values as `Value::Str`) and
//! prints each ranked candidate with its pCTR to 6 decimals (compared with
//! `camoe-rank`'s output) and as `f32::to_bits` (compared bit for bit with the JNI's).
//!
//! `cargo run --profile ci -p camoe-jni --example rank-bits -- MODEL REQUEST.txt`

use camoe::spec::FieldKind;
use camoe::{Candidate, Feature, Model, RankOptions, Session, Value};

/// A `field=value` pair as a feature; `None` for `task=` and `bid=` (not fields).
fn feature<'a>(model: &Model, k: &str, v: &'a str) -> Option<Feature<'a>> {
    let field = model.field_index(k)?;
    Some(Feature {
        field,
        value: match model.config().fields[field as usize].kind {
            FieldKind::Dense { .. } => Value::Dense(v.parse().expect("dense value")),
            FieldKind::Categorical { .. } => Value::Str(v.as_bytes()),
        },
    })
}

/// The value of `key=` in a line's words.
fn value<'a>(words: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
    words.iter().find(|p| p.0 == key).map(|p| p.1)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [model_path, request_path] = &args[..] else {
        panic!("usage: rank-bits MODEL REQUEST.txt");
    };
    let model = Model::load(model_path).expect("model");
    let text = std::fs::read_to_string(request_path).expect("request file");
    // (kind, field=value words) per line, comments dropped.
    let lines: Vec<(&str, Vec<(&str, &str)>)> = text
        .lines()
        .filter_map(|l| {
            let mut words = l.split('#').next()?.split_whitespace();
            let kind = words.next()?;
            Some((kind, words.filter_map(|w| w.split_once('=')).collect()))
        })
        .collect();
    let request: Vec<Feature> = lines
        .iter()
        .filter(|l| l.0 == "request")
        .flat_map(|l| l.1.iter().filter_map(|&(k, v)| feature(&model, k, v)))
        .collect();
    let features: Vec<Vec<Feature>> = lines
        .iter()
        .filter(|l| l.0 == "candidate")
        .map(|l| {
            l.1.iter()
                .filter_map(|&(k, v)| feature(&model, k, v))
                .collect()
        })
        .collect();
    let candidates: Vec<Candidate> = lines
        .iter()
        .filter(|l| l.0 == "candidate")
        .zip(&features)
        .map(|(l, f)| Candidate {
            task: model
                .task_index(value(&l.1, "task").expect("task="))
                .expect("task"),
            bid: value(&l.1, "bid").map_or(0.0, |b| b.parse().expect("bid")),
            features: f,
        })
        .collect();
    let mut session = Session::new(model.clone(), candidates.len()).expect("session");
    session.set_request(&request).expect("request");
    let (mut scores, mut order) = (vec![0.0; candidates.len()], vec![0; candidates.len()]);
    let k = session
        .rank(
            &candidates,
            &RankOptions::default(),
            &mut scores,
            &mut order,
        )
        .expect("rank");
    for (r, &i) in order[..k].iter().enumerate() {
        let task = &model.config().tasks[candidates[i as usize].task as usize].name;
        let s = scores[i as usize];
        println!(
            "{:4} {:10}  {:<18} {:.6} {:#010x}",
            r + 1,
            i,
            task,
            s,
            s.to_bits()
        );
    }
}
