#!/usr/bin/env bash
# Size budget of the shipped libraries: builds the documented size recipe
# (`tools/release.sh minimal`: nightly, -Zbuild-std, opt-level "s", panic = unwind) for
# x86_64 and aarch64, fails when a stripped library exceeds its budget below or a LOAD
# segment is aligned below 16 KB, and runs the
# C consumer (ffi-tests/test_c.c: load, info, rank, every error path) against each
# minimal libcamoe.so, the aarch64 one under qemu, so the budget is met by a library that works.
#   tools/size-check.sh            (CAMOE_SIZE_ARCHES="x86_64" to check one architecture)
set -euo pipefail
cd "$(dirname "$0")/.."
arches=${CAMOE_SIZE_ARCHES:-x86_64 aarch64}
target=${CARGO_TARGET_DIR:-$PWD/target}
libs=$target/release-libs/minimal

# Budgets in bytes of the stripped files. Issue 14's goal is 300,000 B for every library;
# it is not met. Measured at 0.3.0 (format version 2, int8-static's fused kernels, the
# session's worker threads, the reworked aarch64 GEMMs): x86_64 libcamoe.so 412,080 B,
# libcamoe_jni.so 489,880 B; aarch64 371,024 B and 446,264 B (before those merges the same
# recipe gave 331,936 / 414,192 / 299,912 / 379,384 B). Each budget is that size plus 3 %
# (a fresh machine's nightly may differ slightly), rounded up to 1,000 B, so real growth
# fails here. CAMOE_SIZE_BUDGET=<bytes> replaces every budget (to see the check fail).
declare -A budget=(
    [x86_64/libcamoe.so]=425000
    [x86_64/libcamoe_jni.so]=505000
    [aarch64/libcamoe.so]=383000
    [aarch64/libcamoe_jni.so]=460000
)
if [ -n "${CAMOE_SIZE_BUDGET:-}" ]; then
    for k in "${!budget[@]}"; do budget[$k]=$CAMOE_SIZE_BUDGET; done
fi

if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu qemu-user >/dev/null
fi

# shellcheck disable=SC2086 # one word per architecture
sizes=$(bash tools/release.sh minimal $arches | tee /dev/stderr | grep '^minimal ')
failed=0
while read -r _ arch lib bytes; do
    limit=${budget[$arch/$lib]}
    if (( bytes > limit )); then
        printf 'OVER BUDGET  %-8s %-16s %8d B > %8d B\n' "$arch" "$lib" "$bytes" "$limit"
        failed=1
    else
        printf 'ok           %-8s %-16s %8d B <= %8d B\n' "$arch" "$lib" "$bytes" "$limit"
    fi
done <<<"$sizes"
# Android's 16 KB pages hold for these libraries too (LLD links aarch64 here, GNU ld elsewhere).
for arch in $arches; do
    for lib in libcamoe.so libcamoe_jni.so; do
        aligns=$(readelf -lW "$libs/$arch/$lib" | awk '$1 == "LOAD" {print $NF}')
        for align in ${aligns:-none}; do
            [ "$align" != none ] && (( align >= 0x4000 )) ||
                { echo "$arch $lib: a LOAD segment is aligned to $align, below 0x4000"; failed=1; }
        done
    done
done
# Every budgeted library must have been measured: a recipe that stops building one must fail.
for arch in $arches; do
    for lib in libcamoe.so libcamoe_jni.so; do
        grep -q "^minimal $arch $lib " <<<"$sizes" || { echo "no size for $arch $lib"; failed=1; }
    done
done

# The minimal libraries are the shipped ones: the C consumer must pass against them.
out=$target/size-check
mkdir -p "$out"
for arch in $arches; do
    case $arch in
        x86_64) cc=gcc run=() ;;
        # -L /, not -L /usr/aarch64-linux-gnu: threaded sessions hang under the latter.
        aarch64) cc=aarch64-linux-gnu-gcc run=(qemu-aarch64 -L /) ;;
    esac
    "$cc" -std=c11 -O1 -Iinclude -Iffi-tests ffi-tests/test_c.c ffi-tests/tu2.c \
        -L"$libs/$arch" -lcamoe -Wl,-rpath,"$libs/$arch" -o "$out/test_c-$arch"
    if "${run[@]}" "$out/test_c-$arch" models/random-demo.camoe >/dev/null; then
        echo "$arch: ffi-tests/test_c passes against the minimal libcamoe.so"
    else
        echo "$arch: ffi-tests/test_c FAILED against the minimal libcamoe.so"; failed=1
    fi
done
exit $failed
