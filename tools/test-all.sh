#!/usr/bin/env bash
# Runs every test of camoe on a fresh Debian machine, installing what they need:
# Rust unit and integration tests, the committed header against a fresh cbindgen,
# the runtime's dependency tree, the C/C++ consumers (plain and under ASan+UBSan),
# the Rust corrupt-model and ABI tests under ASan (nightly), and the tools' tests.
set -euo pipefail
cd "$(dirname "$0")/.."
CBINDGEN_VERSION=0.29.4
step() { printf '\n==> %s\n' "$*"; }
skipped=0

step "prerequisites"
need_apt=()
for tool in gcc g++ nm make; do command -v "$tool" >/dev/null || need_apt+=("$tool"); done
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq build-essential binutils
fi
if [ "$(cbindgen --version 2>/dev/null)" != "cbindgen $CBINDGEN_VERSION" ]; then
    cargo install cbindgen --version "$CBINDGEN_VERSION" --locked --quiet
fi

step "formatting"
cargo fmt --all -- --check

step "header is fresh (cbindgen $CBINDGEN_VERSION)"
fresh=$(mktemp)
cbindgen --config cbindgen.toml --crate camoe --output "$fresh" 2>/dev/null
if ! diff -u include/camoe.h "$fresh"; then
    echo "include/camoe.h is stale: regenerate it with cbindgen $CBINDGEN_VERSION"; exit 1
fi
rm -f "$fresh"

step "runtime dependencies (no tract, no candle)"
deps=$(cargo tree -p camoe -e normal --prefix none)
echo "$deps" | sort -u
if echo "$deps" | grep -Eq '^(tract|candle)'; then echo "the runtime depends on tract or candle"; exit 1; fi

step "Rust tests (runtime), once per kernel tier this CPU has"
cargo build --release --bin camoe-rank --quiet
tiers=$(target/release/camoe-rank --list-tiers)
echo "tiers: $tiers"
for tier in $tiers; do
    step "Rust tests at CAMOE_KERNEL_TIER=$tier"
    CAMOE_KERNEL_TIER=$tier cargo test --release -p camoe
done
for tier in avx2 avxvnni avx512vnni neon dotprod i8mm; do
    case " $tiers " in *" $tier "*) ;; *) echo "SKIPPED tier $tier: this CPU lacks it"; skipped=$((skipped + 1));; esac
done

step "C and C++ consumers, plain and under ASan+UBSan"
bash ffi-tests/run.sh

step "Rust ABI and corrupt-model tests under AddressSanitizer (nightly)"
if ! cargo +nightly --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || true
fi
if cargo +nightly --version >/dev/null 2>&1; then
    RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS=detect_leaks=1 \
        cargo +nightly test --target x86_64-unknown-linux-gnu --target-dir target/asan \
        -p camoe --test corrupt --test e2e --test reference
else
    echo "SKIPPED: no nightly toolchain could be installed, so the Rust ASan run did not happen"
    skipped=$((skipped + 1))
fi

step "tools tests (simulator, trainer, export)"
cargo test --release -p camoe-tools

step "summary"
echo "all test steps passed; $skipped step(s) skipped"
