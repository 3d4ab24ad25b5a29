#!/usr/bin/env python3
"""Expert masking on the demo model: time per ranking (vs_tract bench) against the
AUC-PR change per format (camoe convert --dry-run --expert-top-k K --json).

usage: python3 tools/plot_masking.py CRITERION_DIR MASK_DIR OUT.png [--batch 200]
  CRITERION_DIR  target/criterion/vs_tract (after `cargo bench -p camoe-tools --bench vs_tract`)
  MASK_DIR       holds mask-0.json, mask-1.json, mask-2.json, mask-4.json, written by
                 camoe convert models/camoe-demo.nnef.tgz --mode int8 --data data/sim/test.csv \
                     --rows 400040 --dry-run --expert-top-k K --json MASK_DIR/mask-K.json
                 (K = 0: no masking; exits 1 for K > 0, over budget, after writing the JSON)
Prints the table too. Needs matplotlib (the peers venv has it).
"""
import json
import os
import sys


def main():
    args = sys.argv[1:]
    batch = 200
    if "--batch" in args:
        i = args.index("--batch")
        batch = int(args[i + 1])
        del args[i:i + 2]
    crit, masks, out = args
    rows = []
    for k in [8, 4, 2, 1]:
        bench = "camoe_int8" if k == 8 else f"camoe_int8_top{k}"
        est = json.load(open(os.path.join(crit, bench, str(batch), "new", "estimates.json")))
        us = est["median"]["point_estimate"] / 1000
        rep = json.load(open(os.path.join(masks, f"mask-{0 if k == 8 else k}.json")))
        d = {f["format"]: f["auc_pr"] - f["auc_pr_float"] for f in rep["formats"]}
        rows.append((k, us, d, rep["top10_mean"]))
    fmts = list(rows[0][2])
    print(f"| experts kept | µs per ranking (B={batch}) | speed-up | " + " | ".join(f"ΔAUC-PR {f}" for f in fmts) + " | top-10 overlap |")
    print("|---|--:|--:|" + "--:|" * len(fmts) + "--:|")
    for k, us, d, t in rows:
        print(f"| {k} | {us:.0f} | {rows[0][1] / us:.2f}× | " + " | ".join(f"{d[f]:+.5f}" for f in fmts) + f" | {t:.3f} |")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for f in fmts:
        xs = [us for _, us, _, _ in rows]
        ys = [d[f] for _, _, d, _ in rows]
        ax.plot(xs, ys, marker="o", label=f)
        for (k, us, d, _) in rows:
            ax.annotate(f"k={k}", (us, d[f]), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.axhline(0, color="grey", lw=0.8)
    ax.axhspan(-0.002, 0.002, color="green", alpha=0.08, label="conversion budget ±0.002")
    ax.set_xlabel(f"µs per ranking of {batch} candidates (int8, one core)")
    ax.set_ylabel("AUC-PR change vs the float model")
    ax.set_title("camoe-demo: expert masking (top-k of 8 experts per candidate)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
