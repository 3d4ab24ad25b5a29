"""CamoeModel: CAMoE as a PyTorch module whose parameters carry the NNEF variable names
of docs/NNEF.md (`emb_<field>`, `expert{e}_cross{l}_w`, `group{g}_gate_b`, ...), so that
torch-to-nnef's export is read by `camoe convert` like the candle exporter's."""

import math

import torch
import torch.nn.functional as F
from torch import nn

# Start every head's logit near a typical CTR (sigmoid(-4.5) ≈ 1 %), as the candle
# trainer does, so that early steps do not spend themselves on the base rate.
OUT_BIAS_INIT = -4.5


class CamoeModel(nn.Module):
    """Hashed embeddings → x0 → E experts (DCN-v2 cross layers, ReLU MLP) → per group a
    softmax gate over the experts and a ReLU tower → one logit per group.

    `forward(*inputs)` takes one tensor per field in x0 order (categorical: int64 rows
    `[B]`; dense: normalized float32 `[B, 1]`) and returns the logits `[B, G]`."""

    def __init__(self, cfg, seed=1, emb_std=0.02):
        super().__init__()
        self.cfg = cfg
        gen = torch.Generator().manual_seed(seed)

        def param(name, shape, std):
            t = torch.randn(shape, generator=gen) * std if std else torch.zeros(shape)
            self.register_parameter(name, nn.Parameter(t))

        self.order = cfg.x0_order()
        self.kinds = [cfg.fields[i]["kind"] for i in self.order]
        for i in self.order:
            f = cfg.fields[i]
            if f["kind"] == "categorical":
                param(f"emb_{f['name']}", (int(f["vocab"]), int(f["dim"])), emb_std)
        for layer in cfg.layers():
            # He init before a ReLU, 1/fan_in elsewhere; gates start near uniform.
            relu = "_mlp" in layer.name or "_tower" in layer.name
            std = math.sqrt((2.0 if relu else 1.0) / layer.inputs)
            if layer.name.endswith("_gate"):
                std *= 0.1
            param(f"{layer.name}_w", (layer.outputs, layer.inputs), std)
            if layer.bias:
                # [1, out], the contract's shape: torch-to-nnef writes a one-element
                # 1-D tensor as a literal instead of a named variable.
                param(f"{layer.name}_b", (1, layer.outputs), 0.0)
                if layer.name.endswith("_out"):
                    with torch.no_grad():
                        getattr(self, f"{layer.name}_b").fill_(OUT_BIAS_INIT)

    def embedding_parameters(self):
        return [p for n, p in self.named_parameters() if n.startswith("emb_")]

    def other_parameters(self):
        return [p for n, p in self.named_parameters() if not n.startswith("emb_")]

    def _linear(self, name, x):
        y = F.linear(x, getattr(self, f"{name}_w"))
        b = getattr(self, f"{name}_b", None)
        return y if b is None else y + b

    def x0(self, inputs):
        parts = []
        for kind, i, t in zip(self.kinds, self.order, inputs):
            if kind == "categorical":
                parts.append(torch.index_select(getattr(self, f"emb_{self.cfg.fields[i]['name']}"), 0, t))
            else:
                parts.append(t)
        return torch.cat(parts, dim=1)

    def forward(self, *inputs):
        cfg = self.cfg
        x0 = self.x0(inputs)
        experts = []
        for e in range(cfg.experts):
            x = x0
            for l in range(cfg.cross_layers):
                if cfg.cross_rank == 0:
                    y = self._linear(f"expert{e}_cross{l}", x)
                else:
                    y = self._linear(f"expert{e}_cross{l}_u", self._linear(f"expert{e}_cross{l}_v", x))
                x = x0 * y + x
            for k in range(len(cfg.expert_mlp)):
                x = torch.relu(self._linear(f"expert{e}_mlp{k}", x))
            experts.append(x)
        logits = []
        for g in range(len(cfg.groups)):
            gate = torch.softmax(self._linear(f"group{g}_gate", x0), dim=1)
            h = gate[:, 0:1] * experts[0]
            for e in range(1, cfg.experts):
                h = h + gate[:, e : e + 1] * experts[e]
            for k in range(len(cfg.tower)):
                h = torch.relu(self._linear(f"group{g}_tower{k}", h))
            logits.append(self._linear(f"group{g}_out", h))
        return torch.cat(logits, dim=1)


def masked_loss(logits, labels, own_group, masked=True, denominator=None):
    """The candle trainer's loss (tools/src/train.rs `loss`): per-element BCE with logits
    over `[B, G]`, each row counting only in its own group's head when `masked` (so an
    impression never trains another group's gate or tower), divided by the number of
    counted elements. `denominator` overrides that count: a DDP rank passes the global
    batch's count divided by the world size, so that DDP's gradient average equals the
    1-process gradient of the same global batch."""
    n, g = logits.shape
    per = F.binary_cross_entropy_with_logits(
        logits, labels.reshape(n, 1).expand(n, g), reduction="none"
    )
    if masked:
        mask = F.one_hot(own_group, g).to(per.dtype)
        per = per * mask
        count = float(n)
    else:
        count = float(n * g)
    return per.sum() / max(denominator if denominator is not None else count, 1.0)
