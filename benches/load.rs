//! Load time of the shipped models: read into memory (the default, `Model::load`) against
//! memory-mapped (`Model::load_mapped`), file in the page cache.

use criterion::{criterion_group, criterion_main, Criterion};

use camoe::Model;

fn load(c: &mut Criterion) {
    let mut g = c.benchmark_group("load");
    for (name, path) in [
        ("int8", "models/camoe-demo.camoe"),
        ("f16", "models/camoe-demo.f16.camoe"),
    ] {
        g.bench_function(format!("read/{name}"), |b| {
            b.iter(|| Model::load(path).unwrap())
        });
        // SAFETY: nothing modifies the shipped model files while the bench runs.
        g.bench_function(format!("mapped/{name}"), |b| {
            b.iter(|| unsafe { Model::load_mapped(path) }.unwrap())
        });
    }
    g.finish();
}

criterion_group!(benches, load);
criterion_main!(benches);
