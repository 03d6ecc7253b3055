"""Model configs: a teacher from an architecture spec, students and assistants derived from it.

A student keeps the teacher's architecture family, vocabulary, position range and head count
(MiniLM matches heads), with its own depth and width; the intermediate size is 4x hidden, as in
every paper student. Students are initialised at random (the paper's choice).
"""

from __future__ import annotations

import dataclasses

from minilm_repro.config import ConfigError

ARCHS = ("bert", "xlmr")


@dataclasses.dataclass
class ArchConfig:
    arch: str  # "bert" (BertForMaskedLM) | "xlmr" (XLMRobertaForMaskedLM)
    layers: int
    hidden: int
    heads: int
    intermediate: int | None = None
    dropout: float = 0.1
    max_position: int = 512

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ConfigError(f"arch must be one of {ARCHS}, got {self.arch!r}")
        if self.hidden % self.heads:
            raise ConfigError(f"hidden {self.hidden} is not divisible by heads {self.heads}")


def teacher_config(spec: ArchConfig, tokenizer):
    """An HF config for a freshly initialised model of ``spec`` over ``tokenizer``'s vocabulary."""
    from transformers import BertConfig, XLMRobertaConfig

    common = dict(
        vocab_size=len(tokenizer), hidden_size=spec.hidden, num_hidden_layers=spec.layers,
        num_attention_heads=spec.heads, intermediate_size=spec.intermediate or 4 * spec.hidden,
        hidden_dropout_prob=spec.dropout, attention_probs_dropout_prob=spec.dropout,
        pad_token_id=tokenizer.pad_token_id,
    )
    if spec.arch == "bert":
        return BertConfig(max_position_embeddings=spec.max_position, type_vocab_size=2, **common)
    # RoBERTa-style positions start after the padding index: +2 slots
    return XLMRobertaConfig(
        max_position_embeddings=spec.max_position + 2, type_vocab_size=1,
        bos_token_id=tokenizer.cls_token_id, eos_token_id=tokenizer.sep_token_id, **common,
    )


def student_config(teacher_cfg, layers: int, hidden: int, heads: int | None = None):
    """Derive a student config: teacher's family/vocab/positions, new depth and width."""
    cfg = teacher_cfg.__class__.from_dict(teacher_cfg.to_dict())
    heads = heads or teacher_cfg.num_attention_heads
    if hidden % heads:
        raise ConfigError(f"student hidden {hidden} is not divisible by {heads} heads")
    cfg.num_hidden_layers = layers
    cfg.hidden_size = hidden
    cfg.num_attention_heads = heads
    cfg.intermediate_size = 4 * hidden
    cfg.architectures = None
    return cfg


def count_parameters(model, include_embeddings: bool = True) -> int:
    n = sum(p.numel() for p in model.parameters())
    if not include_embeddings:
        emb = model.get_input_embeddings()
        n -= sum(p.numel() for p in emb.parameters())
    return n
