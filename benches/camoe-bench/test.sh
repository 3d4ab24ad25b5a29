#!/usr/bin/env bash
# Tests camoe-bench: x86_64 builds against the shared and the static library, runs on the
# shipped model with tiny budgets whose JSON check.py verifies field by field, request-file
# scores checked against camoe-rank, the peer harness's request file reproducing peers-dump's
# Rust API pCTRs bit for bit, a run under ASan+UBSan, error cases (status and one-line
# message), then an aarch64 build run under qemu-aarch64 whose JSON must parse and describe
# the run. Needs python3 (json module), gcc, aarch64-linux-gnu-gcc and qemu-aarch64.
#
#   bash benches/camoe-bench/test.sh        (CAMOE_PROFILE=ci by default; CARGO_TARGET_DIR honoured)
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=${CAMOE_PROFILE:-ci}
target=$(realpath "${CARGO_TARGET_DIR:-target}")
out=$target/camoe-bench/test
mkdir -p "$out"
here=benches/camoe-bench
model=models/camoe-demo.camoe
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
tiny=(--iterations 20 --warmup 2 --load-repeats 3)
fail() { echo "camoe-bench test: $*" >&2; exit 1; }

step() { printf '\n-- camoe-bench: %s\n' "$*"; }
step "build (x86_64, shared and static)"
cargo build --profile "$profile" --lib --bin camoe-rank --quiet
lib=$target/$profile
make -s -C "$here" LIBDIR="$lib" OUT="$out/camoe-bench"
make -s -C "$here" LIBDIR="$lib" LINK=static OUT="$out/camoe-bench-static"
bench=$out/camoe-bench
tiers=$(echo "$("$target/$profile/camoe-rank" --list-tiers)" | tr ' ' ',')

step "generated candidates, JSON checked field by field"
"$bench" "$model" --batches 1,7,64 "${tiny[@]}" --samples-out "$out/gen.csv" --json > "$out/gen.json"
python3 "$here/check.py" "$out/gen.json" --model "$model" --batches 1,7,64 --iterations 20 --tiers "$tiers" \
    --version "$version" --samples "$out/gen.csv"
# The library picks the best tier this CPU has: the last one --list-tiers prints.
best=${tiers##*,}
python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["kernel_tier"]; sys.exit(t != sys.argv[2])' \
    "$out/gen.json" "$best" || fail "kernel_tier is not $best, the best tier of this CPU"

step "static library, by seconds, mapped load"
"$out/camoe-bench-static" "$model" --batches 3 --seconds 0.05 --warmup 1 --load-repeats 0 --mapped --json \
    > "$out/static.json"
python3 "$here/check.py" "$out/static.json" --model "$model" --batches 3 --tiers "$tiers" --load mapped

step "request file, 2 threads, scalar tier, expert top-k"
"$bench" "$model" --requests models/sample-request.txt --batches 5,30 --threads 2 --tier scalar \
    --expert-top-k 2 "${tiny[@]}" --samples-out "$out/req.csv" --json > "$out/req.json"
python3 "$here/check.py" "$out/req.json" --model "$model" --batches 5,30 --iterations 20 --threads 2 \
    --tiers scalar --input requests --expert-top-k 2 --samples "$out/req.csv"

step "request-file scores equal camoe-rank's; --expert-top-k changes them"
"$bench" "$model" --requests models/sample-request.txt --batches 1 --iterations 1 --load-repeats 0 \
    --scores-out "$out/scores.f32" > /dev/null
"$bench" "$model" --requests models/sample-request.txt --batches 1 --iterations 1 --load-repeats 0 \
    --expert-top-k 1 --scores-out "$out/scores-k1.f32" > /dev/null
"$target/$profile/camoe-rank" "$model" models/sample-request.txt > "$out/camoe-rank.txt"
python3 - "$out/scores.f32" "$out/scores-k1.f32" "$out/camoe-rank.txt" <<'EOF'
import re, struct, sys
def f32s(path):
    data = open(path, "rb").read()
    return struct.unpack(f"<{len(data) // 4}f", data)
bench, k1 = f32s(sys.argv[1]), f32s(sys.argv[2])
rank = {}
for line in open(sys.argv[3]):
    m = re.match(r"\s+\d+\s+(\d+)\s+\S+\s+\S+\s+([0-9.]+)\s", line)
    if m:
        rank[int(m.group(1))] = float(m.group(2))
assert len(bench) == 12 and len(rank) == 12, (len(bench), len(rank))
for i, p in rank.items():  # camoe-rank prints 6 decimals
    assert abs(bench[i] - p) <= 6e-7, f"candidate {i}: camoe-bench {bench[i]} vs camoe-rank {p}"
assert any(a != b for a, b in zip(bench, k1)), "--expert-top-k 1 gave the same scores as all experts"
print("scores: 12 candidates equal camoe-rank's; expert top-k 1 differs")
EOF

step "peer harness input: peers-dump's requests.txt through camoe-bench = its Rust API pCTRs, bit for bit"
cargo build --profile "$profile" --example peers-dump --quiet
rm -rf "$out/dump"
"$target/$profile/examples/peers-dump" "$out/dump" --requests 2 --candidates 40 2> /dev/null
for m in f32 int8; do
    "$bench" "$out/dump/model-$m.camoe" --requests "$out/dump/requests.txt" --batches 1 --iterations 1 \
        --load-repeats 0 --scores-out "$out/dump/bench-$m.f32" > /dev/null
done
python3 - "$out/dump" <<'EOF'
import ast, os, struct, sys
def f32s(data):
    return struct.unpack(f"<{len(data) // 4}f", data)
for m in ("f32", "int8"):
    raw = open(os.path.join(sys.argv[1], f"pctr_{m}.npy"), "rb").read()
    header_len = struct.unpack("<H", raw[8:10])[0]
    header = ast.literal_eval(raw[10:10 + header_len].decode())
    assert header["descr"] == "<f4" and header["shape"] == (2, 40), header
    rust = f32s(raw[10 + header_len:])
    bench = f32s(open(os.path.join(sys.argv[1], f"bench-{m}.f32"), "rb").read())
    diff = [i for i, (x, y) in enumerate(zip(rust, bench)) if struct.pack("<f", x) != struct.pack("<f", y)]
    assert len(bench) == 80 and not diff, f"{m}: {len(bench)} scores, differing at {diff[:5]}"
print("peers-dump requests: 80 pCTRs equal the Rust API's bit for bit (f32 and int8)")
EOF

step "AddressSanitizer + UBSan (static link): threads, request file, scores, leaks"
make -s -C "$here" LIBDIR="$lib" LINK=static OUT="$out/camoe-bench-san" \
    CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all"
for input in "" "--requests models/sample-request.txt"; do
    # shellcheck disable=SC2086 # $input is two words or none
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 "$out/camoe-bench-san" "$model" $input --threads 3 --batches 1,20 \
        --iterations 5 --warmup 1 --load-repeats 2 --scores-out "$out/san.f32" --samples-out "$out/san.csv" \
        --json > "$out/san.json"
    python3 "$here/check.py" "$out/san.json" --model "$model" --batches 1,20 --iterations 5 --threads 3 \
        --tiers "$tiers" --input "$([ -n "$input" ] && echo requests || echo generated)" --samples "$out/san.csv"
done

step "human table"
"$bench" "$model" --batches 2,9 --iterations 5 --warmup 1 --load-repeats 1 > "$out/table.txt"
cat "$out/table.txt"
grep -q "^camoe-bench: libcamoe $version " "$out/table.txt" || fail "table: no version line"
grep -q "^kernels tier=$best " "$out/table.txt" || fail "table: no kernels line"
test "$(grep -cE '^ +(2|9) +5 ' "$out/table.txt")" -eq 2 || fail "table: not one row per batch size"

step "errors: status and one line on stderr"
garbage=$out/garbage.camoe
head -c 4096 /dev/urandom > "$garbage"
expect_error() { # WANTED-SUBSTRING ARGS...
    local want="$1"; shift
    if "$bench" "$@" > "$out/err.out" 2> "$out/err.txt"; then fail "'$*' exited 0"; fi
    test "$(wc -l < "$out/err.txt")" -eq 1 || fail "'$*' wrote $(wc -l < "$out/err.txt") lines on stderr"
    grep -q "^camoe-bench: .*$want" "$out/err.txt" || fail "'$*': stderr lacks '$want': $(cat "$out/err.txt")"
    test ! -s "$out/err.out" || fail "'$*' printed a report"
    echo "ok: $* -> $(cat "$out/err.txt")"
}
expect_error "IO" models/no-such-model.camoe
expect_error "BAD_MODEL" "$garbage"
expect_error "unknown flag --bogus" "$model" --bogus
expect_error "expected a whole number" "$model" --batches 1,0
expect_error "needs a value" "$model" --threads
expect_error "no model given" --json
expect_error "CAMOE_KERNEL_TIER=\"avx3\"" "$model" --tier avx3
expect_error "--tier i8mm: this CPU cannot run it" "$model" --tier i8mm
expect_error "not both" "$model" --seconds 1 --iterations 3
expect_error "unknown field" "$model" --requests <(echo "request no_such_field=1"; echo "candidate task=overlay")
"$bench" "$model" --intra-threads 2 --batches 64 "${tiny[@]}" --json > "$out/intra.json"
python3 "$here/check.py" "$out/intra.json" --model "$model" --batches 64 --iterations 20 --tiers "$tiers"
python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1]))["settings"]["intra_threads"] != 2)' \
    "$out/intra.json" || fail "--intra-threads 2 not echoed"
expect_error "threads 65 must be in 1..=64" "$model" --intra-threads 65

step "aarch64: cross build, run under qemu-aarch64"
RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    cargo build --profile "$profile" --target aarch64-unknown-linux-gnu --lib --target-dir "$target/aarch64" --quiet
alib=$target/aarch64/aarch64-unknown-linux-gnu/$profile
make -s -C "$here" CC=aarch64-linux-gnu-gcc LIBDIR="$alib" OUT="$out/aarch64/camoe-bench"
make -s -C "$here" CC=aarch64-linux-gnu-gcc LIBDIR="$alib" LINK=static OUT="$out/aarch64/camoe-bench-static"
readelf -h "$out/aarch64/camoe-bench" | grep -q "Machine: *AArch64" || fail "the cross build is not aarch64"
qemu=(qemu-aarch64 -L / -cpu max)
"${qemu[@]}" "$out/aarch64/camoe-bench" "$model" --batches 1,8 --iterations 2 --warmup 1 --load-repeats 1 --json \
    > "$out/aarch64.json"
python3 "$here/check.py" "$out/aarch64.json" --model "$model" --batches 1,8 --iterations 2 --tiers i8mm --loose
"${qemu[@]}" "$out/aarch64/camoe-bench-static" "$model" --batches 4 --iterations 2 --warmup 1 --load-repeats 1 \
    --tier neon --json > "$out/aarch64-neon.json"
python3 "$here/check.py" "$out/aarch64-neon.json" --model "$model" --batches 4 --iterations 2 --tiers neon --loose
echo "camoe-bench: all tests passed"
