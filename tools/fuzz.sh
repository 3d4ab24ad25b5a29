#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo +nightly fuzz, libFuzzer, ASan, debug assertions) of
# the loader, ranking and the converter's config JSON reader: replays every input in
# fuzz/regressions/<target>/ (inputs that once failed), then fuzzes each target for a
# bounded time from its committed seeds (fuzz/seeds/<target>) plus the local corpus
# (fuzz/corpus/<target>, not committed). Fails on any crash, panic or sanitizer report;
# the failing input lands in fuzz/artifacts/<target>/.
# Usage: tools/fuzz.sh [seconds per target] (default 50; four targets).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-50}"
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
cargo +nightly fuzz --version >/dev/null 2>&1 || cargo install cargo-fuzz --locked

# The committed loader seeds are what today's writer produces (else they test little).
CARGO_TARGET_DIR=fuzz/target/seeds cargo +nightly test --manifest-path fuzz/Cargo.toml --lib
cargo +nightly fuzz build -a

declare -A max_len=([loader]=16384 [rank]=4096 [columns]=4096 [config_json]=16384)
for t in loader rank columns config_json; do
    mkdir -p "fuzz/corpus/$t" "fuzz/seeds/$t" "fuzz/artifacts/$t"
    shopt -s nullglob
    replay=(fuzz/regressions/"$t"/*)
    shopt -u nullglob
    if [ ${#replay[@]} -gt 0 ]; then
        echo "== $t: replaying ${#replay[@]} regression input(s)"
        cargo +nightly fuzz run -a "$t" "${replay[@]}" -- -runs=1
    fi
    echo "== $t: fuzzing for $secs s"
    cargo +nightly fuzz run -a "$t" "fuzz/corpus/$t" "fuzz/seeds/$t" -- \
        -max_total_time="$secs" -max_len="${max_len[$t]}" -print_final_stats=1 \
        -artifact_prefix="fuzz/artifacts/$t/"
done
