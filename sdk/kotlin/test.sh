#!/usr/bin/env bash
# The Kotlin SDK's JVM tests: builds libcamoe_jni.so, the SDK jar and the JUnit 5 tests
# (kotlinc from the npm package kotlin-compiler, JUnit 5 from Debian's junit5; no Gradle),
# checks the library's exports, and runs the tests against the shipped model. The
# reference ranking is the Rust API's (the rank-bits example, itself checked against
# camoe-rank's output here), compared bit for bit.
#   sdk/kotlin/test.sh [MODEL.camoe]      (run from anywhere; CARGO_TARGET_DIR is honoured)
set -euo pipefail
cd "$(dirname "$0")/../.."
KOTLIN_VERSION=2.4.20
model=${1:-models/camoe-demo.camoe}
request=models/sample-request.txt
out=sdk/kotlin/build
target=${CARGO_TARGET_DIR:-$PWD/target}
mkdir -p "$out"

junit=/usr/share/java/junit-platform-console-standalone.jar
if [ ! -f "$junit" ] || ! command -v javac >/dev/null; then
    apt-get update -qq && apt-get install -y -qq junit5 default-jdk-headless
fi
# The JNA consumer's install (ffi-tests/kotlin/run.sh) serves too, when it is there.
kotlin_home=ffi-tests/build/npm/node_modules/kotlin-compiler
[ -x "$kotlin_home/bin/kotlinc" ] || kotlin_home=$out/npm/node_modules/kotlin-compiler
if [ ! -x "$kotlin_home/bin/kotlinc" ]; then
    command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm; }
    npm install --prefix "$out/npm" --no-audit --no-fund --silent "kotlin-compiler@$KOTLIN_VERSION"
fi
ln -sfn "$(realpath "$kotlin_home")" "$out/kotlin" # for qemu.sh and benches/jni/run.sh
kotlinc=$out/kotlin/bin/kotlinc
stdlib=$out/kotlin/lib/kotlin-stdlib.jar

cargo build --profile ci --quiet -p camoe-jni --lib --example rank-bits
cargo build --profile ci --quiet -p camoe --bin camoe-rank
lib=$target/ci/libcamoe_jni.so

# Exports: exactly the JNI entry points, one per `external fun` of Native.kt.
exports=$(nm -D --defined-only "$lib" | awk '{print $3}' | sort)
if grep -v -E '^(Java_dev_camoe_Native_[A-Za-z]+|JNI_OnLoad)$' <<<"$exports"; then
    echo "libcamoe_jni.so exports symbols other than Java_* and JNI_OnLoad (above)"; exit 1
fi
declared=$(grep -oE 'external fun [A-Za-z]+' sdk/kotlin/src/dev/camoe/Native.kt | awk '{print "Java_dev_camoe_Native_" $3}' | sort)
if ! diff <(echo "$declared") <(grep '^Java_' <<<"$exports"); then
    echo "Native.kt's external functions and the library's Java_* symbols differ"; exit 1
fi

# The reference: rank-bits (Rust API, bits) agrees with camoe-rank (order, task, pCTR).
"$target/ci/camoe-rank" "$model" "$request" > "$out/camoe-rank.txt"
"$target/ci/examples/rank-bits" "$model" "$request" > "$out/expected.txt"
if ! diff <(awk '/^ +[0-9]+ +[0-9]+ /{print $1, $2, $3, $5}' "$out/camoe-rank.txt") \
          <(awk '{print $1, $2, $3, $4}' "$out/expected.txt"); then
    echo "rank-bits and camoe-rank disagree"; exit 1
fi

if [ ! -f "$out/camoe.jar" ] || [ -n "$(find sdk/kotlin/src -newer "$out/camoe.jar")" ]; then
    "$kotlinc" -nowarn sdk/kotlin/src -d "$out/camoe.jar"
fi
if [ ! -f "$out/camoe-tests.jar" ] || [ -n "$(find sdk/kotlin/test "$out/camoe.jar" -newer "$out/camoe-tests.jar")" ]; then
    "$kotlinc" -nowarn -cp "$out/camoe.jar:$junit" -Xfriend-paths="$out/camoe.jar" sdk/kotlin/test -d "$out/camoe-tests.jar"
fi

# CAMOE_JUNIT_SELECT: which tests (a JUnit console selector; "none" only builds).
select=${CAMOE_JUNIT_SELECT:---scan-class-path=$out/camoe-tests.jar}
[ "$select" = none ] && exit 0
# AarTest needs the AAR that android.sh builds (CAMOE_AAR).
skip=()
[ -n "${CAMOE_AAR:-}" ] || skip=(--exclude-classname='dev\.camoe\.AarTest')
java -Dcamoe.jni.library="$lib" -Dcamoe.model="$PWD/$model" -Dcamoe.request="$PWD/$request" \
    -Dcamoe.expected="$PWD/$out/expected.txt" -Dcamoe.rank.output="$PWD/$out/camoe-rank.txt" \
    ${CAMOE_AAR:+-Dcamoe.aar="$CAMOE_AAR"} -Dcamoe.stdlib="$stdlib" \
    -jar "$junit" --disable-banner --details=summary --fail-if-no-tests \
    --class-path "$out/camoe.jar:$out/camoe-tests.jar:$stdlib" "$select" "${skip[@]}"
echo "sdk/kotlin: JVM tests passed ($select; libcamoe_jni.so exports only Java_* and JNI_OnLoad)"
