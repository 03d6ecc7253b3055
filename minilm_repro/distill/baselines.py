"""The paper's baselines and ablations as distillation losses, with :class:`DistillationLoss`'s interface.

* :class:`ValueMSELoss` (Table 6, "Value-MSE"): MiniLM's last-layer attention-distribution KL,
  with the value-relation term replaced by an MSE between the teacher's values and a learnt
  linear projection of the student's values.
* :class:`TinyBERTLoss` (Table 3's TinyBERT; Table 7's layer-to-layer idea): per mapped layer
  pair an attention-map MSE and a hidden-state MSE through a learnt projection, plus the
  embedding-output MSE; uniform layer map.
* :class:`MLMKDLoss` (Table 3's MLM-KD): KL between the teacher's and the student's masked-LM
  distributions at the masked positions.

Common interface: ``forward(input_ids, attention_mask, token_type_ids=None, **batch) -> (loss,
parts)`` with (batch, seq_len) int tensors in, ``parts`` a dict of float32 scalar tensors whose
sum is ``loss``. The student is the registered submodule ``student``; learnt projections are
registered submodules of the loss module (the optimiser trains them, Trainer checkpoints hold
them, the saved student directory does not); the teacher is held outside the module tree and
runs under ``torch.no_grad`` (and under ``teacher_autocast`` when given). Models are used in
whatever train/eval mode the caller left them; every loss term is computed in float32.

Normalisation, as the MiniLM contract does it (the paper's README: ``paper/README.md`` of the project's shared data): a per-example
average over the example's real tokens (|x| = its true length), then the mean over the batch.
Padding positions never enter a loss: they are masked as keys of every softmax and dropped as
queries / tokens, so the ids at padded positions do not change any loss.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn

from minilm_repro.distill.losses import _MASK_FILL, _heads_first, relation_kl
from minilm_repro.models.capture import QKVCapture, find_attention, find_layers


def _check_inputs(input_ids: torch.Tensor, attention_mask: torch.Tensor | None) -> None:
    if attention_mask is None or attention_mask.shape != input_ids.shape:
        raise ValueError("attention_mask is required, with the shape of input_ids "
                         f"{tuple(input_ids.shape)}; got {None if attention_mask is None else tuple(attention_mask.shape)}")


def token_mse(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-example mean over real tokens of the squared error averaged over features.

    pred, target: (B, L, H), any float dtype; mask: (B, L), nonzero for real tokens. Returns (B,)
    float32, in squared units of the target per feature (an example without real tokens gives 0).
    """
    real = mask.bool()
    err = (pred.float() - target.float()).pow(2).mean(dim=-1).masked_fill(~real, 0.0)
    return err.sum(dim=1) / real.sum(dim=1).clamp(min=1).float()


def attention_probs(q: torch.Tensor, k: torch.Tensor, heads: int, mask: torch.Tensor) -> torch.Tensor:
    """The attention distributions softmax(Q_h K_hᵀ / sqrt(d)) over real keys, d = H / heads.

    q, k: (B, L, H) query/key projections; mask: (B, L). Returns (B, heads, L, L) float32; each
    row sums to 1 over the real keys and is exactly 0 at padding keys. This is what the model's
    eager attention computes before its attention dropout, so it is dropout-free in train mode.
    """
    qh, kh = _heads_first(q, heads), _heads_first(k, heads)
    scores = torch.matmul(qh, kh.transpose(-1, -2)) * qh.shape[-1] ** -0.5
    return scores.masked_fill(~mask.bool()[:, None, None, :], _MASK_FILL).softmax(dim=-1)


def attention_mse(p_teacher: torch.Tensor, p_student: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per-example mean squared difference of attention probabilities over heads and real (query, key) pairs.

    p_teacher, p_student: (B, heads, L, L) float32; mask: (B, L). Returns (B,) float32: the sum of
    squared differences over heads, real queries and real keys, divided by heads · |x|².
    """
    real = mask.bool()
    pairs = real[:, None, :, None] & real[:, None, None, :]
    se = (p_student - p_teacher).pow(2).masked_fill(~pairs, 0.0).sum(dim=(1, 2, 3))
    n = real.sum(dim=1).clamp(min=1).float()
    return se / (p_teacher.shape[1] * n * n)


def _same_heads(teacher: nn.Module, student: nn.Module, method: str) -> int:
    t, s = teacher.config.num_attention_heads, student.config.num_attention_heads
    if t != s:
        raise ValueError(f"{method} pairs attention heads one to one, but the teacher has {t} heads and the student "
                         f"{s}: give the student shape heads: {t} (or use method minilmv2, which re-splits heads)")
    return t


class _TeacherStudentLoss(nn.Module):
    """Holds the student (a submodule) and the teacher (outside the module tree); see the module docstring."""

    # the loss is a per-micro-batch mean: the HF Trainer must average it over accumulation steps and
    # ranks (without this it infers "sums over num_items_in_batch" from forward's **batch)
    accepts_loss_kwargs = False

    def __init__(self, teacher: nn.Module, student: nn.Module, teacher_autocast: torch.dtype | None = None):
        super().__init__()
        self.student = student
        self.__dict__["teacher"] = teacher  # not a submodule: never optimised, never saved, never synced by DDP
        self.teacher_autocast = teacher_autocast

    def _teacher_context(self, device_type: str):
        """no_grad, plus bf16 autocast when asked (None keeps the caller's autocast, e.g. the Trainer's bf16)."""
        stack = contextlib.ExitStack()
        stack.enter_context(torch.no_grad())
        if self.teacher_autocast is not None:
            stack.enter_context(torch.autocast(device_type=device_type, dtype=self.teacher_autocast))
        return stack


class ValueMSELoss(_TeacherStudentLoss):
    """Paper Table 6's Value-MSE: MiniLM's attention KL plus an MSE on (projected) values.

    parts:

    * ``attention``: MiniLM's L_AT exactly (:func:`relation_kl` on Q, K of ``teacher_layer`` /
      ``student_layer``: KL(teacher ‖ student) summed over real keys, divided by heads · |x|,
      batch mean); equal head counts are required;
    * ``value_mse``: :func:`token_mse` between the teacher's value vectors V_t (B, L, H_t) and
      ``value_proj(V_s)``, a learnt ``nn.Linear(H_s, H_t)`` (with bias) of the student's value
      vectors (B, L, H_s), all heads concatenated: squared error averaged over the H_t features,
      summed over real tokens, divided by |x|, batch mean.

    ``teacher_layer`` / ``student_layer`` are Python indices into the encoders' layer lists (-1 =
    last, the paper's). The student's forward stops right after the captured values (as MiniLM's).
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, teacher_layer: int = -1, student_layer: int = -1,
                 head_chunk: int | None = None, teacher_autocast: torch.dtype | None = None):
        super().__init__(teacher, student, teacher_autocast)
        self.heads = _same_heads(teacher, student, "value_mse")
        self.teacher_capture = QKVCapture(teacher, [teacher_layer])
        self.student_capture = QKVCapture(student, [student_layer])
        self.teacher_layer, self.student_layer = self.teacher_capture.layers[0], self.student_capture.layers[0]
        if head_chunk is not None and head_chunk < 1:
            raise ValueError(f"head_chunk must be a positive number of heads, got {head_chunk}")
        self.head_chunk = head_chunk
        self.value_proj = nn.Linear(student.config.hidden_size, teacher.config.hidden_size)

    def forward(self, input_ids, attention_mask, token_type_ids=None, **batch):
        _check_inputs(input_ids, attention_mask)
        with self._teacher_context(input_ids.device.type):
            t_qkv, _ = self.teacher_capture(input_ids, attention_mask, token_type_ids)
        s_qkv, _ = self.student_capture(input_ids, attention_mask, token_type_ids)
        (tq, tk, tv), (sq, sk, sv) = t_qkv[self.teacher_layer], s_qkv[self.student_layer]
        projected = self.value_proj(sv)
        with torch.autocast(device_type=input_ids.device.type, enabled=False):
            denom = self.heads * attention_mask.sum(dim=1).clamp(min=1).float()
            attention = relation_kl(tq, tk, sq, sk, self.heads, self.heads, attention_mask, self.head_chunk)
            parts = {"attention": (attention / denom).mean(),
                     "value_mse": token_mse(projected, tv.detach(), attention_mask).mean()}
        return sum(parts.values()), parts


def uniform_layer_map(teacher_layers: int, student_layers: int) -> list[tuple[int, int]]:
    """TinyBERT's uniform map: student layer m ↔ teacher layer m·L/M (1-based), as 0-based (teacher, student) pairs.

    The last student layer always maps to the last teacher layer; when M does not divide L the
    teacher layer is rounded down (m·L // M). Needs 1 ≤ M ≤ L.
    """
    if not 1 <= student_layers <= teacher_layers:
        raise ValueError(f"a uniform layer map needs 1 <= student layers <= teacher layers, got {student_layers} "
                         f"student and {teacher_layers} teacher layers")
    return [(m * teacher_layers // student_layers - 1, m - 1) for m in range(1, student_layers + 1)]


class _QKHiddenCapture:
    """Runs an HF encoder with ``output_hidden_states``; hooks record Q and K of ``layers``.

    Calling it returns ``({layer: (q, k)}, hidden_states)``: q, k (B, L, H) as the projections
    ran (attached to the graph); hidden_states the model's tuple of num_layers + 1 tensors
    (B, L, H), index 0 the embedding output and index i + 1 the output of layer i.
    """

    def __init__(self, model: nn.Module, layers: list[int]):
        self.model = model
        self.layers = sorted(set(layers))
        layer_list = find_layers(model)
        self.num_layers = len(layer_list)
        self._attention = {i: find_attention(layer_list[i]) for i in self.layers}

    def __call__(self, input_ids, attention_mask, token_type_ids=None):
        captured: dict[int, dict[str, torch.Tensor]] = {i: {} for i in self.layers}

        def hook_for(i: int, name: str):
            def hook(_module, _inputs, output):
                captured[i][name] = output
            return hook

        handles = [getattr(self._attention[i], name).register_forward_hook(hook_for(i, name))
                   for i in self.layers for name in ("query", "key")]
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask, "output_hidden_states": True}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        try:
            out = self.model(**kwargs)
        finally:
            for h in handles:
                h.remove()
        hidden = out.hidden_states
        if hidden is None or len(hidden) != self.num_layers + 1:
            raise RuntimeError(f"{type(self.model).__name__}: expected {self.num_layers + 1} hidden states "
                               f"(embeddings + every layer) from output_hidden_states=True, got "
                               f"{None if hidden is None else len(hidden)}")
        return {i: (captured[i]["query"], captured[i]["key"]) for i in self.layers}, hidden


class TinyBERTLoss(_TeacherStudentLoss):
    """TinyBERT-style layer-to-layer transfer (general distillation), summed unweighted over layer pairs.

    parts, for each pair (t, s) of ``layer_map`` (default :func:`uniform_layer_map`), summed over pairs:

    * ``attention``: :func:`attention_mse` between the teacher's and the student's attention
      probabilities of layers t and s, head h ↔ head h (equal head counts required), over real
      queries and real keys, divided by heads · |x|², batch mean. The maps are recomputed from the
      captured Q, K (:func:`attention_probs`), never taken from ``output_attentions`` (those carry
      attention dropout in train mode). TinyBERT's public code regresses the pre-softmax scores;
      we regress the distributions, which are bounded and need no guess for masked entries.
    * ``hidden``: :func:`token_mse` between the teacher's output of layer t (B, L, H_t) and
      ``hidden_proj`` (a learnt ``nn.Linear(H_s, H_t)``, shared by all layers, TinyBERT's W_h)
      of the student's output of layer s.

    plus, once:

    * ``embedding``: :func:`token_mse` between the embedding outputs (hidden state 0), the
      student's through ``embedding_proj`` (a separate ``nn.Linear(H_s, H_t)``, TinyBERT's W_e).
      Included because TinyBERT's general distillation, the task-agnostic stage comparable to
      MiniLM's, transfers the embedding layer as its layer 0; its prediction-layer loss is
      task-specific and has no counterpart here.

    All three are per-element means (squared units of probabilities resp. hidden features), so
    they are summed unweighted, as TinyBERT does. ``layer_map``: [(teacher_layer, student_layer),
    ...] Python indices into the encoders' layer lists. Every student layer runs.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, layer_map: list[tuple[int, int]] | None = None,
                 teacher_autocast: torch.dtype | None = None):
        super().__init__(teacher, student, teacher_autocast)
        self.heads = _same_heads(teacher, student, "tinybert")
        t_n, s_n = len(find_layers(teacher)), len(find_layers(student))
        if layer_map is None:
            pairs = uniform_layer_map(t_n, s_n)
        else:
            pairs = [tuple(p) for p in layer_map]
            if not pairs or any(len(p) != 2 for p in pairs):
                raise ValueError(f"layer_map must be a non-empty list of (teacher_layer, student_layer) pairs, got {layer_map}")
            bad = [p for p in pairs if not (-t_n <= p[0] < t_n and -s_n <= p[1] < s_n)]
            if bad:
                raise ValueError(f"layer_map pair(s) {bad} out of range for a {t_n}-layer teacher and a {s_n}-layer "
                                 "student (0-based, negative from the end)")
            pairs = [(t % t_n, s % s_n) for t, s in pairs]
        self.pairs = pairs
        self.teacher_capture = _QKHiddenCapture(teacher, [t for t, _ in pairs])
        self.student_capture = _QKHiddenCapture(student, [s for _, s in pairs])
        h_s, h_t = student.config.hidden_size, teacher.config.hidden_size
        self.hidden_proj = nn.Linear(h_s, h_t)
        self.embedding_proj = nn.Linear(h_s, h_t)

    def forward(self, input_ids, attention_mask, token_type_ids=None, **batch):
        _check_inputs(input_ids, attention_mask)
        with self._teacher_context(input_ids.device.type):
            t_qk, t_hidden = self.teacher_capture(input_ids, attention_mask, token_type_ids)
        s_qk, s_hidden = self.student_capture(input_ids, attention_mask, token_type_ids)
        projected = {s: self.hidden_proj(s_hidden[s + 1]) for s in {s for _, s in self.pairs}}
        embedding = self.embedding_proj(s_hidden[0])
        with torch.autocast(device_type=input_ids.device.type, enabled=False):
            attention = hidden = 0.0
            for t, s in self.pairs:
                with torch.no_grad():
                    p_t = attention_probs(*t_qk[t], self.heads, attention_mask)
                p_s = attention_probs(*s_qk[s], self.heads, attention_mask)
                attention = attention + attention_mse(p_t, p_s, attention_mask).mean()
                hidden = hidden + token_mse(projected[s], t_hidden[t + 1], attention_mask).mean()
            parts = {"attention": attention, "hidden": hidden,
                     "embedding": token_mse(embedding, t_hidden[0], attention_mask).mean()}
        return sum(parts.values()), parts


def masked_lm_parts(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(encoder, masked-LM head) of an HF ``*ForMaskedLM`` model: its base model and its one other child."""
    base = getattr(model, "base_model", model)
    heads = [m for _, m in model.named_children() if m is not base]
    if base is model or len(heads) != 1:
        raise ValueError(f"{type(model).__name__}: mlm_kd needs *ForMaskedLM models (an encoder plus one masked-LM "
                         "head, e.g. BertForMaskedLM, XLMRobertaForMaskedLM); load both with AutoModelForMaskedLM")
    return base, heads[0]


class MLMKDLoss(_TeacherStudentLoss):
    """Table 3's MLM-KD: soft-label distillation of the teacher's masked-LM predictions.

    ``labels`` (B, L) come from ``DataCollatorForLanguageModeling``: the original id at the
    masked positions, -100 elsewhere (padding included). At each masked position i (N of them in
    the batch) with teacher / student logits z_t, z_s over the shared vocabulary V:

        kd = T² · (1/N) Σ_i KL(softmax(z_t,i / T) ‖ softmax(z_s,i / T))   (nats)

    KL rather than cross-entropy: same gradient (they differ by the teacher's entropy, a
    constant), and 0 at a perfect match. Scaled by T² (Hinton et al.) so that the gradient's size
    does not shrink as 1/T² when T is raised; at the default T = 1 the factor is 1. No hard-label
    term (the baseline is pure soft-label KD). The encoders run on all positions; the heads only
    on the N masked ones (logits are (N, V), not (B, L, V)). ``parts = {"kd": ...}``; a batch
    without masked positions gives 0.
    """

    def __init__(self, teacher: nn.Module, student: nn.Module, temperature: float = 1.0,
                 teacher_autocast: torch.dtype | None = None):
        super().__init__(teacher, student, teacher_autocast)
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature!r}")
        self.temperature = float(temperature)
        self._teacher_parts = masked_lm_parts(teacher)
        masked_lm_parts(student)  # the same check for the student
        if teacher.config.vocab_size != student.config.vocab_size:
            raise ValueError(f"mlm_kd compares distributions over one vocabulary, but the teacher has "
                             f"{teacher.config.vocab_size} tokens and the student {student.config.vocab_size}: "
                             "derive the student from the teacher's config")

    def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None, **batch):
        _check_inputs(input_ids, attention_mask)
        if labels is None or labels.shape != input_ids.shape:
            raise ValueError("mlm_kd needs `labels` with the shape of input_ids (the original ids at masked "
                             "positions, -100 elsewhere), as DataCollatorForLanguageModeling gives them")
        masked = (labels != -100) & attention_mask.bool()
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            kwargs["token_type_ids"] = token_type_ids
        t_base, t_head = self._teacher_parts
        with self._teacher_context(input_ids.device.type):
            t_logits = t_head(t_base(**kwargs)[0][masked])
        s_base, s_head = masked_lm_parts(self.student)
        s_logits = s_head(s_base(**kwargs)[0][masked])
        with torch.autocast(device_type=input_ids.device.type, enabled=False):
            inv_t = 1.0 / self.temperature
            log_p = F.log_softmax(t_logits.float() * inv_t, dim=-1)
            log_q = F.log_softmax(s_logits.float() * inv_t, dim=-1)
            kl = (log_p.exp() * (log_p - log_q)).sum()
            kd = kl * self.temperature ** 2 / max(1, int(masked.sum()))
        return kd, {"kd": kd}

    # The student's decoder weight (and bias) is its word embedding (and head bias) itself. The HF
    # Trainer checkpoints a non-PreTrainedModel with safetensors, which refuses shared tensors:
    # checkpoints keep the first name of each shared tensor, loading restores the others.
    def _aliases(self) -> dict[str, str]:
        first: dict[int, str] = {}
        aliases = {}
        for name, p in self.named_parameters(remove_duplicate=False):
            if id(p) in first:
                aliases[name] = first[id(p)]
            else:
                first[id(p)] = name
        return aliases

    def state_dict(self, *args, destination=None, prefix="", keep_vars=False):
        out = super().state_dict(*args, destination=destination, prefix=prefix, keep_vars=keep_vars)
        for alias in self._aliases():
            out.pop(prefix + alias, None)
        return out

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        state_dict = dict(state_dict)
        for alias, source in self._aliases().items():
            if alias not in state_dict and source in state_dict:
                state_dict[alias] = state_dict[source]
        return super().load_state_dict(state_dict, strict=strict, assign=assign)
