#!/usr/bin/env bash
# Runs every test of camoe on a fresh Debian machine, installing what they need:
# Rust unit and integration tests (every kernel tier of this CPU, then aarch64 under
# qemu), the committed header against a fresh cbindgen, the runtime's dependency tree,
# the C/C++ consumers (plain and under ASan+UBSan), the Kotlin/JNA consumer, the Swift
# module map, the Kotlin SDK over JNI (JVM tests, 16 KB-page Android stand-in builds,
# AAR), the stripped size budget of the minimal release build (x86_64 and aarch64),
# the Rust ABI tests under ASan, the thread tests under LSan and TSan, bounded
# coverage-guided fuzzing, and the tools' tests.
set -euo pipefail
cd "$(dirname "$0")/.."
CBINDGEN_VERSION=0.29.4
step() { printf '\n==> %s\n' "$*"; }
skipped=0

step "prerequisites"
need_apt=()
for tool in gcc g++ nm make python3; do command -v "$tool" >/dev/null || need_apt+=("$tool"); done
if [ ${#need_apt[@]} -gt 0 ]; then
    apt-get update -qq && apt-get install -y -qq build-essential binutils python3
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
cargo build --profile ci --bin camoe-rank --quiet
tiers=$(target/ci/camoe-rank --list-tiers)
echo "tiers: $tiers"
step "main job (README): rank the sample request with the shipped int8 model"
target/ci/camoe-rank models/camoe-demo.camoe models/sample-request.txt | tee /tmp/camoe-main-job.txt
test "$(grep -cE '^ +[0-9]+ +[0-9]+ ' /tmp/camoe-main-job.txt)" -eq 12 || { echo "the main job did not rank 12 candidates"; exit 1; }
for tier in $tiers; do
    step "Rust tests at CAMOE_KERNEL_TIER=$tier"
    CAMOE_KERNEL_TIER=$tier cargo test --profile ci -p camoe
done
for tier in avx2 avxvnni avx512vnni; do
    case " $tiers " in *" $tier "*) ;; *) echo "SKIPPED tier $tier: this CPU lacks it"; skipped=$((skipped + 1));; esac
done

step "aarch64: the runtime's tests under qemu-aarch64 -cpu max at NEON, dotprod and i8mm"
if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null || [ ! -x /usr/bin/rustc ]; then
    dpkg --add-architecture arm64
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu qemu-user rustc-web libstd-rust-web-dev:arm64 >/dev/null
fi
for tier in neon dotprod i8mm; do
    step "aarch64 tests at CAMOE_KERNEL_TIER=$tier"
    CAMOE_KERNEL_TIER=$tier CAMOE_CROSS_RUNNER="qemu-aarch64 -L / -cpu max" RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -L / -cpu max" \
        cargo test --profile ci -p camoe --target aarch64-unknown-linux-gnu --target-dir target/aarch64
done

step "aarch64, predicted: llvm-mca on the kernels' inner loops (tools/mca/run.sh)"
tools/mca/run.sh /tmp/camoe-mca.md >/dev/null
test "$(grep -cE '^\| (cortex|neoverse)-[a-z0-9]+ \| ' /tmp/camoe-mca.md)" -eq 24 || { echo "tools/mca/run.sh: the table lacks rows"; exit 1; }

step "camoe-bench: x86 (shared, static, ASan) and aarch64 under qemu"
CAMOE_PROFILE=ci bash benches/camoe-bench/test.sh

step "C and C++ consumers, plain and under ASan+UBSan"
bash ffi-tests/run.sh

step "Kotlin/JNA consumer (kotlinc from npm, JNA from apt): same ranking as camoe-rank"
bash ffi-tests/kotlin/run.sh

step "Swift module map: clang builds and imports the CCamoe module"
bash ffi-tests/swift/run.sh

step "Kotlin SDK over JNI: JVM tests, ranking bit-identical to the Rust API"
bash sdk/kotlin/test.sh

step "Kotlin SDK: aarch64/x86_64 libraries with 16 KB pages, exports, AAR"
bash sdk/kotlin/android.sh

step "library size: tools/release.sh minimal within budget on x86_64 and aarch64, C consumer passes against it"
bash tools/size-check.sh

step "Rust ABI, corrupt-model, reference and kernel tests under AddressSanitizer (nightly)"
if ! cargo +nightly --version >/dev/null 2>&1; then
    rustup toolchain install nightly --profile minimal >/dev/null 2>&1 || true
fi
if cargo +nightly --version >/dev/null 2>&1; then
    RUSTFLAGS="-Zsanitizer=address" ASAN_OPTIONS=detect_leaks=1 \
        cargo +nightly test --target x86_64-unknown-linux-gnu --target-dir target/asan \
        -p camoe --test corrupt --test e2e --test reference --test kernels --test columns \
        --test rank_rules --test signature --test static_int8
else
    echo "SKIPPED: no nightly toolchain could be installed, so the Rust ASan run did not happen"
    skipped=$((skipped + 1))
fi

step "thread tests (hot swap, shared model) under LeakSanitizer and ThreadSanitizer (nightly)"
bash tools/sanitize-threads.sh

step "coverage-guided fuzzing (cargo fuzz): regressions replayed, then 50 s per target"
bash tools/fuzz.sh 50

step "tools tests (simulator, trainer, export, convert, keygen, sign)"
cargo test --profile ci -p camoe-tools

step "PyTorch: train, torchrun DDP (1 vs 2 processes), torch-to-nnef, convert, parity (tools/python/test.sh)"
bash tools/python/test.sh

step "summary"
echo "all test steps passed; $skipped step(s) skipped"
