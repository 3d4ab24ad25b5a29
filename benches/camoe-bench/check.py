"""Checks one camoe-bench --json report field by field (used by benches/camoe-bench/test.sh).

    python3 check.py REPORT.json --model PATH --batches 1,7 [--iterations N] [--threads N]
        [--tiers T,T] [--input generated|requests] [--expert-top-k K] [--load read|mapped]
        [--version X.Y.Z] [--samples SAMPLES.csv] [--loose]

Every key the tool writes must be present with the right type, and no unknown key may
appear; the settings must echo the flags; the statistics must be ordered (min <= p10 <=
p50 <= p90 <= p99 <= max, mean within them). With --samples (the run's --samples-out)
every statistic is recomputed from the raw samples (nearest-rank percentiles) and must
match. --loose (qemu runs) keeps the structure checks and drops those that depend on
/proc or on the host's clock.
"""
import argparse
import csv
import json
import math
import os
import sys

BATCH_KEYS = ["batch", "iterations", "mean_us", "std_us", "min_us", "p10_us", "p50_us", "p90_us",
              "p99_us", "max_us", "candidates_per_s"]
TOP_KEYS = ["tool", "library_version", "header_version", "kernel_tier", "kernel_info", "model", "settings",
            "load_first_us", "load_median_us", "load_repeats", "session_new_us", "first_rank_us",
            "first_rank_batch", "vm_hwm_kb", "batches"]
MODEL_KEYS = ["path", "name", "mode", "file_size", "fields", "tasks", "experts", "parameters",
              "macs_per_candidate"]
SETTINGS_KEYS = ["input", "requests_file", "seed", "seconds", "iterations", "warmup", "threads",
                 "intra_threads", "expert_top_k", "tier", "load", "timed"]

failures = []


def expect(ok, what):
    if not ok:
        failures.append(what)


def keys(obj, want, where):
    expect(isinstance(obj, dict), f"{where} is not an object")
    if isinstance(obj, dict):
        expect(sorted(obj) == sorted(want), f"{where} keys {sorted(obj)} != {sorted(want)}")


def number(v, where, positive=True):
    ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    expect(ok and (v > 0 if positive else v >= 0), f"{where} = {v!r}: expected a {'positive' if positive else 'non-negative'} number")
    return ok


def close(x, y):
    # The report prints 3 decimals; samples are f32 in the tool.
    return abs(x - y) <= 1e-3 + 1e-6 * abs(y)


def check_samples(path, batches, threads):
    """Recomputes each batch's statistics from the raw samples."""
    by_batch = {}
    with open(path) as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        by_batch.setdefault(int(row["batch"]), []).append((int(row["thread"]), float(row["us"])))
    for b in batches:
        got = by_batch.get(b.get("batch"), [])
        where = f"samples of batch {b.get('batch')}"
        expect(len(got) == b.get("iterations"), f"{where}: {len(got)} samples, report says {b.get('iterations')}")
        expect({t for t, _ in got} == set(range(threads)), f"{where}: threads {sorted({t for t, _ in got})}")
        if not got:
            continue
        v = sorted(us for _, us in got)
        n = len(v)
        mean = sum(v) / n
        std = (sum((x - mean) ** 2 for x in v) / (n - 1)) ** 0.5 if n > 1 else 0.0
        rank = lambda p: v[max(math.ceil(p / 100 * n), 1) - 1]
        want = {"mean_us": mean, "std_us": std, "min_us": v[0], "p10_us": rank(10), "p50_us": rank(50),
                "p90_us": rank(90), "p99_us": rank(99), "max_us": v[-1]}
        for k, w in want.items():
            expect(isinstance(b.get(k), (int, float)) and close(b[k], w), f"{where}: {k} {b.get(k)} != {w:.3f} from the samples")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("report")
    p.add_argument("--model", required=True)
    p.add_argument("--batches", required=True)
    p.add_argument("--iterations", type=int)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tiers", default="scalar,avx2,avxvnni,avx512vnni,neon,dotprod,i8mm")
    p.add_argument("--input", default="generated")
    p.add_argument("--expert-top-k", type=int, default=0)
    p.add_argument("--load", default="read")
    p.add_argument("--version")
    p.add_argument("--samples")
    p.add_argument("--loose", action="store_true")
    a = p.parse_args()
    with open(a.report) as f:
        r = json.load(f)  # fails loudly on invalid JSON (e.g. an unescaped string)

    keys(r, TOP_KEYS, "report")
    expect(r.get("tool") == "camoe-bench", "tool")
    version = r.get("library_version")
    expect(isinstance(version, str) and version.count(".") == 2, f"library_version {version!r}")
    expect(r.get("header_version") == version, f"header {r.get('header_version')} != library {version}")
    if a.version:
        expect(version == a.version, f"library_version {version} != Cargo.toml {a.version}")
    tier, info = r.get("kernel_tier"), r.get("kernel_info", "")
    expect(tier in a.tiers.split(","), f"kernel_tier {tier!r} not in {a.tiers}")
    expect(isinstance(info, str) and info.startswith(f"tier={tier} "), f"kernel_info {info!r} does not start with tier={tier}")

    m = r.get("model", {})
    keys(m, MODEL_KEYS, "model")
    expect(m.get("path") == a.model, f"model.path {m.get('path')!r}")
    expect(m.get("file_size") == os.path.getsize(a.model), f"model.file_size {m.get('file_size')} != the file's size")
    expect(m.get("mode") in ("f32", "f16", "int8", "mixed"), f"model.mode {m.get('mode')!r}")
    expect(isinstance(m.get("name"), str) and m.get("name"), "model.name is empty")
    for k in ("fields", "tasks", "experts", "parameters", "macs_per_candidate"):
        expect(isinstance(m.get(k), int) and m[k] > 0, f"model.{k} = {m.get(k)!r}")

    s = r.get("settings", {})
    keys(s, SETTINGS_KEYS, "settings")
    expect(s.get("input") == a.input, f"settings.input {s.get('input')!r} != {a.input}")
    expect((s.get("requests_file") is None) == (a.input == "generated"), "settings.requests_file")
    expect((s.get("seed") is None) == (a.input == "requests"), "settings.seed")
    expect(s.get("threads") == a.threads, f"settings.threads {s.get('threads')}")
    expect(s.get("expert_top_k") == a.expert_top_k, f"settings.expert_top_k {s.get('expert_top_k')}")
    expect(s.get("load") == a.load, f"settings.load {s.get('load')!r}")
    expect(s.get("timed") == "set_request + rank", "settings.timed")
    expect(isinstance(s.get("intra_threads"), int) and s["intra_threads"] >= 1, "settings.intra_threads")
    expect(isinstance(s.get("warmup"), int), "settings.warmup")
    if a.iterations:
        expect(s.get("iterations") == a.iterations and s.get("seconds") is None, "settings.iterations/seconds")
    else:
        expect(s.get("iterations") is None and number(s.get("seconds"), "settings.seconds"), "settings.seconds")

    for k in ("load_first_us", "session_new_us", "first_rank_us"):
        number(r.get(k), k)
    if r.get("load_repeats"):
        number(r.get("load_median_us"), "load_median_us")
    else:
        expect(r.get("load_median_us") is None, "load_median_us without repeats is not null")
    expect(r.get("first_rank_batch") == int(a.batches.split(",")[0]), "first_rank_batch")

    hwm = r.get("vm_hwm_kb", {})
    keys(hwm, ["start", "loaded", "end"], "vm_hwm_kb")
    if not a.loose:
        vals = [hwm.get(k) for k in ("start", "loaded", "end")]
        expect(all(isinstance(v, int) and v > 0 for v in vals), f"vm_hwm_kb {vals}")
        # A high-water mark never falls.
        expect(all(isinstance(v, int) for v in vals) and vals == sorted(vals), f"vm_hwm_kb not monotonic: {vals}")
        # Loading a model and opening sessions must show in the peak.
        expect(vals[1] > vals[0], f"vm_hwm_kb did not grow with the model: {vals}")

    batches = r.get("batches", [])
    want = [int(b) for b in a.batches.split(",")]
    expect([b.get("batch") for b in batches] == want, f"batches {[b.get('batch') for b in batches]} != {want}")
    for b in batches:
        where = f"batch {b.get('batch')}"
        keys(b, BATCH_KEYS, where)
        if a.iterations:
            expect(b.get("iterations") == a.iterations * a.threads, f"{where}: iterations {b.get('iterations')}")
        else:
            expect(isinstance(b.get("iterations"), int) and b["iterations"] >= 5 * a.threads, f"{where}: iterations")
        stats = [b.get(k) for k in ("min_us", "p10_us", "p50_us", "p90_us", "p99_us", "max_us")]
        if all(number(v, f"{where}: a percentile") for v in stats):
            expect(stats == sorted(stats), f"{where}: percentiles out of order {stats}")
            if number(b.get("mean_us"), f"{where}: mean_us"):
                expect(stats[0] <= b["mean_us"] <= stats[-1], f"{where}: mean outside min..max")
        number(b.get("std_us"), f"{where}: std_us", positive=False)
        if number(b.get("candidates_per_s"), f"{where}: candidates_per_s") and not a.loose and a.threads == 1:
            # One thread: throughput cannot beat one batch per fastest iteration.
            expect(b["candidates_per_s"] <= b["batch"] / stats[0] * 1e6 * 1.0001,
                   f"{where}: candidates_per_s {b['candidates_per_s']} above batch / min")

    if a.samples:
        check_samples(a.samples, batches, a.threads)

    if failures:
        for f in failures:
            print(f"check.py {a.report}: {f}", file=sys.stderr)
        sys.exit(1)
    print(f"check.py: {a.report}: {len(batches)} batch sizes, every field checked")


if __name__ == "__main__":
    main()
