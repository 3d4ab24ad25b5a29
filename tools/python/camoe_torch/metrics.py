"""The metrics and Platt fit of tools/src/metrics.rs, in numpy (same definitions)."""

import numpy as np


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def auc_pr(scores, labels):
    """Average precision over distinct thresholds, highest first, ties entering together."""
    s = np.asarray(scores, dtype=np.float32)
    y = np.asarray(labels) > 0.5
    pos = y.sum()
    if pos == 0:
        return float("nan")
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    tp, fp = np.cumsum(y), np.cumsum(~y)
    last = np.r_[s[1:] != s[:-1], True]  # the end of each run of tied scores
    tp, fp = tp[last], fp[last]
    tp_prev = np.r_[0, tp[:-1]]
    return float(np.sum((tp - tp_prev) / pos * (tp / (tp + fp))))


def log_loss(p, labels):
    p = np.clip(np.asarray(p, dtype=np.float64), 1e-7, 1 - 1e-7)
    y = np.asarray(labels, dtype=np.float64)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def platt_fit(z, y):
    """Newton's method on (a, b) of sigmoid(a·z + b), with the Rust fit's small ridge
    towards (1, 0)."""
    z = np.asarray(z, dtype=np.float32).astype(np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(z) == 0:
        return 1.0, 0.0
    a, b = 1.0, 0.0
    ridge = 1e-6 * len(z)
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(a * z + b)))
        r = p - y
        w = np.maximum(p * (1 - p), 1e-12)
        ga = np.sum(r * z) + ridge * (a - 1.0)
        gb = np.sum(r) + ridge * b
        haa = ridge + np.sum(w * z * z)
        hab = np.sum(w * z)
        hbb = ridge + np.sum(w)
        det = haa * hbb - hab * hab
        if abs(det) < 1e-18:
            break
        da = (hbb * ga - hab * gb) / det
        db = (haa * gb - hab * ga) / det
        a, b = a - da, b - db
        if abs(da) < 1e-9 and abs(db) < 1e-9:
            break
    return float(np.float32(a)), float(np.float32(b))


def calibrate(z, task, label, n_tasks):
    """Platt (a, b) per task from own-group logits (tools/src/train.rs `calibrate`):
    (1, 0) for a task with no click."""
    out = []
    for t in range(n_tasks):
        sel = task == t
        out.append(platt_fit(z[sel], label[sel]) if np.any(label[sel] > 0.5) else (1.0, 0.0))
    return out
