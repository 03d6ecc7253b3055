"""Shared training plumbing: the optimisation config, HF TrainingArguments, resume, final model dirs.

Training loops are the HF Trainer's (bf16, gradient accumulation, DDP under torchrun,
checkpoint/resume of model, optimiser, scheduler, RNG and data position). Checkpoints live in a
work directory that is *not* a Snakemake output, because Snakemake deletes a failed job's
outputs; the final model directory is written atomically at the end.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

from minilm_repro.config import ConfigError


@dataclasses.dataclass
class OptimConfig:
    """Optimisation of one training job. ``batch_size`` is the GLOBAL batch (all devices, all
    accumulation steps): per-device batch and accumulation are derived from the world size."""

    steps: int
    batch_size: int
    lr: float
    warmup_steps: int = 0
    weight_decay: float = 0.01
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_epsilon: float = 1e-6
    max_grad_norm: float = 1.0
    max_device_batch: int = 64  # largest per-device micro-batch; more -> accumulation
    save_steps: int = 1000
    logging_steps: int = 50
    seed: int = 42
    bf16: str = "auto"  # "auto" (bf16 on a CUDA device that supports it) | "yes" (also on CPU) | "no"

    def __post_init__(self):
        if self.bf16 not in ("auto", "yes", "no"):
            raise ConfigError(f"bf16 must be 'auto', 'yes' or 'no', got {self.bf16!r}")
        if self.steps <= 0 or self.batch_size <= 0:
            raise ConfigError("steps and batch_size must be positive")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0 of a torchrun job, or the only process: the one that logs and writes job outputs."""
    return int(os.environ.get("RANK", "0")) == 0


def device_batch_and_accumulation(global_batch: int, max_device_batch: int, world: int) -> tuple[int, int]:
    """Split a global batch over ``world`` devices: (per-device micro-batch, accumulation steps).

    The product per_device * accumulation * world equals ``global_batch`` exactly, or an error
    says which global batch sizes would work.
    """
    if global_batch % world:
        raise ConfigError(f"global batch {global_batch} is not divisible by the {world} processes")
    per_rank = global_batch // world
    accum = 1
    while per_rank // accum > max_device_batch or per_rank % accum:
        accum += 1
        if accum > per_rank:
            break
    per_device = per_rank // accum
    if per_device * accum * world != global_batch:
        raise ConfigError(f"cannot split global batch {global_batch} over {world} processes "
                          f"with micro-batches <= {max_device_batch}")
    return per_device, accum


def use_bf16(setting: str) -> bool:
    """bf16 mixed precision for the Trainer: "auto" = on a CUDA GPU that supports it; "yes" = also
    on a CPU (torch's CPU autocast; fast on CPUs with bf16 units, e.g. AVX512-BF16 or AMX)."""
    import torch

    if setting == "no":
        return False
    if torch.cuda.is_available():
        cuda_bf16 = torch.cuda.is_bf16_supported()
        if setting == "yes" and not cuda_bf16:
            raise ConfigError("bf16: 'yes' but this CUDA device has no bf16 support; use 'auto' or 'no'")
        return cuda_bf16
    return setting == "yes"


def trainer_arguments(workdir: str | Path, global_batch: int, max_device_batch: int, bf16: str, **kwargs):
    """HF TrainingArguments shared by every training stage.

    ``global_batch`` is split into per-device micro-batches and accumulation steps for the
    current world size. On a machine without CUDA, ``use_cpu`` makes accelerate form a gloo
    process group under torchrun (without it, CPU ranks would each train alone).
    """
    import torch
    from transformers import TrainingArguments

    per_device, accum = device_batch_and_accumulation(global_batch, max_device_batch, world_size())
    base = dict(
        output_dir=str(workdir), per_device_train_batch_size=per_device, gradient_accumulation_steps=accum,
        lr_scheduler_type="linear", save_strategy="steps", report_to=[], bf16=use_bf16(bf16),
        use_cpu=not torch.cuda.is_available(), dataloader_num_workers=0, disable_tqdm=True,
        ddp_find_unused_parameters=False,
    )
    base.update(kwargs)
    return TrainingArguments(**base)


def mean_reduced_loss(model):
    """Tell the Trainer that ``model``'s loss is a plain per-micro-batch mean.

    HF heads (``*ForMaskedLM``, ``*ForSequenceClassification``, ``*ForQuestionAnswering`` of
    BERT/XLM-R) accept ``**kwargs`` but ignore ``num_items_in_batch``; the Trainer would then
    skip dividing by the accumulation steps and multiply the loss by the world size. With this
    flag the loss is averaged over accumulation steps and ranks like the global batch it is.
    """
    model.accepts_loss_kwargs = False
    return model


def training_arguments(cfg: OptimConfig, workdir: str | Path, **overrides):
    """TrainingArguments for a step-budgeted job (pretraining, distillation) from its OptimConfig."""
    kwargs = dict(
        max_steps=cfg.steps, learning_rate=cfg.lr, warmup_steps=cfg.warmup_steps,
        weight_decay=cfg.weight_decay, adam_beta1=cfg.adam_beta1, adam_beta2=cfg.adam_beta2,
        adam_epsilon=cfg.adam_epsilon, max_grad_norm=cfg.max_grad_norm, save_steps=cfg.save_steps,
        save_total_limit=2, logging_steps=cfg.logging_steps, seed=cfg.seed, data_seed=cfg.seed,
        remove_unused_columns=False,
    )
    kwargs.update(overrides)
    return trainer_arguments(workdir, cfg.batch_size, cfg.max_device_batch, cfg.bf16, **kwargs)


def input_fingerprint(*paths: str | Path | None) -> dict:
    """{path: sha256 of (relative name, size, mtime) of every file under it}: changes when a job's
    input is rewritten (a retrained teacher, a re-prepared corpus), without reading the data."""
    import hashlib

    out = {}
    for path in paths:
        if path is None:
            continue
        path = Path(path)
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        digest = hashlib.sha256()
        for f in files:
            st = f.stat()
            digest.update(f"{f.relative_to(path) if path.is_dir() else f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        out[str(path)] = digest.hexdigest()
    return out


def job_key(cfg, *inputs: str | Path | None) -> dict:
    """What a work directory's checkpoints belong to: the stage's resolved config (a dataclass)
    and :func:`input_fingerprint` of its input directories (see :func:`last_checkpoint`)."""
    import dataclasses

    return {"config": dataclasses.asdict(cfg), "inputs": input_fingerprint(*inputs)}


def last_checkpoint(workdir: str | Path, key: dict | None = None) -> str | None:
    """The newest complete Trainer checkpoint in ``workdir`` (None when starting fresh).

    ``key`` (the job's resolved config and :func:`input_fingerprint` of its inputs) is kept in
    ``workdir/job_key.json``: checkpoints made under another key belong to another job (a
    changed hyper-parameter keeps the work path of its grid point), so they are removed, with a
    message, and the job starts afresh instead of resuming them.
    """
    from transformers.trainer_utils import get_last_checkpoint

    workdir = Path(workdir)
    if key is not None and not _claim_workdir(workdir, key):
        return None
    return get_last_checkpoint(str(workdir)) if workdir.is_dir() else None


def _claim_workdir(workdir: Path, key: dict) -> bool:
    """True when ``workdir`` was made under ``key``. Otherwise rank 0 removes its checkpoints (saying
    so) and records ``key``; False: the job starts afresh."""
    import sys

    key_file = workdir / "job_key.json"
    key = json.loads(json.dumps(key, sort_keys=True, default=str))
    stored = json.loads(key_file.read_text()) if key_file.is_file() else None
    if stored == key:
        return True
    old = sorted(workdir.glob("checkpoint-*")) if workdir.is_dir() else []
    if old:
        made_for = "an unknown job (no job_key.json)" if stored is None else \
            f"another {' and '.join(sorted(k for k in set(key) | set(stored) if stored.get(k) != key.get(k)))} (job_key.json)"
        print(f"{workdir}: its checkpoints were made for {made_for}; starting afresh", file=sys.stderr, flush=True)
    if is_main_process():  # the other ranks of a torchrun job only read
        for ckpt in old:
            shutil.rmtree(ckpt)
        workdir.mkdir(parents=True, exist_ok=True)
        tmp = key_file.with_name(key_file.name + ".tmp")
        tmp.write_text(json.dumps(key, indent=2, sort_keys=True) + "\n")
        os.replace(tmp, key_file)
    return False


def save_model_dir(model, tokenizer, out_dir: str | Path, card: dict) -> None:
    """Write an HF model directory atomically: weights (safetensors), config, tokenizer, card."""
    out_dir = Path(out_dir)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    lines = [f"# {card.get('name', out_dir.name)}", "", "Produced by minilm-repro.", ""]
    lines += [f"- **{k}**: {v}" for k, v in card.items()]
    (tmp / "README.md").write_text("\n".join(lines) + "\n")
    (tmp / "minilm_repro.json").write_text(json.dumps(card, indent=2, sort_keys=True, default=str) + "\n")
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"tokenizer directory {path} does not exist")
    return AutoTokenizer.from_pretrained(str(path))


def load_pretrained(path: str | Path, auto_cls=None, **kwargs):
    """Load a local model directory, with a clear error for a missing or corrupt checkpoint."""
    from transformers import AutoModel

    auto_cls = auto_cls or AutoModel
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a model directory (no config.json)")
    try:
        return auto_cls.from_pretrained(str(path), **kwargs)
    except Exception as exc:  # safetensors / torch raise many types for truncated files
        raise RuntimeError(
            f"cannot load the checkpoint in {path} ({type(exc).__name__}: {exc}); the file is "
            f"corrupt or incomplete: delete {path} and re-run the stage that produces it"
        ) from exc


# architectures that derive position ids from ``input_ids != pad_token_id``: a wrong pad id shifts them
PAD_POSITIONS = ("roberta", "xlm-roberta", "camembert", "xlm-roberta-xl")


def tokenizer_matches(model_config, tokenizer, where: str) -> None:
    """A tokenizer whose ids do not fit the model is an early error.

    Every id must index the embeddings. The pad id must agree only where the architecture derives
    position ids from it (RoBERTa family); a BERT model may pad with another id than its config
    says (the released multilingual MiniLM: BERT with the XLM-R tokenizer, pad 1 vs config 0),
    since attention masks, not the pad embedding, keep padding out.
    """
    if len(tokenizer) > model_config.vocab_size:
        raise ConfigError(
            f"{where}: tokenizer has {len(tokenizer)} tokens but the model's vocabulary is "
            f"{model_config.vocab_size}: use the teacher's own tokenizer"
        )
    if model_config.model_type in PAD_POSITIONS and tokenizer.pad_token_id != model_config.pad_token_id:
        raise ConfigError(
            f"{where}: tokenizer pad id {tokenizer.pad_token_id} != model pad_token_id "
            f"{model_config.pad_token_id} ({model_config.model_type} positions count non-pad tokens): "
            "the tokenizer does not belong to this model"
        )
