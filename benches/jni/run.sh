#!/usr/bin/env bash
# The JNI overhead bench (a bench, not a test): B = 1, 10, 200 through the Kotlin SDK (JNI),
# the same batch ranked natively inside libcamoe_jni.so (Rust API), and the C ABI through
# JNA. Needs sdk/kotlin/test.sh's tools (run it once first).  benches/jni/run.sh [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=sdk/kotlin/build
target=${CARGO_TARGET_DIR:-$PWD/target}
kotlin_home=$out/kotlin # linked by sdk/kotlin/test.sh
jna=/usr/share/java/jna.jar
[ -f "$jna" ] || { apt-get update -qq && apt-get install -y -qq libjna-java; }
[ -x "$kotlin_home/bin/kotlinc" ] || { echo "run sdk/kotlin/test.sh first (it installs kotlinc)"; exit 1; }
cargo build --release --quiet -p camoe-jni --lib
cargo build --release --quiet -p camoe --lib
[ -f "$out/camoe.jar" ] || "$kotlin_home/bin/kotlinc" -nowarn sdk/kotlin/src -d "$out/camoe.jar"
"$kotlin_home/bin/kotlinc" -nowarn -cp "$out/camoe.jar:$jna" -Xfriend-paths="$out/camoe.jar" \
    benches/jni/Bench.kt sdk/kotlin/test/dev/camoe/Sample.kt -d "$out/bench.jar"
taskset -c 1 java -Dcamoe.jni.library="$target/release/libcamoe_jni.so" \
    -Dcamoe.model="$PWD/models/camoe-demo.camoe" -Dcamoe.request="$PWD/models/sample-request.txt" \
    -cp "$out/camoe.jar:$out/bench.jar:$jna:$kotlin_home/lib/kotlin-stdlib.jar" dev.camoe.BenchKt \
    "$target/release/libcamoe.so" "${1:-15}"
