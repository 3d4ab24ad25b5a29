"""Training CamoeModel on one process or under `torchrun` (DDP, gloo, CPU): the candle
trainer's loop (tools/src/train.rs: AdamW, masked loss, early stopping on validation
log loss, Platt calibration per task), with checkpoints and data sharded by rank.

    python -m camoe_torch.train --config CFG.json --data data/sim --out runs/torch
    torchrun --nproc-per-node 2 -m camoe_torch.train --config CFG.json --data data/sim --out runs/torch

Every global batch is the same whatever the number of processes: epoch e's order is a
permutation seeded by (seed, e), step s takes its positions [s·B, (s+1)·B), and rank r
of W computes on every W-th of them from r (as torch's DistributedSampler splits).
The loss of each rank is divided by the global batch's count over W, so DDP's average
of the ranks' gradients is the gradient of the whole batch."""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist

from . import metrics
from .config import Config
from .data import read_csv
from .model import CamoeModel, masked_loss


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="camoe_torch.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, help="config JSON (as `camoe train --config`)")
    p.add_argument("--data", required=True, help="directory with train.csv and valid.csv")
    p.add_argument("--out", required=True, help="writes OUT.pt, OUT.config.json, OUT.nnef.tgz")
    p.add_argument("--name", help="the model's name (default: the config's)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--batch", type=int, default=512, help="global batch (all ranks together)")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--emb-weight-decay", type=float, default=0.0)
    p.add_argument("--emb-lr-scale", type=float, default=1.0)
    p.add_argument("--emb-std", type=float, default=0.02)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--evals-per-epoch", type=int, default=4, help="0 = no validation, no early stop")
    p.add_argument("--patience", type=int, default=2)
    p.add_argument("--max-rows", type=int, default=None, help="first N train rows")
    p.add_argument("--max-valid-rows", type=int, default=None)
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many steps in all")
    p.add_argument("--no-mask", action="store_true", help="every row trains every group's head")
    p.add_argument("--ckpt-every", type=int, default=200, help="steps between checkpoints (OUT.ckpt.pt)")
    p.add_argument("--resume", action="store_true", help="continue from OUT.ckpt.pt if it exists")
    p.add_argument("--no-export", action="store_true", help="write OUT.pt and OUT.config.json only")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                   help="cuda: each process on GPU LOCAL_RANK, NCCL instead of gloo (not exercised here)")
    return p.parse_args(argv)


class Dist:
    """The process group, or a stand-in of one process."""

    def __init__(self, device="cpu"):
        self.on = "WORLD_SIZE" in os.environ and int(os.environ["WORLD_SIZE"]) > 1
        local = int(os.environ.get("LOCAL_RANK", 0))
        self.device = torch.device(f"cuda:{local}") if device == "cuda" else torch.device("cpu")
        if self.on:
            dist.init_process_group("nccl" if device == "cuda" else "gloo")
            self.rank, self.world = dist.get_rank(), dist.get_world_size()
        else:
            self.rank, self.world = 0, 1

    def sum(self, values):
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.on:
            dist.all_reduce(t)
        return t.cpu().tolist()

    def barrier(self):
        if self.on:
            dist.barrier()

    def close(self):
        if self.on:
            dist.destroy_process_group()


def log(d, msg):
    if d.rank == 0:
        print(msg, file=sys.stderr, flush=True)


@torch.no_grad()
def own_logits(model, ds, chunk=8192):
    """Each row's own-group logit."""
    out = []
    for s in range(0, len(ds), chunk):
        part = ds.take(range(s, min(s + chunk, len(ds))))
        z = model(*part.inputs)
        out.append(z.gather(1, part.own.reshape(-1, 1)).reshape(-1))
    return torch.cat(out) if out else torch.zeros(0)


def valid_logloss(model, valid, d):
    """Validation log loss of own-group logits, each rank scoring its every W-th row."""
    part = valid.take(range(d.rank, len(valid), d.world))
    z = own_logits(model, part)
    ll = torch.nn.functional.binary_cross_entropy_with_logits(z, part.label, reduction="sum").item()
    s, n = d.sum([ll, float(len(part))])
    return s / max(n, 1.0)


def epoch_order(seed, epoch, n):
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 1_000_003 + epoch))


def save_atomic(obj, path):
    tmp = f"{path}.tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def train(a, d):
    torch.set_num_threads(a.threads)
    cfg = Config.read(a.config)
    if a.name:
        cfg.name = cfg.raw["name"] = a.name
    if a.batch % d.world:
        raise SystemExit(f"--batch {a.batch} is not a multiple of the {d.world} processes")
    t0 = time.time()
    tr = read_csv(cfg, os.path.join(a.data, "train.csv"), a.max_rows).to(d.device)
    va = read_csv(cfg, os.path.join(a.data, "valid.csv"), a.max_valid_rows).to(d.device)
    log(d, f"train: {len(tr)} train / {len(va)} valid rows read in {time.time() - t0:.1f}s; {d.world} process(es)")
    model = CamoeModel(cfg, seed=a.seed, emb_std=a.emb_std).to(d.device)
    ddp = torch.nn.parallel.DistributedDataParallel(model) if d.on else model
    opt_emb = torch.optim.AdamW(model.embedding_parameters(), lr=a.lr * a.emb_lr_scale, weight_decay=a.emb_weight_decay)
    opt = torch.optim.AdamW(model.other_parameters(), lr=a.lr, weight_decay=a.weight_decay)
    steps_per_epoch = len(tr) // a.batch
    if steps_per_epoch == 0:
        raise SystemExit(f"{len(tr)} train rows: fewer than one batch of {a.batch}")
    eval_every = max(steps_per_epoch // a.evals_per_epoch, 1) if a.evals_per_epoch > 0 else 0
    state = dict(epoch=0, step=0, global_step=0, best=float("inf"), best_state=None, since_best=0, early_stop=False)
    ckpt = f"{a.out}.ckpt.pt"
    if a.resume and os.path.exists(ckpt):
        c = torch.load(ckpt, weights_only=False, map_location=d.device)
        model.load_state_dict(c["model"])
        opt_emb.load_state_dict(c["opt_emb"])
        opt.load_state_dict(c["opt"])
        state = c["state"]
        log(d, f"train: resumed from {ckpt} at epoch {state['epoch'] + 1} step {state['step']}")

    def checkpoint():
        if d.rank == 0:
            save_atomic(dict(model=model.state_dict(), opt_emb=opt_emb.state_dict(), opt=opt.state_dict(), state=state), ckpt)

    masked = not a.no_mask
    count = a.batch if masked else a.batch * len(cfg.groups)
    t1, seen, run_loss, run_n = time.time(), 0, 0.0, 0
    # --max-steps stops this run only: a resumed run with a larger one goes on.
    stop = state["early_stop"]
    while not stop and state["epoch"] < a.epochs:
        order = epoch_order(a.seed, state["epoch"], len(tr)).to(d.device)
        while state["step"] < steps_per_epoch:
            s = state["step"]
            rows = order[s * a.batch + d.rank : (s + 1) * a.batch : d.world]
            b = tr.take(rows)
            loss = masked_loss(ddp(*b.inputs), b.label, b.own, masked, denominator=count / d.world)
            opt_emb.zero_grad(set_to_none=True)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt_emb.step()
            opt.step()
            run_loss += loss.item() / d.world
            run_n += 1
            seen += a.batch
            state["step"] += 1
            state["global_step"] += 1
            # As the candle trainer: every eval_every steps, and at the epoch's end only
            # when more than half an interval has passed since the last check.
            last = state["step"] == steps_per_epoch
            if eval_every and (state["step"] % eval_every == 0 or (last and state["step"] % eval_every > eval_every // 2)):
                vl = valid_logloss(model, va, d)
                (train_loss,) = d.sum([run_loss / max(run_n, 1)])
                log(d, f"train: epoch {state['epoch'] + 1} step {state['step']}/{steps_per_epoch} loss {train_loss:.5f} "
                       f"valid logloss {vl:.5f} ({seen / (time.time() - t1):.0f} rows/s)")
                run_loss, run_n = 0.0, 0
                if vl < state["best"] - 1e-6:
                    state["best"], state["since_best"] = vl, 0
                    state["best_state"] = {k: v.clone() for k, v in model.state_dict().items()}
                else:
                    state["since_best"] += 1
                    if state["since_best"] >= a.patience:
                        log(d, f"train: early stop (best valid logloss {state['best']:.5f})")
                        state["early_stop"] = stop = True
                        break
            if a.max_steps is not None and state["global_step"] >= a.max_steps:
                stop = True
                break
            if state["global_step"] % a.ckpt_every == 0:
                checkpoint()
        if state["step"] >= steps_per_epoch:
            state["epoch"] += 1
            state["step"] = 0
    checkpoint()
    if state["best_state"] is not None:
        model.load_state_dict(state["best_state"])
    train_s = time.time() - t1
    if d.rank == 0:
        finish(a, cfg, model.cpu(), va.to(torch.device("cpu")), train_s, state)
    d.barrier()


def finish(a, cfg, model, va, train_s, state):
    """Platt calibration on validation, then OUT.pt, OUT.config.json and OUT.nnef.tgz."""
    model.eval()
    z = own_logits(model, va).numpy()
    calib = metrics.calibrate(z, va.task.numpy(), va.label.numpy(), len(cfg.tasks))
    training = dict(trainer="camoe_torch", processes=int(os.environ.get("WORLD_SIZE", 1)), steps=state["global_step"],
                    epochs=a.epochs, batch=a.batch, lr=a.lr, seed=a.seed, train_seconds=round(train_s, 1),
                    best_valid_logloss=state["best"] if state["best"] != float("inf") else None)
    torch.save(model.state_dict(), f"{a.out}.pt")
    if a.no_export:
        cfg.write(f"{a.out}.config.json", calib=calib, training=training)
    else:
        from .export import export

        export(model, a.out, calib, training)
    print(json.dumps(dict(out=a.out, steps=state["global_step"], train_seconds=round(train_s, 1),
                          calibration=calib)), flush=True)


def main(argv=None):
    a = parse_args(argv)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    d = Dist(a.device)
    try:
        train(a, d)
    finally:
        d.close()


if __name__ == "__main__":
    main()
