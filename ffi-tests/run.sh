#!/usr/bin/env bash
# Builds the C11 and C++17 consumers of include/camoe.h against libcamoe, with
# -Wall -Wextra -Wpedantic -Werror, runs them, then once more under
# AddressSanitizer + UBSan (linked to the static library).
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/random-demo.camoe}
# CAMOE_PROFILE=ci reuses the test profile's build; CARGO_TARGET_DIR is honoured.
profile=${CAMOE_PROFILE:-release}
cargo build --profile "$profile" --lib --quiet
out=ffi-tests/build
mkdir -p "$out"
lib=$(realpath "${CARGO_TARGET_DIR:-target}")/$profile
warn=(-Wall -Wextra -Wpedantic -Werror -Iinclude -Iffi-tests)
syslibs=(-lpthread -ldl -lm)

gcc -std=c11 "${warn[@]}" -O1 ffi-tests/test_c.c ffi-tests/tu2.c -L"$lib" -lcamoe -Wl,-rpath,"$lib" -o "$out/test_c"
g++ -std=c++17 "${warn[@]}" -O1 ffi-tests/test_cpp.cpp -L"$lib" -lcamoe -Wl,-rpath,"$lib" -o "$out/test_cpp"
# The header must also compile as C++ on its own and in a C TU with strict C99.
g++ -std=c++17 "${warn[@]}" -x c++ -fsyntax-only include/camoe.h
gcc -std=c99 "${warn[@]}" -fsyntax-only ffi-tests/tu2.c
"$out/test_c" "$model"
"$out/test_cpp" "$model"

san=(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all -g)
gcc -std=c11 "${warn[@]}" "${san[@]}" ffi-tests/test_c.c ffi-tests/tu2.c "$lib/libcamoe.a" "${syslibs[@]}" -o "$out/test_c_san"
g++ -std=c++17 "${warn[@]}" "${san[@]}" ffi-tests/test_cpp.cpp "$lib/libcamoe.a" "${syslibs[@]}" -o "$out/test_cpp_san"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 "$out/test_c_san" "$model"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 "$out/test_cpp_san" "$model"

# The shared library exports camoe_* symbols only.
bad=$(nm -D --defined-only "$lib/libcamoe.so" | awk '{print $3}' | grep -v '^camoe_' || true)
if [ -n "$bad" ]; then
    echo "libcamoe.so exports non-camoe symbols:"; echo "$bad"; exit 1
fi
echo "ffi-tests: C, C++, sanitizers and exported symbols OK"
