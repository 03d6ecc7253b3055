"""Distillation: the MiniLM / MiniLMv2 relation losses and the distillation stage."""

from minilm_repro.distill.losses import DistillationLoss

__all__ = ["DistillationLoss"]
