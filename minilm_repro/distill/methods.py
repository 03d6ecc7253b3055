"""Distillation methods: which config keys each reads, and what the distill stage builds for it.

``method`` (``distill.method`` / a student's ``method`` in the workflow config):

* ``minilm``, ``minilmv2``: :class:`~minilm_repro.distill.losses.DistillationLoss` (the paper's method);
* ``value_mse``: :class:`~minilm_repro.distill.baselines.ValueMSELoss` (Table 6);
* ``tinybert``: :class:`~minilm_repro.distill.baselines.TinyBERTLoss` (Table 3 baseline, Table 7 idea);
* ``mlm_kd``: :class:`~minilm_repro.distill.baselines.MLMKDLoss` (Table 3 baseline).

:func:`build_method` loads the teacher, builds the (randomly initialised) student, the loss
module and the data collator; the distill stage trains ``setup.loss`` and saves ``setup.student``
(without the loss module's projections).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from minilm_repro.config import ConfigError

METHODS = ("minilm", "minilmv2", "value_mse", "tinybert", "mlm_kd")

# the method-specific DistillConfig keys, with their defaults ("not set"), and the methods that read each
OPTION_DEFAULTS = {"teacher_layer": -1, "student_layer": -1, "relation_heads": None, "relations": None,
                   "layer_map": None, "temperature": None, "mlm_probability": None}
OPTIONS = {
    "minilm": ("teacher_layer", "student_layer", "relations", "layer_map"),
    "minilmv2": ("teacher_layer", "student_layer", "relation_heads", "relations", "layer_map"),
    "value_mse": ("teacher_layer", "student_layer"),
    "tinybert": ("layer_map",),
    "mlm_kd": ("temperature", "mlm_probability"),
}
DEFAULT_TEMPERATURE = 1.0
DEFAULT_MLM_PROBABILITY = 0.15


def check_options(cfg) -> None:
    """ConfigError when ``cfg.method`` is unknown, sets a key its method does not read, or a value is out of range."""
    if cfg.method not in METHODS:
        raise ConfigError(f"distill.method must be one of {METHODS}, got {cfg.method!r}")
    stray = [k for k, default in OPTION_DEFAULTS.items() if getattr(cfg, k) != default and k not in OPTIONS[cfg.method]]
    if stray:
        raise ConfigError(f"distill: {', '.join(stray)} do(es) not apply to method {cfg.method!r} (it reads "
                          f"{', '.join(OPTIONS[cfg.method])}); remove {'it' if len(stray) == 1 else 'them'}")
    from minilm_repro.models.layers import check_layer_ref

    refs = [(cfg.teacher_layer, "teacher_layer"), (cfg.student_layer, "student_layer")]
    refs += [(r, f"layer_map[{i}]") for i, pair in enumerate(cfg.layer_map or []) for r in pair]
    for ref, key in refs:
        check_layer_ref(ref, f"distill.{key}")
    if cfg.temperature is not None and not (isinstance(cfg.temperature, (int, float)) and cfg.temperature > 0):
        raise ConfigError(f"distill.temperature must be a positive number, got {cfg.temperature!r}")
    if cfg.mlm_probability is not None and not (isinstance(cfg.mlm_probability, (int, float))
                                                and 0 < cfg.mlm_probability < 1):
        raise ConfigError(f"distill.mlm_probability must be in (0, 1), got {cfg.mlm_probability!r}")


@dataclasses.dataclass
class MethodSetup:
    """What the distill stage needs for one method."""

    teacher: Any  # eval mode, requires_grad off; the stage moves it to the training device
    student: Any  # the model saved as the student directory (also ``loss.student``)
    loss: Any  # nn.Module: forward(**collated batch) -> (loss, parts); the Trainer's model
    collator: Any  # the Trainer's data_collator
    card: dict  # method-specific entries for the student's model card ({} for minilm / minilmv2)


def load_masked_lm_teacher(teacher_dir):
    """The teacher as ``AutoModelForMaskedLM``; ConfigError when its checkpoint lacks weights (e.g. no MLM head)."""
    from transformers import AutoModelForMaskedLM

    from minilm_repro.jobs.model_io import load_pretrained

    teacher, info = load_pretrained(teacher_dir, AutoModelForMaskedLM, output_loading_info=True)
    missing = sorted(info.get("missing_keys", ()))
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise ConfigError(f"teacher {teacher_dir}: the checkpoint lacks {type(teacher).__name__} weights ({shown}); "
                          "method mlm_kd needs a masked-LM teacher saved with its head (e.g. a pretrain-stage or "
                          "fetched hub teacher), not a distilled encoder")
    return teacher


def init_from_teacher_layers(student, teacher) -> None:
    """Copy embeddings and a uniform stride of teacher layers (needs equal hidden sizes)."""
    s_cfg, t_cfg = student.config, teacher.config
    if s_cfg.hidden_size != t_cfg.hidden_size:
        raise ConfigError("init: teacher_layers needs the student's hidden size to equal the teacher's")
    student.embeddings.load_state_dict(teacher.embeddings.state_dict())
    stride = t_cfg.num_hidden_layers / s_cfg.num_hidden_layers
    for i, layer in enumerate(student.encoder.layer):
        layer.load_state_dict(teacher.encoder.layer[int(round((i + 1) * stride)) - 1].state_dict())


def with_layer_indices(cfg, teacher_layers: int, student_layers: int):
    """``cfg`` with its layer references ("K of N", "last": models/layers.py) as list indices of the
    loaded models (ints, the Python API's indices, pass through unchanged)."""
    from minilm_repro.models.layers import layer_index

    def index(ref, n, key):
        return ref if isinstance(ref, int) else layer_index(ref, n, f"distill.{key}")

    layer_map = None if cfg.layer_map is None else [
        [index(t, teacher_layers, f"layer_map[{i}] teacher"), index(s, student_layers, f"layer_map[{i}] student")]
        for i, (t, s) in enumerate(cfg.layer_map)]
    return dataclasses.replace(cfg, teacher_layer=index(cfg.teacher_layer, teacher_layers, "teacher_layer"),
                               student_layer=index(cfg.student_layer, student_layers, "student_layer"),
                               layer_map=layer_map)


def build_method(cfg, teacher_dir, tokenizer, seed: int) -> MethodSetup:
    """Teacher, student, loss module and collator for ``cfg`` (a DistillConfig).

    The student has ``cfg.shape`` on the teacher's config and is initialised at random from
    ``torch.manual_seed(seed)`` (or, with ``init: teacher_layers``, from teacher layers).
    minilm / minilmv2 build exactly what the stage built before the other methods existed.
    """
    import torch
    from transformers import AutoModel, AutoModelForMaskedLM, DataCollatorWithPadding

    from minilm_repro.distill.baselines import MLMKDLoss, TinyBERTLoss, ValueMSELoss
    from minilm_repro.distill.collators import BatchSeededMLMCollator
    from minilm_repro.distill.losses import DistillationLoss
    from minilm_repro.jobs.model_io import load_pretrained, tokenizer_matches
    from minilm_repro.models.build import student_config

    check_options(cfg)
    masked_lm = cfg.method == "mlm_kd"
    teacher = load_masked_lm_teacher(teacher_dir) if masked_lm else load_pretrained(teacher_dir, AutoModel)
    tokenizer_matches(teacher.config, tokenizer, f"teacher {teacher_dir}")
    teacher.eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    torch.manual_seed(seed)
    student = (AutoModelForMaskedLM if masked_lm else AutoModel).from_config(student_config(teacher.config, **cfg.shape))
    if cfg.init == "teacher_layers":
        init_from_teacher_layers(student.base_model, teacher.base_model)
    cfg = with_layer_indices(cfg, teacher.config.num_hidden_layers, student.config.num_hidden_layers)
    autocast = torch.bfloat16 if cfg.teacher_precision == "bf16" else None
    collator = DataCollatorWithPadding(tokenizer)
    card = {}
    if cfg.method in ("minilm", "minilmv2"):
        loss = DistillationLoss(teacher, student, **cfg.loss_kwargs())
    elif cfg.method == "value_mse":
        loss = ValueMSELoss(teacher, student, cfg.teacher_layer, cfg.student_layer, teacher_autocast=autocast)
    elif cfg.method == "tinybert":
        layer_map = [tuple(p) for p in cfg.layer_map] if cfg.layer_map is not None else None
        loss = TinyBERTLoss(teacher, student, layer_map, teacher_autocast=autocast)
        card["layer_map"] = loss.pairs
    else:
        temperature = DEFAULT_TEMPERATURE if cfg.temperature is None else cfg.temperature
        mlm_probability = DEFAULT_MLM_PROBABILITY if cfg.mlm_probability is None else cfg.mlm_probability
        loss = MLMKDLoss(teacher, student, temperature, teacher_autocast=autocast)
        collator = BatchSeededMLMCollator(tokenizer, mlm_probability=mlm_probability, seed=seed)
        card.update(temperature=temperature, mlm_probability=mlm_probability)
    return MethodSetup(teacher=teacher, student=student, loss=loss, collator=collator, card=card)
