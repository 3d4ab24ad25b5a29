#!/usr/bin/env python3
"""Finds the inner loops of the aarch64 kernels in the crate's `--emit asm` output and
writes each as an llvm-mca input.

Usage: extract.py CRATE.s OUTDIR  ->  OUTDIR/<loop>.s, plus one TSV line per loop on
stdout: loop, what one iteration does (`macs` or `values`), how many, instructions,
calls inside the loop (llvm-mca does not follow them).

The kernels are the `kernel` wrappers of `camoe::kernels::aarch64::LINES` (each line's
body inlined into its `#[target_feature]` wrapper). A loop is a label and the last branch
back to it; only innermost loops are kept. Each kernel's loop is the one with the most of
its signature instruction (the full tile, not the edge tiles), which the rules below name
by the instructions the kernel's source asks for; of equals, the shortest.
"""

import re
import sys
from collections import Counter

# name, what an iteration counts, signature instruction → units per instruction,
# instructions the loop must hold, instructions it must not hold.
RULES = [
    ("int8_neon", "macs", {"smull": 8, "smull2": 8}, [], ["sdot", "smmla"]),
    ("int8_dotprod", "macs", {"sdot": 16}, [], ["smmla"]),
    ("int8_i8mm", "macs", {"smmla": 32}, [], []),
    ("f32_tile", "macs", {"fmla": 4}, ["ld1r"], ["fcvtl"]),
    ("f16_tile", "macs", {"fmla": 4}, ["ld1r", "fcvtl"], []),
    # The fused epilogue's first pass for a hidden layer (ReLU, output kept as f32):
    # i32 → f32, scale, bias, ReLU, store. Its other finishes differ by one or two ops.
    ("requantize_relu", "values", {"scvtf": 4}, ["fcmgt"], ["fabs", "bit", "bif", "bsl"]),
    # The activation quantizer's byte pass (also the epilogue's second pass); not the
    # static layers' fused GEMM, whose tile also ends in fcvtns but converts sums first.
    ("quantize", "values", {"fcvtns": 4}, ["sqxtn"], ["scvtf", "sdot", "smull", "smull2"]),
]

KERNELS = re.compile(r"^(_ZN5camoe7kernels7aarch645LINES\w*):")
SYMBOL = re.compile(r"^([A-Za-z_$][\w$.]*):")
LABEL = re.compile(r"^(\.L\w+):")
BRANCH = re.compile(r"^\s+(?:b|b\.\w+|cbn?z|tbn?z)\s+(?:.*,\s*)?(\.L\w+)\s*$")


def functions(lines):
    """(name, [line indices]) of each kernel wrapper."""
    out, cur = [], None
    for i, line in enumerate(lines):
        m = SYMBOL.match(line)
        if m and not line.startswith(".L"):
            cur = (m.group(1), []) if KERNELS.match(line) else None
            if cur:
                out.append(cur)
        if cur:
            cur[1].append(i)
    return out


def mnemonic(line):
    s = line.strip()
    if not line.startswith("\t") or not s or s.startswith((".", "//", "#")):
        return None
    return s.split()[0]


def inner_loops(lines, body):
    """(label line, back-branch line) of each innermost loop in a function."""
    seen, loops = {}, {}
    for i in body:
        m = LABEL.match(lines[i])
        if m:
            seen[m.group(1)] = i
        m = BRANCH.match(lines[i])
        if m and m.group(1) in seen:
            loops[seen[m.group(1)]] = i  # the last back branch closes the loop
    pairs = list(loops.items())
    return [
        (s, e)
        for s, e in pairs
        if not any(s <= s2 and e2 <= e and (s2, e2) != (s, e) for s2, e2 in pairs)
    ]


def main():
    asm, outdir = sys.argv[1], sys.argv[2]
    lines = open(asm).read().split("\n")
    loops = []
    for name, body in functions(lines):
        for s, e in inner_loops(lines, body):
            ops = Counter(m for m in map(mnemonic, lines[s : e + 1]) if m)
            loops.append((name, s, e, ops))
    if not loops:
        sys.exit(f"{asm}: no loop in camoe::kernels::aarch64::LINES (not an aarch64 build?)")
    missing = []
    for loop, unit, sig, need, avoid in RULES:
        fits = [
            (sum(ops[k] * v for k, v in sig.items()), name, s, e, ops)
            for name, s, e, ops in loops
            if all(ops[k] for k in need) and not any(ops[k] for k in avoid)
        ]
        fits = [f for f in fits if f[0] > 0]
        if not fits:
            missing.append(loop)
            continue
        # Ties (one tile compiled twice, e.g. i8mm with and without its paired
        # activations): the shorter loop, the path that usual sizes take.
        units, name, s, e, ops = max(fits, key=lambda f: (f[0], -sum(f[4].values())))
        body = [line for line in lines[s : e + 1] if line.strip() != "//APP" and line.strip() != "//NO_APP"]
        with open(f"{outdir}/{loop}.s", "w") as f:
            f.write(f"// {loop}: {name}, lines {s + 1}-{e + 1} of {asm}\n")
            f.write("\n".join(body) + "\n")
        calls = ",".join(sorted({m for m in ops if m in ("bl", "blr")})) or "-"
        print(f"{loop}\t{unit}\t{units}\t{sum(ops.values())}\t{calls}")
    if missing:
        sys.exit(f"no loop found for {', '.join(missing)} in {asm}")


if __name__ == "__main__":
    main()
