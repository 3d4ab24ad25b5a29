#!/usr/bin/env bash
# The peer comparison: camoe against ONNX Runtime and LiteRT (TFLite + XNNPACK) on the
# same model, one thread pinned to one core, AMX allowed and refused.
#
#   bash benches/peers/run.sh
#
# Environment (all optional):
#   PEERS_MODEL    model source for peers-dump (default random:2025 = models/random-demo.camoe)
#   PEERS_SECONDS  timed seconds per engine, batch size and round (default 0.5)
#   PEERS_ROUNDS   rounds, alternating AMX allowed / refused; the report keeps each
#                  cell's lowest median (default 3)
#   PEERS_CORE     core to pin to (default 1)
#   PEERS_TIERS    camoe kernel tiers to time (default "scalar best"; best = what the
#                  library picks on this CPU; scalar = CAMOE_KERNEL_TIER=scalar)
#   PEERS_README   README to update (default benches/README.md; empty = none)
#   PEERS_THREADS2 1 (default) adds the two-thread rows: camoe --intra-threads 2, ORT
#                  intra_op_num_threads = 2, LiteRT num_threads = 2, on cores 0,1, AMX refused
#
# Steps: venv (reused when present) -> cargo build --release --lib and the peers-dump
# example -> C programs (camoe-bench, the device benchmark a user runs: it times camoe's
# rows; noamx) -> ONNX and TFLite models -> parity
# (fails if an fp32 engine disagrees with camoe f32 by 1e-4 or more) -> AMX probe ->
# timings (each engine with AMX allowed and refused) -> results/ and the README section.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"
export CARGO_TARGET_DIR="$ROOT/target"
VENV="$HERE/.venv"
WORK="$HERE/work"
RES="$HERE/results"
MODEL_SRC="${PEERS_MODEL:-random:2025}"
SECS="${PEERS_SECONDS:-0.5}"
ROUNDS="${PEERS_ROUNDS:-3}"
CORE="${PEERS_CORE:-1}"
TIERS="${PEERS_TIERS:-scalar best}"
README="${PEERS_README-benches/README.md}"
BATCHES=1,10,50,200,1000
THREADS2="${PEERS_THREADS2:-1}"
PY="$VENV/bin/python"
step() { printf '\n== %s (%s)\n' "$*" "$(date -u +%H:%M:%S)" >&2; }
quiet() { grep -v -e '^W0000' -e '^I0000' -e '^INFO: ' -e 'oneDNN custom operations' >&2 || true; }

step "Python venv"
PKGS=(onnxruntime==1.32.0 onnx==1.23.2 numpy==2.4.6 matplotlib==3.11.2 ai-edge-litert==2.3.0 tensorflow-cpu==2.21.0)
if [ ! -x "$PY" ] || ! "$PY" -c 'import onnxruntime, onnx, numpy, matplotlib, tensorflow, ai_edge_litert' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q "${PKGS[@]}"
else
    echo "reusing $VENV" >&2
fi
export TF_CPP_MIN_LOG_LEVEL=2 PYTHONWARNINGS=ignore

step "cargo build --release --lib; peers-dump ($MODEL_SRC)"
cargo build --release --lib
rm -rf "$WORK" && mkdir -p "$WORK/lib" "$RES"
# camoe's reference pCTRs come from the scalar kernels (the reference implementation).
CAMOE_KERNEL_TIER=scalar cargo run --release --example peers-dump -- "$WORK/dump" --model "$MODEL_SRC"
# A private copy: other builds may rewrite target/release while this runs.
cp target/release/libcamoe.so "$WORK/lib/"

step "C programs"
CC="${CC:-cc}"
make -s -C benches/camoe-bench CC="$CC" LIBDIR="$WORK/lib" OUT="$WORK/camoe-bench"
"$CC" -O2 -std=c11 -Wall -Wextra -Werror -o "$WORK/noamx" "$HERE/noamx.c"
NOAMX="$WORK/noamx"

step "peer models (ONNX, TFLite)"
"$PY" "$HERE/peers.py" build "$WORK/dump" "$WORK/models" 2>&1 | quiet

# camoe rows: mode x tier.  label -> "model tier"
declare -a CAMOE_ROWS=()
for tier in $TIERS; do
    if [ "$tier" = best ]; then
        env -u CAMOE_KERNEL_TIER "$WORK/camoe-bench" "$WORK/dump/model-int8.camoe" --requests "$WORK/dump/requests.txt" \
            --batches 1 --iterations 1 --warmup 0 --load-repeats 0 --json > "$WORK/probe.json"
        name="$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["kernel_tier"])' "$WORK/probe.json")"
    else
        name="$tier"
    fi
    for mode in int8 int8-static f32; do CAMOE_ROWS+=("camoe-$mode-$name:$mode:$tier"); done
done
camoe_run() { # MODE TIER PASS [camoe-bench flags...]: camoe-bench on the dump's first request
    local mode="$1" tier="$2" pass="$3"; shift 3
    local pre=(taskset -c "$CORE"); [ "$pass" = noamx ] && pre+=("$NOAMX")
    local tier_flag=(); [ "$tier" = best ] || tier_flag=(--tier "$tier")
    env -u CAMOE_KERNEL_TIER "${pre[@]}" "$WORK/camoe-bench" "$WORK/dump/model-$mode.camoe" \
        --requests "$WORK/dump/requests.txt" "${tier_flag[@]}" "$@"
}

step "parity"
: > "$RES/kernels.txt"
PARITY_ARGS=()
for row in "${CAMOE_ROWS[@]}"; do
    IFS=: read -r label mode tier <<< "$row"
    camoe_run "$mode" "$tier" amx --batches 1 --iterations 1 --warmup 0 --load-repeats 0 --json \
        --scores-out "$WORK/scores-$label.f32" > "$WORK/parity-$label.json"
    "$PY" "$HERE/peers.py" camoe-bench "$label" "$WORK/parity-$label.json" --kernels >> "$RES/kernels.txt"
    PARITY_ARGS+=(--camoe-scores "$label=$WORK/scores-$label.f32")
done
"$PY" "$HERE/peers.py" parity "$WORK/dump" "$WORK/models" "${PARITY_ARGS[@]}" --csv "$RES/parity.csv" 2> >(quiet)

step "AMX probe"
{
    grep -m1 'model name' /proc/cpuinfo
    printf 'AMX flags in /proc/cpuinfo: %s\n' "$(grep -m1 '^flags' /proc/cpuinfo | grep -o 'amx[a-z0-9_]*' | sort -u | tr '\n' ' ' || true)"
    printf 'plain:  '; taskset -c "$CORE" "$PY" "$HERE/peers.py" amx-probe
    printf 'noamx:  '; taskset -c "$CORE" "$NOAMX" "$PY" "$HERE/peers.py" amx-probe
    # Which engines ask for AMX at all: every arch_prctl permission request, traced.
    if command -v strace > /dev/null; then
        echo "AMX permission requests (arch_prctl ARCH_REQ_XCOMP_PERM) made by each engine, traced with strace:"
        for pass in amx noamx; do
            for e in probe camoe-int8 ort-fp32 ort-int8dyn litert-fp32 litert-int8dyn litert-int8; do
                pre=(); [ "$pass" = noamx ] && pre=("$NOAMX")
                if [ "$e" = probe ]; then  # the positive control: asks for AMX itself
                    cmd=("$PY" "$HERE/peers.py" amx-probe)
                elif [ "$e" = camoe-int8 ]; then
                    cmd=(env -u CAMOE_KERNEL_TIER "$WORK/camoe-bench" "$WORK/dump/model-int8.camoe" --requests "$WORK/dump/requests.txt" --batches 10 --seconds 0.05)
                else
                    cmd=("$PY" "$HERE/peers.py" time "$WORK/dump" "$WORK/models" x --engines "$e" --batches 10 --seconds 0.05)
                fi
                "${pre[@]}" strace -f -qq -e trace=arch_prctl -o "$WORK/strace.txt" "${cmd[@]}" > /dev/null 2>&1 || true
                req="$(grep -E 'XCOMP_PERM|0x102[35]' "$WORK/strace.txt" | grep -v GET || true)"
                printf '  %-6s %-15s %s request(s)%s\n' "$pass" "$e" "$(printf '%s' "$req" | grep -c . || true)" \
                    "$([ -n "$req" ] && printf ', returned: %s' "$(printf '%s\n' "$req" | sed 's/.*= //' | sort | uniq -c | xargs)")"
            done
        done
    fi
} > "$RES/amx.txt" 2>&1
cat "$RES/amx.txt" >&2

{
    grep -m1 'model name' /proc/cpuinfo | sed 's/\s*:\s*/: /'
    echo "vendor $(grep -m1 vendor_id /proc/cpuinfo | cut -d: -f2 | xargs), family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs), model $(grep -m1 '^model\s' /proc/cpuinfo | cut -d: -f2 | xargs)"
    echo "kernel: $(uname -r); cores online: $(nproc); pinned core: $CORE"
    printf 'flags of interest: %s\n' "$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx_vnni|avx512_bf16|avx512_fp16|amx_tile|amx_int8|amx_bf16)$' | tr '\n' ' ')"
    grep -m1 -i '^hypervisor\|^flags.*hypervisor' /proc/cpuinfo > /dev/null && echo "virtualised (hypervisor flag set)"
} > "$RES/machine.txt"
"$PY" -c 'import onnxruntime, onnx, numpy, tensorflow, ai_edge_litert.interpreter as l, sys
print("python", sys.version.split()[0], "| onnxruntime", onnxruntime.__version__, "| onnx", onnx.__version__,
      "| numpy", numpy.__version__, "| tensorflow-cpu", tensorflow.__version__, "| ai-edge-litert", __import__("importlib.metadata").metadata.version("ai-edge-litert"))' \
    > "$RES/versions.txt" 2> /dev/null
echo "$(cc --version | head -1); rustc $(rustc --version | cut -d' ' -f2)" >> "$RES/versions.txt"
"$PY" "$HERE/peers.py" floor >> "$RES/versions.txt" 2> /dev/null

step "timings: B in $BATCHES, ${SECS}s per cell, $ROUNDS rounds, core $CORE, AMX allowed and refused"
T="$RES/timings.csv"
echo "engine,B,median_us,p10_us,p90_us,iterations" > "$T"
echo "load average before timings: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RES/machine.txt"
for round in $(seq "$ROUNDS"); do
    echo "-- round $round of $ROUNDS" >&2
    for pass in amx noamx; do
        for row in "${CAMOE_ROWS[@]}"; do
            IFS=: read -r label mode tier <<< "$row"
            camoe_run "$mode" "$tier" "$pass" --batches "$BATCHES" --seconds "$SECS" --json > "$WORK/timing.json"
            "$PY" "$HERE/peers.py" camoe-bench "$label/$pass" "$WORK/timing.json" | tee -a "$T"
        done
        pre=(taskset -c "$CORE"); [ "$pass" = noamx ] && pre+=("$NOAMX")
        "${pre[@]}" "$PY" "$HERE/peers.py" time "$WORK/dump" "$WORK/models" "$pass" --seconds "$SECS" --batches "$BATCHES" 2> >(quiet) | tee -a "$T"
    done
done
# Two threads (both cores, AMX refused): camoe's session with one worker thread
# (--intra-threads 2), ORT intra_op_num_threads = 2, LiteRT (XNNPACK) num_threads = 2.
if [ "$THREADS2" = 1 ]; then
    for round in $(seq "$ROUNDS"); do
        echo "-- two threads, round $round of $ROUNDS" >&2
        for row in "${CAMOE_ROWS[@]}"; do
            IFS=: read -r label mode tier <<< "$row"
            [ "$tier" = best ] && [ "$mode" != f32 ] || continue
            env -u CAMOE_KERNEL_TIER taskset -c 0,1 "$NOAMX" "$WORK/camoe-bench" "$WORK/dump/model-$mode.camoe" \
                --requests "$WORK/dump/requests.txt" --intra-threads 2 --batches "$BATCHES" --seconds "$SECS" --json > "$WORK/timing.json"
            "$PY" "$HERE/peers.py" camoe-bench "$label/noamx-t2" "$WORK/timing.json" | tee -a "$T"
        done
        taskset -c 0,1 "$NOAMX" "$PY" "$HERE/peers.py" time "$WORK/dump" "$WORK/models" noamx-t2 --threads 2 \
            --engines ort-int8dyn,litert-int8 --seconds "$SECS" --batches "$BATCHES" 2> >(quiet) | tee -a "$T"
    done
fi
echo "load average after timings: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$RES/machine.txt"

step "report"
REF="$(printf '%s\n' "${CAMOE_ROWS[@]}" | cut -d: -f1 | grep '^camoe-int8' | paste -sd, -)"
"$PY" "$HERE/report.py" "$RES" --ref "$REF" ${README:+--readme "$README"}
echo "results: $RES (timings.csv, ratios.csv, parity.csv, table.md, peers.png)" >&2
