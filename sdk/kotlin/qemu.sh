#!/usr/bin/env bash
# The JVM tests once more on aarch64: Debian's arm64 JDK (unpacked, not installed) and
# an aarch64 libcamoe_jni.so, run under qemu-aarch64. Too slow for CI (see the report);
# run by hand:  sdk/kotlin/qemu.sh [extra JUnit console options]
# AllocationTest is left out: 12,000 ranks of 200 candidates under emulated SIMD take
# far too long (it measures the JVM side, which does not depend on the architecture).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=sdk/kotlin/build
target=${CARGO_TARGET_DIR:-$PWD/target}
jdk=$out/arm64-jdk/usr/lib/jvm/java-17-openjdk-arm64
if [ ! -x "$jdk/bin/java" ]; then
    dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64; apt-get update -qq; }
    mkdir -p "$out/arm64-jdk"
    (cd "$out" && apt-get download -qq openjdk-17-jre-headless:arm64)
    dpkg -x "$out"/openjdk-17-jre-headless_*_arm64.deb "$out/arm64-jdk"
fi
RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    cargo build --profile ci --quiet -p camoe-jni --lib --example rank-bits --target aarch64-unknown-linux-gnu --target-dir "$target/aarch64"
CAMOE_JUNIT_SELECT=none sdk/kotlin/test.sh
# The reference on this architecture (its kernels, under the same qemu CPU).
built=$target/aarch64/aarch64-unknown-linux-gnu/ci
qemu-aarch64 -L / -cpu max "$built/examples/rank-bits" models/camoe-demo.camoe models/sample-request.txt > "$out/expected-aarch64.txt"
stdlib=$out/kotlin/lib/kotlin-stdlib.jar
qemu-aarch64 -L / -cpu max "$jdk/bin/java" \
    -Dcamoe.jni.library="$built/libcamoe_jni.so" \
    -Dcamoe.model="$PWD/models/camoe-demo.camoe" -Dcamoe.request="$PWD/models/sample-request.txt" \
    -Dcamoe.expected="$PWD/$out/expected-aarch64.txt" -Dcamoe.rank.output="$PWD/$out/camoe-rank.txt" \
    -jar /usr/share/java/junit-platform-console-standalone.jar --disable-banner --details=tree \
    --class-path "$out/camoe.jar:$out/camoe-tests.jar:$stdlib" --scan-class-path="$out/camoe-tests.jar" \
    --exclude-classname='dev\.camoe\.(AarTest|AllocationTest)' "$@"
echo "sdk/kotlin: JVM tests passed on aarch64 under qemu"
