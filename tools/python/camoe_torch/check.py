"""PyTorch against the converted `.camoe` file on the same rows: the trained module
scores hashed rows in Python, the runtime (libcamoe.so through its C ABI) scores the
raw CSV values with its own hashing. Budgets: f32 max |Δp| ≤ 1e-5; int8/f16 |ΔAUC-PR|
per format ≤ 0.002 and mean top-10 overlap ≥ 0.95 (docs/NNEF.md, "Budget").

    python -m camoe_torch.check --model runs/torch --camoe runs/torch.camoe --mode int8 \\
        --data data/sim/test.csv --lib target/ci/libcamoe.so
"""

import argparse
import ctypes as C
import json
import sys

import numpy as np
import torch

from . import metrics
from .config import Config
from .data import encode, read_columns
from .model import CamoeModel

VALUE_MISSING, VALUE_STR, VALUE_DENSE = 0, 2, 3


class Feature(C.Structure):
    _fields_ = [("text", C.c_char_p), ("text_len", C.c_size_t), ("id", C.c_uint64),
                ("field", C.c_uint32), ("kind", C.c_int32), ("dense", C.c_float)]


class Candidate(C.Structure):
    _fields_ = [("features", C.POINTER(Feature)), ("n_features", C.c_size_t),
                ("task", C.c_uint32), ("bid", C.c_float)]


class Runtime:
    """One model and session of libcamoe.so."""

    def __init__(self, lib, path, max_candidates):
        self.lib = C.CDLL(lib)
        self.lib.camoe_last_error.restype = C.c_char_p
        self.model, self.session = C.c_void_p(), C.c_void_p()
        self._ok(self.lib.camoe_model_load_file(path.encode(), C.byref(self.model)), "load")
        self._ok(self.lib.camoe_session_new(self.model, C.c_size_t(max_candidates), C.byref(self.session)), "session")

    def _ok(self, status, what):
        if status != 0:
            raise RuntimeError(f"camoe {what}: status {status}: {self.lib.camoe_last_error().decode()}")

    def field_index(self, name):
        out = C.c_uint32()
        b = name.encode()
        self._ok(self.lib.camoe_model_field_index(self.model, b, C.c_size_t(len(b)), C.byref(out)), f"field {name}")
        return out.value

    def features(self, values):
        """(field index, kind, text) triples → a camoe_feature array (keeps the bytes alive)."""
        arr = (Feature * max(len(values), 1))()
        for k, (field, kind, v) in enumerate(values):
            f = arr[k]
            f.field, f.kind = field, kind
            if kind == VALUE_STR:
                b = v.encode()
                f.text, f.text_len = b, len(b)
            elif kind == VALUE_DENSE:
                f.dense = float(v)
        return arr

    def rank(self, request, candidates):
        """pCTR of each candidate (lists of feature triples, task) under the request."""
        req = self.features(request)
        self._ok(self.lib.camoe_session_set_request(self.session, req, C.c_size_t(len(request))), "set_request")
        keep = [self.features(f) for f, _ in candidates]
        cands = (Candidate * len(candidates))()
        for c, (f, task), arr in zip(cands, candidates, keep):
            c.features, c.n_features, c.task, c.bid = arr, len(f), task, 0.0
        n = len(candidates)
        scores, order, order_len = (C.c_float * n)(), (C.c_uint32 * n)(), C.c_size_t()
        self._ok(self.lib.camoe_session_rank(self.session, cands, C.c_size_t(n), None, scores, order,
                                             C.c_size_t(n), C.byref(order_len)), "rank")
        return np.array(scores[:], dtype=np.float64)


def load_model(prefix):
    cfg = Config.read(f"{prefix}.config.json")
    model = CamoeModel(cfg)
    model.load_state_dict(torch.load(f"{prefix}.pt", weights_only=True))
    return cfg, model.eval()


def torch_scores(cfg, model, ds, req, cand):
    """Calibrated pCTR of the pairs (request row req[k], candidate row cand[k])."""
    req, cand = torch.as_tensor(req), torch.as_tensor(cand)
    inputs = [col[req] if cfg.fields[i]["side"] == "request" else col[cand] for i, col in zip(cfg.x0_order(), ds.inputs)]
    with torch.no_grad():
        z = model(*inputs).gather(1, ds.own[cand].reshape(-1, 1)).reshape(-1).double().numpy()
    t = ds.task[cand].numpy()
    a = np.array([x["calib_a"] for x in cfg.tasks])[t]
    b = np.array([x["calib_b"] for x in cfg.tasks])[t]
    return metrics.sigmoid(a * z + b)


def compare(cfg, model, rt, cols, rows, requests, candidates, seed):
    ds = encode(cfg, cols)
    n = len(ds)
    fidx = [rt.field_index(f["name"]) for f in cfg.fields]

    def side_values(r, side):
        out = []
        for i, f in enumerate(cfg.fields):
            if f["side"] != side:
                continue
            v = cols[f["name"]][r] if f["name"] in cols else ""
            kind = VALUE_MISSING if v == "" else (VALUE_STR if f["kind"] == "categorical" else VALUE_DENSE)
            out.append((fidx[i], kind, v))
        return out

    task = ds.task.numpy()
    # Every row scored as its own request.
    p_rt = np.array([rt.rank(side_values(r, "request"), [(side_values(r, "candidate"), int(task[r]))])[0] for r in range(rows)])
    p_pt = torch_scores(cfg, model, ds, np.arange(rows), np.arange(rows))
    # Rankings: one row's request fields, other rows' candidate fields and tasks.
    rng = np.random.default_rng(seed)
    dp_pairs, overlap = [], []
    for _ in range(requests):
        r = int(rng.integers(n))
        cs = rng.choice(n, size=candidates, replace=False)
        s_rt = rt.rank(side_values(r, "request"), [(side_values(int(c), "candidate"), int(task[c])) for c in cs])
        s_pt = torch_scores(cfg, model, ds, np.full(candidates, r), cs)
        dp_pairs.append(np.abs(s_rt - s_pt).max())
        top = lambda s: set(np.argsort(-s, kind="stable")[:10].tolist())
        overlap.append(len(top(s_rt) & top(s_pt)) / min(10, candidates))
    label = ds.label.numpy()[:rows]
    fmt = np.array(cfg.task_format)[task[:rows]]
    per_format = []
    for f, name in enumerate(cfg.formats):
        sel = fmt == f
        if not sel.any():
            continue
        ap_pt, ap_rt = metrics.auc_pr(p_pt[sel], label[sel]), metrics.auc_pr(p_rt[sel], label[sel])
        per_format.append(dict(format=name, rows=int(sel.sum()), clicks=int((label[sel] > 0.5).sum()),
                               auc_pr_torch=ap_pt, auc_pr_camoe=ap_rt, d_auc_pr=abs(ap_pt - ap_rt),
                               log_loss_torch=metrics.log_loss(p_pt[sel], label[sel]),
                               log_loss_camoe=metrics.log_loss(p_rt[sel], label[sel])))
    dp = np.abs(p_rt - p_pt)
    return dict(rows=rows, max_dp_rows=float(dp.max()), mean_dp_rows=float(dp.mean()),
                max_dp_pairs=float(max(dp_pairs) if dp_pairs else 0.0),
                top10_mean=float(np.mean(overlap)) if overlap else 1.0,
                top10_min=float(np.min(overlap)) if overlap else 1.0, formats=per_format)


def failures(rep, mode, f32_max_dp=1e-5, auc_pr=0.002, top10=0.95):
    out = []
    if mode == "f32":
        worst = max(rep["max_dp_rows"], rep["max_dp_pairs"])
        if worst > f32_max_dp:
            out.append(f"f32: max |Δp| {worst:.3e} > {f32_max_dp:g}")
    else:
        for f in rep["formats"]:
            if f["d_auc_pr"] > auc_pr:
                out.append(f"{mode}: {f['format']} |ΔAUC-PR| {f['d_auc_pr']:.4f} > {auc_pr}")
        if rep["top10_mean"] < top10:
            out.append(f"{mode}: mean top-10 overlap {rep['top10_mean']:.4f} < {top10}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="camoe_torch.check", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="PREFIX of PREFIX.pt and PREFIX.config.json")
    p.add_argument("--camoe", required=True, help="the converted .camoe file")
    p.add_argument("--mode", required=True, choices=["f32", "f16", "int8"])
    p.add_argument("--data", required=True, help="labelled CSV (camoe simulate's format)")
    p.add_argument("--lib", required=True, help="libcamoe.so")
    p.add_argument("--rows", type=int, default=2000)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--candidates", type=int, default=50)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", help="write the report here")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    cfg, model = load_model(a.model)
    cols = read_columns(a.data, a.rows)
    rows = len(cols["task"])
    rt = Runtime(a.lib, a.camoe, max(a.candidates, 1))
    rep = compare(cfg, model, rt, cols, rows, a.requests, min(a.candidates, rows), a.seed)
    rep["mode"] = a.mode
    rep["failures"] = failures(rep, a.mode)
    print(f"{a.mode}: PyTorch vs {a.camoe}: {rows} rows max |Δp| {rep['max_dp_rows']:.3e} (mean {rep['mean_dp_rows']:.3e}); "
          f"{a.requests} rankings x {a.candidates}: max |Δp| {rep['max_dp_pairs']:.3e}, top-10 overlap mean {rep['top10_mean']:.4f} (min {rep['top10_min']:.2f})")
    for f in rep["formats"]:
        print(f"  {f['format']:<8} rows {f['rows']:>6} clicks {f['clicks']:>5}  AUC-PR torch {f['auc_pr_torch']:.4f} camoe {f['auc_pr_camoe']:.4f} "
              f"|Δ| {f['d_auc_pr']:.4f}  logloss torch {f['log_loss_torch']:.5f} camoe {f['log_loss_camoe']:.5f}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(rep, fh, indent=2)
    for e in rep["failures"]:
        print(f"error: {e}", file=sys.stderr)
    sys.exit(1 if rep["failures"] else 0)


if __name__ == "__main__":
    main()
