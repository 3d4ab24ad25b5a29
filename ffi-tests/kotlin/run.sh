#!/usr/bin/env bash
# The Kotlin/JNA consumer: compiles ffi-tests/kotlin/CamoeTest.kt with kotlinc (npm
# package kotlin-compiler) against JNA (apt libjna-java), runs it on the sample
# request, and checks its ranking equals the Rust main job's (order and pCTR to 6
# decimals).
set -euo pipefail
cd "$(dirname "$0")/../.."
KOTLIN_VERSION=2.4.20
model=${1:-models/camoe-demo.camoe}
request=models/sample-request.txt
out=ffi-tests/build/kotlin
mkdir -p "$out"
jna=/usr/share/java/jna.jar
if [ ! -f "$jna" ] || ! command -v java >/dev/null; then
    apt-get update -qq && apt-get install -y -qq libjna-java default-jre-headless
fi
kotlinc=ffi-tests/build/npm/node_modules/kotlin-compiler/bin/kotlinc
if [ ! -x "$kotlinc" ]; then
    command -v npm >/dev/null || { apt-get update -qq && apt-get install -y -qq npm; }
    npm install --prefix ffi-tests/build/npm --no-audit --no-fund --silent "kotlin-compiler@$KOTLIN_VERSION"
fi
# CAMOE_PROFILE=ci reuses the test profile's build; CARGO_TARGET_DIR is honoured.
profile=${CAMOE_PROFILE:-release}
cargo build --profile "$profile" --lib --bin camoe-rank --quiet
lib=$(realpath "${CARGO_TARGET_DIR:-target}")/$profile
"$kotlinc" -nowarn -cp "$jna" ffi-tests/kotlin/CamoeTest.kt -include-runtime -d "$out/camoe-test.jar" 2>&1 | grep -v '^warning' || true
test -f "$out/camoe-test.jar"
# The ABI version the header declares, (major << 16) | (minor << 8) | patch.
abi=$(awk '/#define CAMOE_VERSION_(MAJOR|MINOR|PATCH) / {v[$2] = $3}
    END {print v["CAMOE_VERSION_MAJOR"] * 65536 + v["CAMOE_VERSION_MINOR"] * 256 + v["CAMOE_VERSION_PATCH"]}' include/camoe.h)
java -Dcamoe.abi="$abi" -cp "$jna:$out/camoe-test.jar" CamoeTestKt "$lib" "$model" "$request" > "$out/kotlin.txt"
"$lib/camoe-rank" "$model" "$request" | awk '/^ +[0-9]+ +[0-9]+ /{printf "%4d %10d  %-18s %s\n", $1, $2, $3, $5}' > "$out/rust.txt"
if ! diff -u "$out/rust.txt" "$out/kotlin.txt"; then
    echo "the Kotlin consumer's ranking differs from camoe-rank's"; exit 1
fi
test "$(wc -l < "$out/kotlin.txt")" -eq 12
echo "ffi-tests: Kotlin/JNA ranking identical to camoe-rank's (12 candidates)"
