"""A trained CamoeModel to `<prefix>.nnef.tgz` with torch-to-nnef, plus
`<prefix>.config.json` (with each task's calibration): the input of `camoe convert`."""

import logging
from pathlib import Path
from unittest import mock

import torch
from torch_to_nnef import TractNNEF, export_model_to_nnef
from torch_to_nnef.inference_target import tract as t2n_tract

# The tract line `camoe convert` links (tools/Cargo.toml: tract-nnef 0.22).
TRACT_VERSION = "0.22.1"


class _NoTractCli:
    """Stands in for the tract command line, which TractNNEF's constructor downloads from
    GitHub even when check_io is off (no network here, nor on CI). The check it would
    run, tract against PyTorch on the same inputs, is `camoe convert`'s own (tract-nnef
    in Rust) plus `camoe_torch.check` (PyTorch against the converted file)."""

    def __init__(self, version):
        self.version = version
        self.tract_path = Path("tract-cli-unused")


def tract_target(input_names):
    with mock.patch.object(t2n_tract.TractCli, "download", _NoTractCli):
        return TractNNEF(
            TRACT_VERSION,
            check_io=False,
            dynamic_axes={n: {0: "B"} for n in input_names},
            dump_identity_properties=False,
        )


def example_inputs(cfg, batch=2):
    return tuple(
        torch.zeros(batch, dtype=torch.int64) if cfg.fields[i]["kind"] == "categorical" else torch.zeros(batch, 1)
        for i in cfg.x0_order()
    )


def export(model, prefix, calib, training=None):
    """Writes PREFIX.nnef.tgz (the float graph, docs/NNEF.md) and PREFIX.config.json."""
    cfg = model.cfg
    names = [cfg.fields[i]["name"] for i in cfg.x0_order()]
    model = model.eval()
    path = Path(f"{prefix}.nnef.tgz")
    export_model_to_nnef(
        model=model,
        args=example_inputs(cfg),
        file_path_export=path,
        inference_target=tract_target(names),
        input_names=names,
        output_names=["logits"],
        log_level=logging.WARNING,
    )
    cfg.write(f"{prefix}.config.json", calib=calib, training=training)
    return path
