"""Distillation: the MiniLM / MiniLMv2 relation losses, the paper's baselines and the distillation stage."""

from minilm_repro.distill.baselines import MLMKDLoss, TinyBERTLoss, ValueMSELoss
from minilm_repro.distill.losses import DistillationLoss

__all__ = ["DistillationLoss", "MLMKDLoss", "TinyBERTLoss", "ValueMSELoss"]
