"""The model config JSON shared with `camoe train`/`camoe convert` (tools/src/config.rs):
fields, tasks, groups, architecture, and the layer names of docs/NNEF.md."""

import copy
import json
from dataclasses import dataclass


@dataclass
class Layer:
    """One linear layer: its NNEF name prefix (`<name>_w`, `<name>_b`), shape and bias."""

    name: str
    inputs: int
    outputs: int
    bias: bool


class Config:
    """A parsed config JSON; `raw` keeps the JSON so that it is written back unchanged
    except for calibration and training metadata."""

    def __init__(self, raw):
        if raw.get("camoe_config_version") != 1:
            raise ValueError("unsupported camoe_config_version")
        self.raw = copy.deepcopy(raw)
        self.name = raw["name"]
        self.hash_seed = int(raw["hash_seed"], 16)
        self.fields = raw["fields"]
        self.groups = raw["groups"]
        self.formats = raw["formats"]
        self.tasks = raw["tasks"]
        for f in self.fields:
            if f["kind"] not in ("categorical", "dense"):
                raise ValueError(f"field {f['name']}: bad kind {f['kind']}")
            if f["side"] not in ("request", "candidate"):
                raise ValueError(f"field {f['name']}: bad side {f['side']}")
        self.task_group = [self.groups.index(t["group"]) for t in self.tasks]
        self.task_format = [self.formats.index(t["format"]) for t in self.tasks]
        a = raw["arch"]
        self.experts = int(a["experts"])
        self.cross_layers = int(a["cross_layers"])
        self.cross_rank = int(a["cross_rank"])
        self.expert_mlp = [int(w) for w in a["expert_mlp"]]
        self.tower = [int(w) for w in a["tower"]]

    @staticmethod
    def read(path):
        with open(path) as f:
            return Config(json.load(f))

    def x0_order(self):
        """Field indices in x0 order: request fields, then candidate fields, each in schema order."""
        n = range(len(self.fields))
        return [i for i in n if self.fields[i]["side"] == "request"] + [
            i for i in n if self.fields[i]["side"] == "candidate"
        ]

    def width(self, i):
        f = self.fields[i]
        return int(f["dim"]) if f["kind"] == "categorical" else 1

    def x0_width(self):
        return sum(self.width(i) for i in range(len(self.fields)))

    def expert_width(self):
        return self.expert_mlp[-1] if self.expert_mlp else self.x0_width()

    def layers(self):
        """Every linear layer in `ModelConfig::layers()` order (src/layers.rs)."""
        d, out = self.x0_width(), []
        for e in range(self.experts):
            for l in range(self.cross_layers):
                if self.cross_rank == 0:
                    out.append(Layer(f"expert{e}_cross{l}", d, d, True))
                else:
                    r = self.cross_rank
                    out.append(Layer(f"expert{e}_cross{l}_v", d, r, False))
                    out.append(Layer(f"expert{e}_cross{l}_u", r, d, True))
            inp = d
            for k, w in enumerate(self.expert_mlp):
                out.append(Layer(f"expert{e}_mlp{k}", inp, w, True))
                inp = w
        for g in range(len(self.groups)):
            out.append(Layer(f"group{g}_gate", d, self.experts, True))
            inp = self.expert_width()
            for k, w in enumerate(self.tower):
                out.append(Layer(f"group{g}_tower{k}", inp, w, True))
                inp = w
            out.append(Layer(f"group{g}_out", inp, 1, True))
        return out

    def with_calibration(self, calib, training=None):
        """The JSON with each task's Platt (a, b) filled in (and `training` metadata)."""
        raw = copy.deepcopy(self.raw)
        for t, (a, b) in zip(raw["tasks"], calib):
            t["calib_a"], t["calib_b"] = float(a), float(b)
        if training is not None:
            raw["training"] = training
        return raw

    def write(self, path, calib=None, training=None):
        raw = self.with_calibration(calib, training) if calib is not None else self.raw
        with open(path, "w") as f:
            json.dump(raw, f, indent=2)
            f.write("\n")
