#!/usr/bin/env python3
"""Pareto plot of the ablation: test AUC-PR audio vs video per variant.

usage: python3 tools/plot_pareto.py ABLATION.json OUT.png   # the plot (needs matplotlib)
       python3 tools/plot_pareto.py ABLATION.json --table   # the markdown table of the card
(ABLATION.json is written by `camoe ablate --json`.)
"""
import json
import sys


def table(data):
    fmts = [m["format"] for m in data["results"][0]["metrics"]]
    head = "| variant | train s | MFLOP |" + "".join(f" {f} AUC-PR | {f} ROC | {f} logloss | {f} ECE |" for f in fmts)
    print(head)
    print("|" + "---|" * (3 + 4 * len(fmts)))
    for r in data["results"]:
        m = {x["format"]: x for x in r["metrics"]}
        cells = [r["variant"], f'{r["train_seconds"]:.0f}', f'{r["mflop_per_candidate"]:.3f}']
        for f in fmts:
            x = m[f]
            cells += [f'{x["auc_pr"]:.4f}', f'{x["auc_roc"]:.4f}', f'{x["log_loss"]:.5f}', f'{x["ece"]:.5f}']
        print("| " + " | ".join(cells) + " |")
    m = {x["format"]: x for x in data["results"][0]["metrics"]}
    if m[fmts[0]].get("oracle_auc_pr") is not None:
        print("| oracle (p_true) | | |" + "".join(
            f' {m[f]["oracle_auc_pr"]:.4f} | | | |' for f in fmts))
    print()
    print("Test rows / clicks: " + ", ".join(f'{f} {m[f]["rows"]} / {m[f]["clicks"]}' for f in fmts))


def main():
    src, out = sys.argv[1], sys.argv[2]
    data = json.load(open(src))
    if out == "--table":
        table(data)
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    oracle = None
    for r in data["results"]:
        m = {x["format"]: x for x in r["metrics"]}
        a, v = m["audio"]["auc_pr"], m["video"]["auc_pr"]
        oracle = (m["audio"]["oracle_auc_pr"], m["video"]["oracle_auc_pr"])
        star = r["variant"] == "camoe"
        ax.scatter([a], [v], s=90 if star else 40, marker="*" if star else "o",
                   color="crimson" if star else "steelblue", zorder=3)
        ax.annotate(r["variant"], (a, v), textcoords="offset points", xytext=(5, 4), fontsize=8)
    if oracle and oracle[0] is not None:
        ax.set_title(f"Test AUC-PR (oracle: audio {oracle[0]:.4f}, video {oracle[1]:.4f})", fontsize=10)
    ax.set_xlabel("AUC-PR audio")
    ax.set_ylabel("AUC-PR video")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
