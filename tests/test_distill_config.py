"""DistillConfig: the stage config of `minilm-repro distill` maps onto DistillationLoss arguments."""

import pytest
import torch

from minilm_repro.config import ConfigError
from minilm_repro.distill.train import DistillConfig

OPTIM = {"steps": 1, "batch_size": 2, "lr": 1e-4}


def test_loss_arguments():
    cfg = DistillConfig(optim=OPTIM, shape={"layers": 2, "hidden": 64}, method="minilmv2", relation_heads=8,
                        relations=["query", "value"], teacher_precision="bf16")
    assert cfg.loss_kwargs() == {"method": "minilmv2", "teacher_layer": -1, "student_layer": -1, "relation_heads": 8,
                                 "relations": ("query", "value"), "teacher_autocast": torch.bfloat16}
    auto = DistillConfig(optim=OPTIM, shape={"layers": 2, "hidden": 64}, layer_map=[[1, 0], [3, 1]])
    assert "teacher_autocast" not in auto.loss_kwargs() and auto.loss_kwargs()["layer_map"] == [(1, 0), (3, 1)]


@pytest.mark.parametrize("bad, match", [({"teacher_precision": "fp16"}, "teacher_precision"),
                                        ({"method": "distilbert"}, "method"), ({"init": "copy"}, "init"),
                                        ({"shape": {"layers": 2, "width": 64}}, "width")])
def test_bad_settings_are_named(bad, match):
    kw = {"optim": OPTIM, "shape": {"layers": 2, "hidden": 64}, **bad}
    with pytest.raises(ConfigError, match=match):
        DistillConfig(**kw)
