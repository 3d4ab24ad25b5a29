#!/usr/bin/env bash
# The aarch64 kernels' inner loops on LLVM's scheduling models of ARM cores (llvm-mca): a
# prediction from a static model, not a measurement. Compiles the runtime crate for
# aarch64 with `--emit asm` (each kernel's `#[target_feature]` wrapper carries its tier's
# features), extracts the inner loops (tools/mca/extract.py), runs llvm-mca on each for
# each core, and compares MACs per cycle with the peak the same model gives a stream of
# independent multiply-accumulates of the tier's instruction.
#
# Usage: tools/mca/run.sh [OUT.md]   (default benches/mca/results.md; '-' for stdout only)
# Env: CARGO_TARGET_DIR (the build goes to $CARGO_TARGET_DIR/mca), LLVM_MCA (a binary).
# Installs what it needs on Debian 12 (llvm-22's llvm-mca, the aarch64 standard library
# for Debian's rustc, python3). About 30 s when the crate is built, a minute from cold.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${1:-benches/mca/results.md}
target=${CARGO_TARGET_DIR:-$PWD/target}/mca
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# llvm-mca: LLVM 22 (bookworm-security), the version the committed results come from;
# LLVM 19 (bookworm) also has the Neoverse N2 model, LLVM 14 does not.
if [ -z "${LLVM_MCA:-}" ]; then
    for v in 22 19; do command -v "llvm-mca-$v" >/dev/null && { LLVM_MCA=llvm-mca-$v; break; }; done
fi
if [ -z "${LLVM_MCA:-}" ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq llvm-22 >/dev/null ||
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq llvm-19 >/dev/null
    for v in 22 19; do command -v "llvm-mca-$v" >/dev/null && { LLVM_MCA=llvm-mca-$v; break; }; done
fi
command -v python3 >/dev/null || { apt-get update -qq; apt-get install -y -qq python3 >/dev/null; }
# Debian's rustc with its arm64 standard library, as the aarch64 tests of tools/test-all.sh.
if [ ! -x /usr/bin/rustc ] || [ ! -d /usr/lib/rustlib/aarch64-unknown-linux-gnu ]; then
    dpkg --add-architecture arm64
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rustc-web libstd-rust-web-dev:arm64 >/dev/null
fi

# One codegen unit: one .s file with every kernel.
# The .s is no output cargo tracks: removing the library too makes it compile the crate again.
rm -f "$target"/aarch64-unknown-linux-gnu/ci/deps/{camoe-*.s,libcamoe-*.rlib}
CARGO_INCREMENTAL=0 RUSTC=/usr/bin/rustc cargo rustc --quiet --profile ci -p camoe --lib \
    --crate-type rlib --target aarch64-unknown-linux-gnu --target-dir "$target" \
    -- --emit asm -C codegen-units=1
asm=$(ls "$target"/aarch64-unknown-linux-gnu/ci/deps/camoe-*.s)
python3 tools/mca/extract.py "$asm" "$work" >"$work/loops.tsv"

mca() { # cpu file → cycles per iteration (total cycles / iterations)
    "$LLVM_MCA" -mtriple=aarch64 -mcpu="$1" -mattr=+dotprod,+i8mm -iterations=1000 "$2" 2>/dev/null |
        awk '/^Iterations:/{n=$2} /^Total Cycles:/{c=$3} END{if (!n || !c) exit 1; printf "%.2f", c/n}'
}
peak() { # cpu instruction-template macs-per-instruction → the model's MACs per cycle
    for i in $(seq 0 15); do printf '\t%s\n' "${2//ACC/v$i}"; done >"$work/peak.s"
    awk -v c="$(mca "$1" "$work/peak.s")" -v m="$3" 'BEGIN{printf "%.1f", 16 * m / c}'
}

# Cores: which stands for which devices, and the loops that run on them.
cores=(
    "cortex-a53|A53: low-end phones, speakers (NEON tier)|int8_neon f32_tile f16_tile requantize_relu quantize"
    "cortex-a55|A55: low-end phones, smart speakers (dotprod)|int8_neon int8_dotprod f32_tile f16_tile requantize_relu quantize"
    "neoverse-n1|Neoverse N1 = Cortex-A76 core: mid-range phones (dotprod)|int8_neon int8_dotprod f32_tile f16_tile requantize_relu quantize"
    "neoverse-n2|Neoverse N2 = Cortex-A710 core: recent phones (i8mm)|int8_neon int8_dotprod int8_i8mm f32_tile f16_tile requantize_relu quantize"
)
# The tier's multiply-accumulate: instruction, MACs per instruction.
declare -A PEAK=(
    [int8_neon]="smlal ACC.8h, v30.8b, v31.8b|8"
    [int8_dotprod]="sdot ACC.4s, v30.16b, v31.16b|16"
    [int8_i8mm]="smmla ACC.4s, v30.16b, v31.16b|32"
    [f32_tile]="fmla ACC.4s, v30.4s, v31.4s|4"
    [f16_tile]="fmla ACC.4s, v30.4s, v31.4s|4"
)

{
    echo "## aarch64, predicted (llvm-mca, not a measurement)"
    echo
    echo "Produced by \`tools/mca/run.sh\` with $("$LLVM_MCA" --version | grep -o 'LLVM version [0-9.]*') and $(/usr/bin/rustc --version | cut -d' ' -f1-2),"
    echo "profile \`ci\` (opt-level 3). Cycles per iteration of each kernel's inner loop as llvm-mca's"
    echo "scheduling model of the core predicts them (1000 iterations, data in L1, no branch mispredicts)."
    echo "Peak: MACs per cycle the same model gives 16 independent multiply-accumulates of the tier's"
    echo "instruction (NEON: \`smlal\` 8 MACs, dotprod: \`sdot\` 16, i8mm: \`smmla\` 32, float: \`fmla .4s\` 4)."
    echo
    echo "| core | loop | instructions | cycles/iter | work/iter | per cycle | model peak | of peak |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    for c in "${cores[@]}"; do
        IFS='|' read -r cpu _ loops <<<"$c"
        for l in $loops; do
            IFS=$'\t' read -r _ unit units ninstr calls < <(grep "^$l	" "$work/loops.tsv")
            cyc=$(mca "$cpu" "$work/$l.s")
            per=$(awk -v u="$units" -v c="$cyc" 'BEGIN{printf "%.1f", u / c}')
            note=""
            [ "$calls" != "-" ] && note=" (calls $calls: not modelled)"
            if [ -n "${PEAK[$l]:-}" ]; then
                IFS='|' read -r ins m <<<"${PEAK[$l]}"
                pk=$(peak "$cpu" "$ins" "$m")
                frac=$(awk -v p="$per" -v k="$pk" 'BEGIN{printf "%d %%", 100 * p / k + 0.5}')
                echo "| $cpu | $l$note | $ninstr | $cyc | $units MACs | $per MACs | $pk MACs | $frac |"
            else
                echo "| $cpu | $l$note | $ninstr | $cyc | $units values | $per values | | |"
            fi
        done
    done
    echo
    echo "Notes. NEON: the peak counts \`smlal\` (8 products summed in i16 lanes); exact i32 sums of any"
    echo "i8 take \`smull\` + \`sadalp\` per 8 products, so a core that issues one of them a cycle (the"
    echo "in-order A53 and A55 in these models) stops at 50 %. Cortex-A55: the model issues a 128-bit"
    echo "\`sdot\` alone (a load beside it only if \`ld1r\`) and \`ldp q\` in 6 cycles, so the 4×16 tile's"
    echo "20 loads per 64 \`sdot\` bound it to 76 %. i8mm: the packing is dotprod's; its 4 zips per 16 \`smmla\` (8-row tile)"
    echo "bound it to 80 % on the two vector pipes. work/iter counts MACs of the full tile (edge tiles differ)."
    echo
    echo "Cores: $(for c in "${cores[@]}"; do IFS='|' read -r cpu what _ <<<"$c"; printf '%s (%s); ' "$cpu" "$what"; done | sed 's/; $//')."
} >"$work/table.md"

cat "$work/table.md"
if [ "$out" != "-" ]; then
    mkdir -p "$(dirname "$out")"
    cp "$work/table.md" "$out"
fi
