"""Fixtures of camoe_torch's tests: the camoe binaries (built by tools/python/test.sh and
named by CAMOE_BIN / CAMOE_LIB), a small simulator log, and small configs."""

import json
import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


def small_config(path, experts=3, cross_layers=2, cross_rank=0, expert_mlp=(16, 8), tower=(8,), dims=None, groups=None):
    """The demo schema with small tables and the given architecture, written to `path`.
    `dims` overrides every categorical width (odd ones welcome); `groups` maps each
    task name to a new group name."""
    raw = json.loads((REPO / "models" / "camoe-demo.config.json").read_text())
    raw.pop("training", None)
    for f in raw["fields"]:
        if f["kind"] == "categorical":
            f["vocab"] = min(f["vocab"], 512)
            f["dim"] = dims if dims is not None else min(f["dim"], 4)
    if groups is not None:
        raw["groups"] = sorted(set(groups.values()))
        for t in raw["tasks"]:
            t["group"] = groups[t["name"]]
    for t in raw["tasks"]:
        t["calib_a"], t["calib_b"] = 1.0, 0.0
    raw["name"] = Path(path).stem
    raw["arch"] = dict(experts=experts, cross_layers=cross_layers, cross_rank=cross_rank,
                       expert_mlp=list(expert_mlp), tower=list(tower))
    Path(path).write_text(json.dumps(raw, indent=1))
    return path


@pytest.fixture(scope="session")
def camoe_bin():
    p = Path(os.environ.get("CAMOE_BIN", REPO / "target" / "ci" / "camoe"))
    assert p.exists(), f"{p}: build it (cargo build --profile ci -p camoe-tools) or set CAMOE_BIN"
    return p


@pytest.fixture(scope="session")
def camoe_lib():
    p = Path(os.environ.get("CAMOE_LIB", REPO / "target" / "ci" / "libcamoe.so"))
    assert p.exists(), f"{p}: build it (cargo build --profile ci -p camoe --lib) or set CAMOE_LIB"
    return p


@pytest.fixture(scope="session")
def sim(tmp_path_factory, camoe_bin):
    """60 000 simulated impressions (42 020 train / 5 983 valid / 11 997 test rows)."""
    d = tmp_path_factory.mktemp("sim")
    subprocess.run([str(camoe_bin), "simulate", "--out", str(d), "--n", "60000", "--seed", "3"],
                   check=True, capture_output=True)
    return d
