"""MiniLM and MiniLMv2 self-attention relation losses.

Written by hand: no library implements them, and public re-implementations disagree on KL
direction, masking and normalisation. The contract (the paper's README: ``paper/README.md`` of the project's shared data):

* relation of head h: R = softmax(X1_h X2_hᵀ / sqrt(d)), d = that model's width per head;
  MiniLM: attention (Q, K) and value (V, V) over the model's own heads;
  MiniLMv2: (Q, Q), (K, K), (V, V) after re-splitting the concatenated heads into R relation heads;
* KL(teacher ‖ student): the teacher is the target distribution, the student gives log-probs;
* padding keys are masked out of both softmaxes; the KL is summed over keys, heads and the
  example's real query positions, divided by heads × the example's true length, then averaged
  over the batch; parts are summed unweighted.

Speed and memory: Q/K/V come from hooks (models/capture.py), so every layer keeps SDPA. The KL
is a fused autograd function (:class:`_RelationKL`): per chunk of heads it builds both
relations in float32, reduces the KL and, when the student needs gradients, turns the
closed-form gradient ``softmax(S) - P_teacher`` straight into gradients of the student's
projections. Nothing of size L² outlives a chunk, so memory is O(batch · L · hidden) plus one
chunk's few L² buffers, at any sequence length.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

from minilm_repro.models.capture import QKVCapture

V1_PARTS = ("attention", "value")
V2_PARTS = ("query", "key", "value")
# masked logits: finite, so exp() gives exactly 0 and (log p - log q) is exactly 0 at padding keys
_MASK_FILL = -1e30
# elements (batch · heads · L²) of one float32 relation buffer per chunk: 32 MiB
_CHUNK_ELEMENTS = 1 << 23


def _heads_first(x: torch.Tensor, heads: int) -> torch.Tensor:
    """(B, L, H) any float dtype -> contiguous float32 (B, heads, L, H / heads)."""
    b, n, h = x.shape
    return x.float().view(b, n, heads, h // heads).transpose(1, 2).contiguous()


def _log_relation(a: torch.Tensor, b: torch.Tensor, scale: float, keys: torch.Tensor) -> torch.Tensor:
    """log softmax(a bᵀ · scale) over unmasked keys: (B, c, L, d) x2 -> (B, c, L, L) float32."""
    x = torch.matmul(a, b.transpose(-1, -2)).mul_(scale).masked_fill_(~keys, _MASK_FILL)
    return x.sub_(torch.logsumexp(x, dim=-1, keepdim=True))


class _RelationKL(torch.autograd.Function):
    """Per-example Σ_heads Σ_real queries Σ_keys KL(R_teacher ‖ R_student), gradient precomputed.

    The KL's gradient w.r.t. the student's logits S of one query row is ``softmax(S) - P`` (P the
    teacher row, which sums to 1); the loss is linear in the per-example upstream gradient, so the
    forward pass computes d(per-example sum)/d(s1, s2) chunk by chunk and backward only scales
    them. No double backward.
    """

    @staticmethod
    def forward(ctx, s1, s2, t1, t2, t_heads, s_heads, mask, chunk, need_grad):
        b = s1.shape[0]
        keys = mask[:, None, None, :]
        queries = mask[:, None, :, None].float()
        t1h, t2h = _heads_first(t1, t_heads), _heads_first(t2, t_heads)
        s1h, s2h = _heads_first(s1, s_heads), _heads_first(s2, s_heads)
        t_scale, s_scale = t1h.shape[-1] ** -0.5, s1h.shape[-1] ** -0.5
        total = s1h.new_zeros(b)
        ds1 = torch.zeros_like(s1h) if need_grad else None
        ds2 = torch.zeros_like(s2h) if need_grad else None
        for h in range(0, t_heads, chunk):
            c = slice(h, h + chunk)
            log_p = _log_relation(t1h[:, c], t2h[:, c], t_scale, keys)
            log_q = _log_relation(s1h[:, c], s2h[:, c], s_scale, keys)
            p = log_p.exp()
            kl = log_p.sub_(log_q).mul_(p)  # p (log p - log q), reusing log_p's buffer
            total += (kl.sum(dim=-1) * queries[..., 0]).sum(dim=(1, 2))
            del kl, log_p
            if need_grad:
                grad_logits = log_q.exp_().sub_(p).mul_(queries)  # (softmax(S) - P) on real query rows
                ds1[:, c] = torch.matmul(grad_logits, s2h[:, c]).mul_(s_scale)
                ds2[:, c] = torch.matmul(grad_logits.transpose(-1, -2), s1h[:, c]).mul_(s_scale)
        if need_grad:
            ctx.save_for_backward(ds1.transpose(1, 2).reshape(s1.shape), ds2.transpose(1, 2).reshape(s2.shape))
            ctx.dtypes = (s1.dtype, s2.dtype)
        return total

    @staticmethod
    def backward(ctx, grad_total):
        ds1, ds2 = ctx.saved_tensors
        g = grad_total.float()[:, None, None]
        return (ds1 * g).to(ctx.dtypes[0]), (ds2 * g).to(ctx.dtypes[1]), None, None, None, None, None, None, None


def relation_kl(t1, t2, s1, s2, t_heads: int, s_heads: int, mask: torch.Tensor,
                head_chunk: int | None = None) -> torch.Tensor:
    """Per-example sum over relation heads, real queries and keys of KL(R_teacher ‖ R_student).

    t1, t2: teacher projections (B, L, H_t); s1, s2: student projections (B, L, H_s), any float
    dtype; relations use ``t_heads`` / ``s_heads`` heads of width H / heads (equal counts: head h
    of the teacher is paired with head h of the student). mask: (B, L), nonzero for real tokens.
    ``head_chunk`` heads are processed at a time (None: as many as fit 32 MiB per L² buffer).
    Returns (B,) float32, not yet normalised; differentiable w.r.t. s1 and s2 only.
    """
    if t_heads != s_heads:
        raise ValueError(f"relation heads differ: teacher {t_heads}, student {s_heads}")
    b, n, _ = s1.shape
    chunk = head_chunk or max(1, min(t_heads, _CHUNK_ELEMENTS // max(1, b * n * n)))
    need_grad = torch.is_grad_enabled() and (s1.requires_grad or s2.requires_grad)
    with torch.autocast(device_type=s1.device.type, enabled=False):
        return _RelationKL.apply(s1, s2, t1.detach(), t2.detach(), t_heads, s_heads, mask.bool(), chunk, need_grad)


def default_relation_heads(teacher_hidden: int, teacher_heads: int) -> int:
    """MiniLMv2's choice: 48 relation heads for base-size (768) teachers, 64 for large (1024); else the head count."""
    return {768: 48, 1024: 64}.get(teacher_hidden, teacher_heads)


class DistillationLoss(nn.Module):
    """``(input_ids, attention_mask, token_type_ids=None) -> (loss, parts)``; parts are scalar tensors.

    method "minilm": parts "attention", "value" (``relations`` may select a subset: the
    ablations); method "minilmv2": parts "query", "key", "value" over ``relation_heads`` heads
    (None: 48 for a 768-wide teacher, 64 for 1024, else the teacher's head count).
    ``teacher_layer``/``student_layer`` are Python indices into the encoders' layer lists (-1 =
    last); ``layer_map=[(t, s), ...]`` instead sums the loss over several pairs (layer-wise
    ablation). input_ids, attention_mask, token_type_ids: (batch, seq_len) int tensors.

    The student is the registered submodule ``student`` (so an optimiser or DDP wrapping this
    module trains the student only); the teacher is held outside the module tree and runs under
    ``torch.no_grad`` (under bf16 autocast too when ``teacher_autocast=torch.bfloat16``). Models
    are used in whatever train/eval mode the caller left them. Relations are always float32.

    Both forwards stop right after the captured projections, so by default there is no student
    output; with ``keep_student_output=True`` the student runs to its end and its output is kept
    in ``last_student_output`` (e.g. to add another loss on it).
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, method: str = "minilm", teacher_layer: int = -1,
                 student_layer: int = -1, relation_heads: int | None = None, relations: tuple[str, ...] | None = None,
                 layer_map: list[tuple[int, int]] | None = None, head_chunk: int | None = None,
                 teacher_autocast: torch.dtype | None = None, keep_student_output: bool = False):
        super().__init__()
        if method not in ("minilm", "minilmv2"):
            raise ValueError(f"method must be 'minilm' or 'minilmv2', got {method!r}")
        self.method = method
        self.student = student
        self.__dict__["teacher"] = teacher  # not a submodule: never optimised, never synced by DDP
        if layer_map and (teacher_layer, student_layer) != (-1, -1):
            raise ValueError(f"give either layer_map or teacher_layer/student_layer, not both (got layer_map="
                             f"{layer_map}, teacher_layer={teacher_layer}, student_layer={student_layer})")
        pairs = [tuple(p) for p in layer_map] if layer_map else [(teacher_layer, student_layer)]
        if any(len(p) != 2 for p in pairs):
            raise ValueError(f"layer_map must be a list of (teacher_layer, student_layer) pairs, got {layer_map}")
        self.teacher_capture = QKVCapture(teacher, [t for t, _ in pairs])
        self.student_capture = QKVCapture(student, [s for _, s in pairs], stop_early=not keep_student_output)
        self.pairs = [(t % self.teacher_capture.num_layers, s % self.student_capture.num_layers) for t, s in pairs]
        if head_chunk is not None and head_chunk < 1:
            raise ValueError(f"head_chunk must be a positive number of heads, got {head_chunk}")
        self.head_chunk = head_chunk
        self.teacher_autocast = teacher_autocast
        self.last_student_output = None
        t_cfg, s_cfg = teacher.config, student.config
        if method == "minilm":
            if t_cfg.num_attention_heads != s_cfg.num_attention_heads:
                raise ValueError(
                    f"MiniLM pairs attention heads one to one, but the teacher has {t_cfg.num_attention_heads} heads "
                    f"and the student {s_cfg.num_attention_heads}: give both the same head count, or use "
                    "method='minilmv2' (relation heads re-split the concatenated heads)")
            if relation_heads is not None:
                raise ValueError("relation_heads applies to method='minilmv2' only; MiniLM uses the models' heads")
            self.heads = t_cfg.num_attention_heads
            all_parts = V1_PARTS
        else:
            r = default_relation_heads(t_cfg.hidden_size, t_cfg.num_attention_heads) if relation_heads is None \
                else relation_heads
            if not isinstance(r, int) or r < 1:
                raise ValueError(f"relation_heads must be a positive integer or None, got {relation_heads!r}")
            for who, hidden in (("teacher", t_cfg.hidden_size), ("student", s_cfg.hidden_size)):
                if hidden % r:
                    raise ValueError(f"relation_heads={r} does not divide the {who} hidden size {hidden}; "
                                     "choose a common divisor of both hidden sizes")
            self.heads = r
            all_parts = V2_PARTS
        self.parts = tuple(relations) if relations else all_parts
        if not set(self.parts) <= set(all_parts) or len(set(self.parts)) != len(self.parts):
            raise ValueError(f"relations for method={method!r} must be distinct names from {all_parts}, "
                             f"got {relations}")

    def forward(self, input_ids, attention_mask, token_type_ids=None):
        if attention_mask is None or attention_mask.shape != input_ids.shape:
            raise ValueError("attention_mask is required, with the shape of input_ids "
                             f"{tuple(input_ids.shape)}; got {None if attention_mask is None else tuple(attention_mask.shape)}")
        # teacher_autocast=None keeps the caller's autocast state (e.g. the Trainer's bf16)
        autocast = contextlib.nullcontext() if self.teacher_autocast is None else \
            torch.autocast(device_type=input_ids.device.type, dtype=self.teacher_autocast)
        with torch.no_grad(), autocast:
            t_qkv, _ = self.teacher_capture(input_ids, attention_mask, token_type_ids)
        s_qkv, self.last_student_output = self.student_capture(input_ids, attention_mask, token_type_ids)
        denom = self.heads * attention_mask.sum(dim=1).clamp(min=1).float()  # heads x true length, per example
        parts = {}
        for t_layer, s_layer in self.pairs:
            (tq, tk, tv), (sq, sk, sv) = t_qkv[t_layer], s_qkv[s_layer]
            operands = {"attention": (tq, tk, sq, sk), "value": (tv, tv, sv, sv),
                        "query": (tq, tq, sq, sq), "key": (tk, tk, sk, sk)}
            for part in self.parts:
                t1, t2, s1, s2 = operands[part]
                per_example = relation_kl(t1, t2, s1, s2, self.heads, self.heads, attention_mask, self.head_chunk)
                term = (per_example / denom).mean()
                parts[part] = parts[part] + term if part in parts else term
        loss = sum(parts.values())
        return loss, parts
