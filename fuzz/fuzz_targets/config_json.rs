//! Fuzz target: the converter's config JSON reader (`tools/src/config.rs`, compiled
//! in by path so the fuzzer need not build tract and candle with camoe-tools).
#![no_main]

#[path = "../../tools/src/config.rs"]
#[allow(dead_code)]
mod config;

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let Ok(cfg) = config::from_json(&v) else {
        return;
    };
    // Every integer accepted is the one in the file (no silent truncation).
    let arch = &cfg.arch;
    for (k, got) in [("expert_mlp", &arch.expert_mlp), ("tower", &arch.tower)] {
        let raw = v["arch"][k].as_array().unwrap().iter();
        let raw: Vec<u64> = raw.map(|x| x.as_u64().unwrap()).collect();
        let got: Vec<u64> = got.iter().map(|&x| x as u64).collect();
        assert_eq!(raw, got, "arch.{k} changed on reading");
    }
    // What was read survives the exporter's writer and this reader again.
    let text = serde_json::to_string(&config::to_json(&cfg)).unwrap();
    let back = config::from_json(&serde_json::from_str(&text).unwrap())
        .expect("a config this reader accepted is read back after writing");
    assert_eq!(back, cfg);
});
