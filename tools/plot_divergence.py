#!/usr/bin/env python3
"""The divergence experiment: NE gap (camoe minus each baseline, 95 % intervals) against
the simulator's divergence D per format, video ECE with and without loss masking, and the
model card's tables.

usage: python3 tools/plot_divergence.py OUT.png D:ABLATION.json ...   # the plot (matplotlib)
       python3 tools/plot_divergence.py --table D:ABLATION.json ...   # markdown tables
(each ABLATION.json is written by `camoe ablate --seeds ... --json` on data simulated
with `camoe simulate --divergence D`.)
"""
import json
import sys


def load(args):
    runs = []
    for a in args:
        d, path = a.split(":", 1)
        with open(path) as f:
            runs.append((float(d), json.load(f)))
    return sorted(runs, key=lambda r: r[0])


def by_variant(data):
    return {r["variant"]: r for r in data["results"]}


def fmt(iv, digits):
    m, h = iv
    return f"{m:.{digits}f} ± {h:.{digits}f}"


def table(runs):
    metrics = [("ne", "NE", 4), ("gain_share", "oracle gain share", 3),
               ("true_ece", "ECE vs p_true", 5), ("auc_pr", "AUC-PR (clicks)", 4)]
    for d, data in runs:
        v = by_variant(data)
        fmts = list(next(iter(v.values()))["summary"].keys())
        print(f"D = {d:g} (seeds {data['seeds']}, {data['epochs']} epoch(s), "
              f"wall {data['wall_seconds'] / 60:.0f} min)\n")
        print("| variant | " + " | ".join(f"{f} {n}" for f in fmts for _, n, _ in metrics) + " |")
        print("|---|" + "---|" * (len(fmts) * len(metrics)))
        for name, r in v.items():
            s = r["summary"]
            print(f"| {name} | " + " | ".join(fmt(s[f][k], dg) for f in fmts for k, _, dg in metrics) + " |")
        print("\nNE gap, camoe minus the variant (negative: camoe better), paired by seed:\n")
        print("| variant | " + " | ".join(fmts) + " |")
        print("|---|" + "---|" * len(fmts))
        for name, r in v.items():
            if "camoe_minus" in r:
                g = r["camoe_minus"]
                print(f"| {name} | " + " | ".join(fmt(g[f]["ne"], 4) for f in fmts) + " |")
        print()


def plot(out, runs):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = by_variant(runs[0][1])
    fmts = list(first["camoe"]["summary"].keys())
    baselines = [n for n in first if n != "camoe" and "camoe_minus" in first[n]]
    fig, axes = plt.subplots(1, len(fmts) + 1, figsize=(4.2 * (len(fmts) + 1), 3.8))
    for ax, f in zip(axes, fmts):
        for k, b in enumerate(baselines):
            xs, ms, hs = [], [], []
            for d, data in runs:
                r = by_variant(data).get(b)
                if r and "camoe_minus" in r:
                    m, h = r["camoe_minus"][f]["ne"]
                    xs.append(d + (k - len(baselines) / 2) * 0.04)
                    ms.append(m)
                    hs.append(h)
            ax.errorbar(xs, ms, yerr=hs, marker="o", capsize=3, label=f"camoe − {b}")
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(f"{f}: NE gap (< 0: camoe better)")
        ax.set_xlabel("divergence D")
    axes[0].set_ylabel("NE(camoe) − NE(baseline), 95 % CI")
    axes[0].legend(fontsize=7)
    ax = axes[-1]
    for k, (name, label) in enumerate([("camoe", "masked (camoe)"), ("camoe-nomask", "no masking")]):
        xs, ms, hs = [], [], []
        for d, data in runs:
            r = by_variant(data).get(name)
            if r:
                m, h = r["summary"]["video"]["true_ece"]
                xs.append(d + (k - 0.5) * 0.06)
                ms.append(m)
                hs.append(h)
        ax.errorbar(xs, ms, yerr=hs, marker="s", capsize=3, label=label)
    ax.set_title("video ECE vs p_true")
    ax.set_xlabel("divergence D")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    if sys.argv[1] == "--table":
        table(load(sys.argv[2:]))
    else:
        plot(sys.argv[1], load(sys.argv[2:]))
