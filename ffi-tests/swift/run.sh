#!/usr/bin/env bash
# The Swift module map: clang (apt) builds the `CCamoe` module from include/camoe.h as
# Swift's importer would (-fmodules, warnings as errors), imports it as a module,
# links against libcamoe and runs. No Swift compiler runs here.
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v clang >/dev/null || { apt-get update -qq && apt-get install -y -qq clang; }
out=ffi-tests/build/swift
rm -rf "$out" && mkdir -p "$out"
# CAMOE_PROFILE=ci reuses the test profile's build; CARGO_TARGET_DIR is honoured.
profile=${CAMOE_PROFILE:-release}
cargo build --profile "$profile" --lib --quiet
lib=$(realpath "${CARGO_TARGET_DIR:-target}")/$profile
clang -fmodules -fmodules-cache-path="$out/cache" -fmodule-map-file=ffi-tests/swift/module.modulemap \
    -Wall -Wextra -Werror -Wno-unknown-pragmas ffi-tests/swift/check.c \
    -L"$lib" -lcamoe -Wl,-rpath,"$lib" -o "$out/check"
"$out/check"
