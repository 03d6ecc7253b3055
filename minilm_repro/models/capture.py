"""Capture the query/key/value projections of chosen encoder layers, without attention maps.

``output_attentions=True`` forces eager attention in every layer and keeps every layer's maps.
MiniLM needs only the Q, K, V of one layer, so forward hooks on that layer's projection
``nn.Linear`` modules record their outputs and every layer keeps SDPA / flash attention. The
forward pass stops right after the deepest needed value projection: the rest of the network
does not contribute to the loss.
"""

from __future__ import annotations

import torch
from torch import nn

QKV = ("query", "key", "value")


class _StopForward(Exception):
    """Raised by a hook once every needed projection is captured (caught in RelationEncoder)."""


def find_attention(layer: nn.Module) -> nn.Module | None:
    """The self-attention module of an encoder layer: the first with query/key/value Linears."""
    for mod in layer.modules():
        if all(isinstance(getattr(mod, name, None), nn.Linear) for name in QKV):
            return mod
    return None


def find_layers(model: nn.Module) -> nn.ModuleList:
    """The encoder's layer list (works for *Model and *ForMaskedLM/... wrappers alike)."""
    for _, mod in model.named_modules():
        if isinstance(mod, nn.ModuleList) and len(mod) and all(find_attention(m) is not None for m in mod):
            return mod
    raise ValueError(
        f"{type(model).__name__}: expected an encoder whose layers (an nn.ModuleList) each have a "
        "self-attention module with `query`, `key` and `value` nn.Linear projections (as BERT, RoBERTa, "
        "XLM-R); none found, so relations cannot be captured from this model"
    )


class RelationEncoder:
    """Wraps an HF encoder (not a module itself: the model stays the caller's only owner).

    Calling it returns the Q/K/V projections of ``layers``.

    Returns ``{layer_index: (q, k, v)}``, each of shape (batch, seq_len, hidden), in the dtype the
    projections ran in. ``layers`` are Python indices into the encoder's layer list (-1 = last).
    """

    def __init__(self, model: nn.Module, layers: list[int]):
        self.model = model
        self._layer_list = find_layers(model)
        n = len(self._layer_list)
        self.layers = sorted({i % n if -n <= i < n else self._bad_layer(i, n) for i in layers})
        self.num_layers = n

    @staticmethod
    def _bad_layer(i: int, n: int) -> int:
        raise ValueError(f"layer index {i} is out of range for an encoder with {n} layers")

    def __call__(self, input_ids, attention_mask, token_type_ids=None) -> dict[int, tuple[torch.Tensor, ...]]:
        captured: dict[int, dict[str, torch.Tensor]] = {i: {} for i in self.layers}
        deepest = self.layers[-1]
        handles = []

        def hook_for(layer_idx: int, name: str):
            def hook(_module, _inputs, output):
                captured[layer_idx][name] = output
                if layer_idx == deepest and len(captured[deepest]) == 3:
                    raise _StopForward

            return hook

        for i in self.layers:
            attn = find_attention(self._layer_list[i])
            for name in QKV:
                handles.append(getattr(attn, name).register_forward_hook(hook_for(i, name)))
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        try:
            self.model(**kwargs)
        except _StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        missing = [i for i in self.layers if len(captured[i]) != 3]
        if missing:
            raise RuntimeError(f"query/key/value of layer(s) {missing} were not computed in the forward pass")
        return {i: tuple(captured[i][n] for n in QKV) for i in self.layers}
