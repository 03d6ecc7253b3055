"""Mixed precision per device: bf16 only where the GPU has it natively (compute capability >= 8.0),
fp16 with loss scaling on older GPUs (V100, T4), fp32 on a CPU unless asked (mocked device properties)."""

import pytest

from minilm_repro.config import ConfigError
from minilm_repro.jobs.trainer_setup import precision


def _gpu(monkeypatch, capability, name):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # what torch says on a V100 too


@pytest.mark.parametrize("capability,name,expected", [
    ((7, 0), "Tesla V100-SXM2-32GB", "fp16"), ((7, 5), "Tesla T4", "fp16"),
    ((8, 0), "NVIDIA A100-SXM4-80GB", "bf16"), ((8, 9), "NVIDIA L4", "bf16"), ((9, 0), "NVIDIA H100 80GB HBM3", "bf16"),
])
def test_auto_picks_bf16_only_where_native(monkeypatch, capability, name, expected):
    _gpu(monkeypatch, capability, name)
    assert precision("auto") == expected
    assert precision("no") == "fp32"


def test_bf16_yes_on_a_v100_is_an_error_naming_the_device(monkeypatch):
    _gpu(monkeypatch, (7, 0), "Tesla V100-SXM2-32GB")
    with pytest.raises(ConfigError, match=r"Tesla V100-SXM2-32GB \(compute capability 7\.0\) has no native bf16"):
        precision("yes")


def test_cpu(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert (precision("auto"), precision("yes"), precision("no")) == ("fp32", "bf16", "fp32")


def test_the_trainer_arguments_carry_the_choice(monkeypatch, tmp_path):
    import torch

    from minilm_repro.jobs.trainer_setup import trainer_arguments

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    args = trainer_arguments(tmp_path, 8, 8, "yes", max_steps=1)
    assert (args.bf16, args.fp16) == (True, False)
    args = trainer_arguments(tmp_path, 8, 8, "auto", max_steps=1)
    assert (args.bf16, args.fp16) == (False, False)
