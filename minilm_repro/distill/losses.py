"""MiniLM and MiniLMv2 self-attention relation losses.

Written by hand: no library implements them, and public re-implementations disagree on KL
direction, masking and normalisation. The contract (../shared/paper/README.md):

* relation of head h: R = softmax(X1_h X2_hᵀ / sqrt(d)), d = that model's width per head;
  MiniLM: attention (Q, K) and value (V, V) over the model's own heads;
  MiniLMv2: (Q, Q), (K, K), (V, V) after re-splitting the concatenated heads into R relation heads;
* KL(teacher ‖ student): the teacher is the target distribution, the student gives log-probs;
* padding keys are masked out of both softmaxes; the KL is summed over keys, heads and the
  example's real query positions, divided by heads × the example's true length, then averaged
  over the batch; parts are summed unweighted.

The KL is computed per chunk of heads in float32, so memory is bounded at length 512 and
bf16-autocast forwards still give exact relations.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from minilm_repro.models.capture import RelationEncoder

V1_PARTS = ("attention", "value")
V2_PARTS = ("query", "key", "value")


def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, H) -> (B, heads, L, H / heads)."""
    b, n, h = x.shape
    return x.view(b, n, heads, h // heads).transpose(1, 2)


def relation_kl(t1, t2, s1, s2, t_heads: int, s_heads: int, mask: torch.Tensor, chunk: int = 4) -> torch.Tensor:
    """Per-example sum over heads, real queries and keys of KL(R_teacher ‖ R_student).

    t1, t2: teacher projections (B, L, H_t); s1, s2: student projections (B, L, H_s);
    relations use ``t_heads`` / ``s_heads`` heads (equal: the KL pairs head h with head h).
    mask: (B, L) with 1 for real tokens. Returns (B,) float32 (not yet normalised).
    """
    if t_heads != s_heads:
        raise ValueError(f"relation heads differ: teacher {t_heads}, student {s_heads}")
    mask = mask.bool()
    keys = mask[:, None, None, :]
    queries = mask[:, None, :, None]
    neg = torch.finfo(torch.float32).min
    t1, t2 = _split_heads(t1.float(), t_heads), _split_heads(t2.float(), t_heads)
    s1, s2 = _split_heads(s1.float(), s_heads), _split_heads(s2.float(), s_heads)
    t_scale, s_scale = 1.0 / math.sqrt(t1.shape[-1]), 1.0 / math.sqrt(s1.shape[-1])
    total = t1.new_zeros(t1.shape[0])
    for h in range(0, t_heads, chunk):
        sl = slice(h, h + chunk)
        with torch.no_grad():
            t_logp = torch.log_softmax((t1[:, sl] @ t2[:, sl].transpose(-1, -2) * t_scale).masked_fill(~keys, neg), -1)
            t_p = t_logp.exp()
        s_logp = torch.log_softmax((s1[:, sl] @ s2[:, sl].transpose(-1, -2) * s_scale).masked_fill(~keys, neg), -1)
        kl = (t_p * (t_logp - s_logp)).masked_fill(~(keys & queries), 0.0)
        total = total + kl.sum(dim=(1, 2, 3))
    return total


def default_relation_heads(teacher_hidden: int, teacher_heads: int) -> int:
    """MiniLMv2's choice: 48 relation heads for base-size teachers, 64 for large; else the head count."""
    return {768: 48, 1024: 64}.get(teacher_hidden, teacher_heads)


class DistillationLoss(nn.Module):
    """``(input_ids, attention_mask, token_type_ids=None) -> (loss, parts)``.

    The student is a registered submodule (so an optimiser or DDP wrapping this module trains
    the student only); the teacher is held outside the module tree and always runs under
    ``torch.no_grad``. Models are used in whatever train/eval mode the caller left them.

    method "minilm": parts "attention", "value" (``relations`` may select one: the ablations);
    method "minilmv2": parts "query", "key", "value" over ``relation_heads`` heads.
    ``layer_map=[(t, s), ...]`` sums the loss over several layer pairs (layer-wise ablation);
    by default one pair, (teacher_layer, student_layer).
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, method: str = "minilm", teacher_layer: int = -1,
                 student_layer: int = -1, relation_heads: int | None = None, relations: tuple[str, ...] | None = None,
                 layer_map: list[tuple[int, int]] | None = None, head_chunk: int = 4):
        super().__init__()
        if method not in ("minilm", "minilmv2"):
            raise ValueError(f"method must be 'minilm' or 'minilmv2', got {method!r}")
        self.method = method
        self.student = student
        self.__dict__["teacher"] = teacher  # not a submodule: never optimised, never synced by DDP
        pairs = list(layer_map) if layer_map else [(teacher_layer, student_layer)]
        self.teacher_enc = RelationEncoder(teacher, [t for t, _ in pairs])
        self.student_enc = RelationEncoder(student, [s for _, s in pairs])
        self.pairs = [(t % self.teacher_enc.num_layers, s % self.student_enc.num_layers) for t, s in pairs]
        t_cfg, s_cfg = teacher.config, student.config
        self.head_chunk = head_chunk
        if method == "minilm":
            if t_cfg.num_attention_heads != s_cfg.num_attention_heads:
                raise ValueError(
                    f"MiniLM pairs attention heads one to one, but the teacher has {t_cfg.num_attention_heads} heads "
                    f"and the student {s_cfg.num_attention_heads}: give both the same head count, or use "
                    "method='minilmv2' (relation heads re-split the concatenated heads)")
            self.t_heads = self.s_heads = t_cfg.num_attention_heads
            self.parts = tuple(relations) if relations else V1_PARTS
            unknown = set(self.parts) - set(V1_PARTS)
            if unknown or not self.parts:
                raise ValueError(f"relations must be a non-empty subset of {V1_PARTS}, got {relations}")
        else:
            if relations:
                raise ValueError("relations= selects MiniLM (v1) parts; MiniLMv2 always uses query, key and value")
            r = relation_heads or default_relation_heads(t_cfg.hidden_size, t_cfg.num_attention_heads)
            for who, hidden in (("teacher", t_cfg.hidden_size), ("student", s_cfg.hidden_size)):
                if hidden % r:
                    raise ValueError(f"relation_heads={r} does not divide the {who} hidden size {hidden}")
            self.t_heads = self.s_heads = r
            self.parts = V2_PARTS

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        with torch.no_grad():
            t_qkv = self.teacher_enc(input_ids, attention_mask, token_type_ids)
        s_qkv = self.student_enc(input_ids, attention_mask, token_type_ids)
        mask = attention_mask
        denom = self.t_heads * mask.sum(dim=1).clamp(min=1).float()  # heads x true length, per example
        sums = {p: 0.0 for p in self.parts}
        for t_layer, s_layer in self.pairs:
            (tq, tk, tv), (sq, sk, sv) = t_qkv[t_layer], s_qkv[s_layer]
            operands = {"attention": (tq, tk, sq, sk), "value": (tv, tv, sv, sv),
                        "query": (tq, tq, sq, sq), "key": (tk, tk, sk, sk)}
            for part in self.parts:
                a, b, c, d = operands[part]
                per_example = relation_kl(a, b, c, d, self.t_heads, self.s_heads, mask, self.head_chunk)
                sums[part] = sums[part] + (per_example / denom).mean()
        parts = dict(sums)
        loss = sum(parts.values())
        return loss, parts
