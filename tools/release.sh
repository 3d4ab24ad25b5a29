#!/usr/bin/env bash
# Release recipes of the shipped libraries (libcamoe.so and the Kotlin SDK's libcamoe_jni.so),
# stripped, for x86_64 and aarch64 Linux with 16 KB pages (Android's requirement):
#   tools/release.sh [stable|minimal|lean] [x86_64] [aarch64]     (default: minimal, both)
# stable:  `cargo build --release` (opt-level 3, fat LTO, panic = unwind) on the stable
#          toolchain: the fastest build, but std's precompiled panic machinery (backtrace
#          symbolization: gimli, addr2line, miniz_oxide, rustc-demangle) alone is ~180 KB.
# minimal: the size recipe, on nightly (needs rust-src): std rebuilt from source
#          (-Zbuild-std) without the backtrace feature and with optimize_for_size, everything
#          at the `release-minimal` profile (opt-level "s", fat LTO, panic = unwind: the C and JNI
#          boundaries still catch every panic), panic locations without file names
#          (-Zlocation-detail=none), derived Debug printing only type names
#          (-Zfmt-debug=shallow; Debug of strings, used in error messages, is unchanged), and
#          packed relative relocations (-z pack-relative-relocs: DT_RELR, which needs glibc
#          2.36+ or Android 11+) and identical-code folding, linked by the toolchain's LLD on
#          both architectures.
#          Its cost: opt-level "s" turns LLVM's loop vectorizer off: ranking 1.5-3x slower (x86).
# lean:    minimal, but the runtime crate at opt-level 3 (vectorized loops) with the "s"
#          inlining threshold: ranking as fast as stable, 13-43 KB larger than minimal.
# Stripped libraries land in target/release-libs/<recipe>/<arch>/ (under $CARGO_TARGET_DIR when
# set); their sizes are printed as "<recipe> <arch> <lib> <bytes>" lines.
set -euo pipefail
cd "$(dirname "$0")/.."
recipe=${1:-minimal}
shift || true
arches=${*:-x86_64 aarch64}
target=${CARGO_TARGET_DIR:-$PWD/target}
out=$target/release-libs/$recipe
flags=(-C link-arg=-Wl,-z,max-page-size=16384)

case $recipe in
    stable)
        toolchain=()
        profile=release
        build=()
        ;;
    minimal|lean)
        rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
        rustup component list --toolchain nightly --installed | grep -q '^rust-src' ||
            rustup component add rust-src --toolchain nightly
        toolchain=(+nightly)
        profile=release-$recipe
        build=(-Zbuild-std=std,panic_unwind -Zbuild-std-features=panic-unwind,optimize_for_size)
        flags+=(-Zlocation-detail=none -Zfmt-debug=shallow -C link-arg=-Wl,-z,pack-relative-relocs)
        # opt-level 3 keeps loop vectorization; the "s" inlining threshold keeps its size.
        [ "$recipe" = lean ] && flags+=(-C llvm-args=-inline-threshold=75)
        ;;
    *) echo "tools/release.sh: unknown recipe '$recipe' (stable, minimal or lean)" >&2; exit 2 ;;
esac

for arch in $arches; do
    triple=$arch-unknown-linux-gnu
    archflags=("${flags[@]}")
    case $arch in
        x86_64)
            strip=strip
            # rustc links x86_64 Linux with its bundled LLD, which folds identical functions.
            [ "$recipe" != stable ] && archflags+=(-C link-arg=-Wl,--icf=all)
            ;;
        aarch64)
            strip=aarch64-linux-gnu-strip
            if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
                apt-get update -qq
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu >/dev/null
            fi
            [ "$recipe" = stable ] && { rustup target list --installed | grep -q "^$triple" || rustup target add "$triple"; }
            export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
            if [ "$recipe" != stable ]; then
                # The toolchain's LLD instead of GNU ld 2.40, which ignores pack-relative-relocs
                # on aarch64 and pads the file before the RELRO segment (~12 KB at 16 KB pages).
                gccld=$(rustc +nightly --print sysroot)/lib/rustlib/$(rustc +nightly -vV | sed -n 's/^host: //p')/bin/gcc-ld
                archflags+=(-C "link-arg=-B$gccld" -C link-arg=-fuse-ld=lld -C link-arg=-Wl,--icf=all)
            fi
            ;;
        *) echo "tools/release.sh: unknown arch '$arch' (x86_64 or aarch64)" >&2; exit 2 ;;
    esac
    # One target dir per recipe: the minimal recipe's std is built with its own flags.
    RUSTFLAGS="${archflags[*]}" cargo "${toolchain[@]}" build --quiet --profile "$profile" \
        "${build[@]}" -p camoe -p camoe-jni --lib --target "$triple" --target-dir "$target/release-$recipe"
    mkdir -p "$out/$arch"
    for lib in libcamoe.so libcamoe_jni.so; do
        "$strip" -o "$out/$arch/$lib" "$target/release-$recipe/$triple/$profile/$lib"
        echo "$recipe $arch $lib $(stat -c %s "$out/$arch/$lib")"
    done
done
