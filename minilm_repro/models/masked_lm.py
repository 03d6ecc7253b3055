"""A masked-LM model that runs its output layer at the masked positions only.

HF's ``*ForMaskedLM`` heads project every position onto the vocabulary and the loss then ignores
the ~85% of positions whose label is -100. For a small model with a 30k-250k-word vocabulary that
projection is most of a training step (a 4x192 BERT with 30,522 words: ~3/4 of the FLOPs). Written
here because transformers has no option for it: the subclass below runs the encoder, gathers the
positions with a label and applies the model's own head to those rows alone. The loss is the same
mean cross-entropy over the masked tokens; the weights, their names, the tied embeddings and the
saved ``config.architectures`` are the parent class's, so checkpoints load with ``AutoModelForMaskedLM``.
"""

from __future__ import annotations

import functools

import torch
from transformers.modeling_outputs import MaskedLMOutput

IGNORE = -100  # the label of a position the loss skips (HF's convention)


def _head(model) -> torch.nn.Module:
    """The vocabulary head: ``cls`` (BERT) or ``lm_head`` (RoBERTa, XLM-R)."""
    for name in ("cls", "lm_head"):
        if isinstance(getattr(model, name, None), torch.nn.Module):
            return getattr(model, name)
    raise TypeError(f"{type(model).__name__}: no masked-LM head named cls or lm_head")


def _forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None, **kwargs):
    """input_ids, attention_mask, token_type_ids, labels: [batch, seq]. With labels: loss (scalar,
    the mean over positions whose label is not -100) and logits [n labelled positions, vocab];
    without: the parent's forward (logits at every position)."""
    if labels is None:
        return super(type(self), self).forward(input_ids=input_ids, attention_mask=attention_mask,
                                               token_type_ids=token_type_ids, **kwargs)
    extra = {"token_type_ids": token_type_ids} if token_type_ids is not None else {}
    hidden = self.base_model(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
    keep = labels != IGNORE
    logits = _head(self)(hidden[keep])  # [n, vocab]
    loss = torch.nn.functional.cross_entropy(logits.float(), labels[keep])
    return MaskedLMOutput(loss=loss, logits=logits)


@functools.cache
def masked_positions_class(parent: type) -> type:
    """``parent`` (an HF ``*ForMaskedLM`` class) with the masked-positions-only forward; same ``__name__``."""
    return type(parent.__name__, (parent,), {"forward": _forward, "__doc__": __doc__,
                                             "__module__": parent.__module__})


def masked_positions_only(model):
    """``model`` (a ``*ForMaskedLM`` instance), its class swapped for :func:`masked_positions_class`'s:
    nothing else changes (same parameters, same state dict)."""
    _head(model)
    model.__class__ = masked_positions_class(type(model))
    return model
