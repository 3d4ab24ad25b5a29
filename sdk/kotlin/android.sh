#!/usr/bin/env bash
# Android-ready artifacts, checked as far as this machine allows. There is no Android NDK
# here, so the libraries are built for aarch64- and x86_64-unknown-linux-gnu (the same
# code, linked by GNU ld with the flags an Android build uses); the real build is
# `cargo ndk` (see sdk/kotlin/README.md). Steps: build libcamoe.so and libcamoe_jni.so
# for both with a 16 KB max page size, fail if a LOAD segment's alignment is below
# 0x4000 (and check that this check rejects a default-linked library), check the JNI
# library's exports, report stripped sizes, assemble the AAR and test its layout and
# that its classes load on the JVM (AarTest).
#   sdk/kotlin/android.sh        (CAMOE_ANDROID_PROFILE=ci for a faster build without LTO)
set -euo pipefail
cd "$(dirname "$0")/../.."
profile=${CAMOE_ANDROID_PROFILE:-release}
target=${CARGO_TARGET_DIR:-$PWD/target}
out=sdk/kotlin/build/android
mkdir -p "$out"
if ! command -v aarch64-linux-gnu-gcc >/dev/null || [ ! -x /usr/bin/rustc ] || ! command -v jar >/dev/null; then
    dpkg --add-architecture arm64
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu \
        rustc-web libstd-rust-web-dev:arm64 default-jdk-headless >/dev/null
fi

# Fails when a LOAD segment of $1 is aligned below 16 KB (Google Play's requirement for
# apps targeting Android 15).
check_16k() {
    local aligns align
    aligns=$(readelf -lW "$1" | awk '$1 == "LOAD" {print $NF}')
    [ -n "$aligns" ] || { echo "$1: no LOAD segments"; return 1; }
    for align in $aligns; do
        (( align >= 0x4000 )) || { echo "$1: a LOAD segment is aligned to $align, below 0x4000"; return 1; }
    done
}
# The SDK's jar and the host library (and the JVM tests' jar) without running the tests.
CAMOE_JUNIT_SELECT=none sdk/kotlin/test.sh
# The check must reject the host library, linked with the default 4 KB maximum page size.
if check_16k "$target/ci/libcamoe_jni.so" >/dev/null; then
    echo "the 16 KB check accepts the default-linked host library: it checks nothing"; exit 1
fi

declare -A abi=([aarch64-unknown-linux-gnu]=arm64-v8a [x86_64-unknown-linux-gnu]=x86_64)
declare -A tool=([aarch64-unknown-linux-gnu]=aarch64-linux-gnu- [x86_64-unknown-linux-gnu]=)
for triple in aarch64-unknown-linux-gnu x86_64-unknown-linux-gnu; do
    RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc \
        CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
        RUSTFLAGS="-C link-arg=-Wl,-z,max-page-size=16384" \
        cargo build --profile "$profile" --quiet -p camoe -p camoe-jni --lib \
        --target "$triple" --target-dir "$target/android"
    dir=$out/jni/${abi[$triple]}
    mkdir -p "$dir" "$out/stripped/${abi[$triple]}"
    built=$target/android/$triple/$([ "$profile" = dev ] && echo debug || echo "$profile")
    for lib in libcamoe.so libcamoe_jni.so; do
        check_16k "$built/$lib"
        "${tool[$triple]}strip" -o "$out/stripped/${abi[$triple]}/$lib" "$built/$lib"
        check_16k "$out/stripped/${abi[$triple]}/$lib"
    done
    cp "$out/stripped/${abi[$triple]}/libcamoe_jni.so" "$dir/"
    other=$("${tool[$triple]}nm" -D --defined-only "$dir/libcamoe_jni.so" | awk '{print $3}' | grep -v -E '^(Java_dev_camoe_Native_[A-Za-z]+|JNI_OnLoad)$' || true)
    [ -z "$other" ] || { echo "${abi[$triple]} libcamoe_jni.so exports more than Java_* and JNI_OnLoad: $other"; exit 1; }
    other=$("${tool[$triple]}nm" -D --defined-only "$built/libcamoe.so" | awk '{print $3}' | grep -v '^camoe_' || true)
    [ -z "$other" ] || { echo "${abi[$triple]} libcamoe.so exports more than camoe_*: $other"; exit 1; }
done
echo "stripped sizes ($profile profile, 16 KB pages):"
for a in arm64-v8a x86_64; do
    for lib in libcamoe.so libcamoe_jni.so; do
        printf '  %-10s %-16s %8d bytes\n' "$a" "$lib" "$(stat -c %s "$out/stripped/$a/$lib")"
    done
done

# The SDK's classes into the AAR, then AarTest checks the archive.
sdk/kotlin/aar.sh sdk/kotlin/build/camoe.jar "$out/jni" "$out/camoe.aar"
CAMOE_AAR="$PWD/$out/camoe.aar" CAMOE_JUNIT_SELECT="--select-class=dev.camoe.AarTest" sdk/kotlin/test.sh
echo "sdk/kotlin: AAR $out/camoe.aar built and checked (16 KB LOAD alignment, exports, layout, classes load)"
