#!/usr/bin/env bash
# The thread tests (the library's unit tests, which hold rank::workers' pool tests;
# tests/hot_swap.rs, tests/threads.rs, tests/intra_threads.rs, and tests/no_alloc.rs,
# which ranks with worker threads) under LeakSanitizer (ASan with detect_leaks=1) and
# ThreadSanitizer (std rebuilt instrumented, -Zbuild-std, so Arc's atomics are seen
# and not reported as races). Usage: tools/sanitize-threads.sh [asan|tsan|all]
# (default all). Needs nightly with rust-src; installs both if missing. Each
# sanitizer has its own target dir (target/asan, target/tsan).
set -euo pipefail
cd "$(dirname "$0")/.."

which="${1:-all}"
case "$which" in asan | tsan | all) ;; *)
    echo "usage: $0 [asan|tsan|all]" >&2
    exit 2
    ;;
esac

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup component list --toolchain nightly --installed | grep -q '^rust-src' ||
    rustup component add rust-src --toolchain nightly
# With --target, RUSTFLAGS reach only the target's code, not build scripts or proc macros.
host="$(rustc +nightly -vV | sed -n 's/^host: //p')"
tests=(-p camoe --profile ci --target "$host" --lib --test hot_swap --test threads --test intra_threads --test no_alloc)

if [ "$which" != tsan ]; then
    echo "== LeakSanitizer + AddressSanitizer: ${tests[*]}"
    start=$SECONDS
    RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" \
        ASAN_OPTIONS="detect_leaks=1:abort_on_error=1" CARGO_TARGET_DIR=target/asan \
        cargo +nightly test "${tests[@]}"
    echo "== asan: $((SECONDS - start)) s"
fi
if [ "$which" != asan ]; then
    echo "== ThreadSanitizer: ${tests[*]}"
    start=$SECONDS
    RUSTFLAGS="-Zsanitizer=thread" RUSTDOCFLAGS="-Zsanitizer=thread" \
        TSAN_OPTIONS="halt_on_error=1" CARGO_TARGET_DIR=target/tsan \
        cargo +nightly test -Zbuild-std "${tests[@]}"
    echo "== tsan: $((SECONDS - start)) s"
fi
