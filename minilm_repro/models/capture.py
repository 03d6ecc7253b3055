"""Capture the query/key/value projections of chosen encoder layers, without attention maps.

``output_attentions=True`` forces eager attention in every layer and keeps every layer's maps.
MiniLM needs only the Q, K, V of one layer, so forward hooks on that layer's projection
``nn.Linear`` modules record their outputs and every layer keeps SDPA / flash attention. By
default the forward pass stops right after the deepest needed projection: the rest of the
network does not contribute to the loss (for the student, its parameters get no gradient
either way).

The encoder is found structurally, so any HF encoder whose self-attention has ``query``,
``key`` and ``value`` ``nn.Linear`` projections works (BERT, RoBERTa, XLM-R, ELECTRA, ...),
bare (``*Model``) or inside a head wrapper (``*ForMaskedLM``, ...).
"""

from __future__ import annotations

import torch
from torch import nn

QKV = ("query", "key", "value")


class _StopForward(Exception):
    """Raised by a hook once every needed projection is captured (caught in QKVCapture)."""


def find_attention(layer: nn.Module) -> nn.Module | None:
    """The self-attention module of an encoder layer: the first with query/key/value Linears."""
    for mod in layer.modules():
        if all(isinstance(getattr(mod, name, None), nn.Linear) for name in QKV):
            return mod
    return None


def find_layers(model: nn.Module) -> nn.ModuleList:
    """The encoder's layer list: the first ``nn.ModuleList`` whose every element has an attention."""
    for _, mod in model.named_modules():
        if isinstance(mod, nn.ModuleList) and len(mod) and all(find_attention(m) is not None for m in mod):
            return mod
    raise ValueError(
        f"{type(model).__name__}: expected an encoder whose layers (an nn.ModuleList) each hold a "
        "self-attention module with `query`, `key` and `value` nn.Linear projections (as in BERT, RoBERTa, "
        "XLM-R); none found, so Q/K/V cannot be captured from this model. Pass such an encoder (or its "
        "*ForMaskedLM wrapper)."
    )


class QKVCapture:
    """Runs an HF encoder and returns the Q, K, V projections of ``layers``.

    Not an ``nn.Module``: the model stays its owner's only parent. ``layers`` are Python indices
    into the encoder's layer list (-1 = last). With ``stop_early`` the forward pass is cut right
    after the deepest needed value projection and no model output exists.

    Calling it returns ``(qkv, output)``: ``qkv = {layer_index: (q, k, v)}`` (non-negative
    indices), each of shape (batch, seq_len, hidden) in the dtype the projections ran in (bf16
    under bf16 autocast), still attached to the autograd graph; ``output`` is the model's output
    (``None`` when stopped early).
    """

    def __init__(self, model: nn.Module, layers: list[int], stop_early: bool = True):
        self.model = model
        self._layer_list = find_layers(model)
        n = len(self._layer_list)
        bad = [i for i in layers if not -n <= i < n]
        if bad:
            raise ValueError(f"layer index(es) {bad} out of range for {type(model).__name__} with {n} layers "
                             f"(use 0..{n - 1}, or negative indices from the end)")
        self.layers = sorted({i % n for i in layers})
        self.num_layers = n
        self.stop_early = stop_early
        self._attention = {i: find_attention(self._layer_list[i]) for i in self.layers}

    def __call__(self, input_ids, attention_mask, token_type_ids=None):
        captured: dict[int, dict[str, torch.Tensor]] = {i: {} for i in self.layers}
        deepest = self.layers[-1]

        def hook_for(layer_idx: int, name: str):
            def hook(_module, _inputs, output):
                captured[layer_idx][name] = output
                if self.stop_early and layer_idx == deepest and len(captured[deepest]) == 3:
                    raise _StopForward

            return hook

        handles = [getattr(self._attention[i], name).register_forward_hook(hook_for(i, name))
                   for i in self.layers for name in QKV]
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        output = None
        try:
            output = self.model(**kwargs)
        except _StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        missing = [i for i in self.layers if len(captured[i]) != 3]
        if missing:
            raise RuntimeError(f"{type(self.model).__name__}: query/key/value of layer(s) {missing} were not "
                               "computed in the forward pass (does its forward call those projections?)")
        return {i: tuple(captured[i][n] for n in QKV) for i in self.layers}, output
