"""Impressions from the simulator's CSV (`camoe simulate`; tools/src/data.rs's format) as
tensors: categorical values hashed to embedding rows with camoe's hash, dense values
normalized as the runtime does."""

import numpy as np
import torch

from .hashing import rows_of_text


class Dataset:
    """Columnar, encoded impressions. `inputs[k]` is x0 field k's column (int64 rows or
    float32 `[N, 1]`); `task`, `label` and `own` (the group whose head scores the row)
    are per row."""

    def __init__(self, inputs, task, label, own):
        self.inputs, self.task, self.label, self.own = inputs, task, label, own

    def __len__(self):
        return len(self.label)

    def to(self, device):
        return Dataset([c.to(device) for c in self.inputs], self.task.to(device), self.label.to(device), self.own.to(device))

    def take(self, idx):
        idx = torch.as_tensor(idx, dtype=torch.int64, device=self.label.device)
        return Dataset([c[idx] for c in self.inputs], self.task[idx], self.label[idx], self.own[idx])


def read_columns(path, max_rows=None):
    """The CSV as {column: list of strings}. Values hold no commas or quotes (the
    format of tools/src/data.rs `read_csv_rows`)."""
    with open(path) as f:
        header = f.readline().rstrip("\n").split(",")
        cols = [[] for _ in header]
        for n, line in enumerate(f):
            if max_rows is not None and n >= max_rows:
                break
            parts = line.rstrip("\n").split(",")
            if len(parts) != len(header):
                raise ValueError(f"{path}:{n + 2}: {len(parts)} columns, expected {len(header)}")
            for c, v in zip(cols, parts):
                c.append(v)
    return dict(zip(header, cols))


def encode(cfg, cols):
    """Encodes CSV columns for `cfg`: a field absent from the CSV is missing (row 0 or 0.0)."""
    n = len(cols["task"])
    inputs = []
    for i in cfg.x0_order():
        f = cfg.fields[i]
        values = cols.get(f["name"])
        if f["kind"] == "categorical":
            rows = rows_of_text(values, cfg.hash_seed, i, int(f["vocab"])) if values is not None else np.zeros(n, np.int64)
            inputs.append(torch.from_numpy(rows))
        else:
            mean, std, clip = (np.float32(f[k]) for k in ("mean", "std", "clip"))
            x = np.zeros(n, np.float32)
            if values is not None:
                v = np.array([float(s) if s else np.nan for s in values], dtype=np.float32)
                x = np.where(np.isnan(v), np.float32(0), np.clip((v - mean) / std, -clip, clip)).astype(np.float32)
            inputs.append(torch.from_numpy(x).reshape(n, 1))
    names = [t["name"] for t in cfg.tasks]
    try:
        task = np.array([names.index(t) for t in cols["task"]], dtype=np.int64)
    except ValueError as e:
        raise ValueError(f"unknown task: {e}") from None
    label = np.array(cols["click"], dtype=np.float32) if "click" in cols else np.full(n, np.nan, np.float32)
    own = np.array(cfg.task_group, dtype=np.int64)[task]
    return Dataset(inputs, torch.from_numpy(task), torch.from_numpy(label), torch.from_numpy(own))


def read_csv(cfg, path, max_rows=None):
    return encode(cfg, read_columns(path, max_rows))
