"""Model directories: loading them with clear errors, writing them atomically with a model card."""

from __future__ import annotations

from pathlib import Path

from minilm_repro.config import ConfigError
from minilm_repro.jobs.atomic import partial_dir, replace_dir, write_json


def save_model_dir(model, tokenizer, out_dir: str | Path, card: dict) -> None:
    """Write an HF model directory atomically: weights (safetensors), config, tokenizer, card."""
    out_dir = Path(out_dir)
    tmp = partial_dir(out_dir)
    model.save_pretrained(str(tmp), safe_serialization=True)
    tokenizer.save_pretrained(str(tmp))
    write_card(tmp, card, out_dir.name)
    replace_dir(tmp, out_dir)


def write_card(model_dir: str | Path, card: dict, name: str | None = None) -> None:
    """The model card of a model directory: ``README.md`` in the Hub's format (:mod:`minilm_repro.jobs.model_card`)
    for people and the Hub, ``minilm_repro.json`` (every setting) for code."""
    from minilm_repro.jobs.model_card import card_text

    model_dir = Path(model_dir)
    (model_dir / "README.md").write_text(card_text({"name": name or model_dir.name, **card}))
    write_json(model_dir / "minilm_repro.json", card)


def hub_id_of(model_dir: str | Path) -> str | None:
    """The hub id a model directory of this pipeline was fetched from (its card's ``source``), else None."""
    import json

    path = Path(model_dir) / "minilm_repro.json"
    source = json.loads(path.read_text()).get("source", "") if path.is_file() else ""
    return source.removeprefix("hub ").split("@")[0] if source.startswith("hub ") else None


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"tokenizer directory {path} does not exist")
    return AutoTokenizer.from_pretrained(str(path))


def load_pretrained(path: str | Path, auto_cls=None, **kwargs):
    """Load a local model directory; a missing or corrupt checkpoint is a one-line error whose advice
    depends on where the directory came from (see :func:`made_here`)."""
    from transformers import AutoModel

    auto_cls = auto_cls or AutoModel
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path} is not a model directory (no config.json)")
    try:
        return auto_cls.from_pretrained(str(path), **kwargs)
    except Exception as exc:  # safetensors / torch raise many types for truncated files
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
        if made_here(path):
            fix = f"delete {path} and rerun the stage that produces it"
        else:
            fix = (f"replace it with an intact copy (re-download or re-export the checkpoint); minilm-repro "
                   f"did not produce {path} and does not rebuild it")
        raise RuntimeError(f"cannot load the checkpoint in {path} ({reason}): the files are corrupt or "
                           f"incomplete; {fix}") from None


def made_here(path: str | Path) -> bool:
    """Whether a model directory is an output of this pipeline (its stages write ``minilm_repro.json``
    beside the weights: pretraining, distillation, hub fetches); an external checkpoint has none."""
    return (Path(path) / "minilm_repro.json").is_file()


def usable_positions(model_config) -> int:
    """Tokens per sequence the model's position embeddings cover: ``max_position_embeddings``, less
    the pad id + 1 slots in the RoBERTa family (its positions start after the pad index)."""
    n = model_config.max_position_embeddings
    if model_config.model_type in PAD_POSITIONS:
        n -= model_config.pad_token_id + 1
    return n


def check_sequence_length(model_config, tokens: int, what: str, model: str, fix: str) -> None:
    """A sequence length (``tokens``, including [CLS]/[SEP]) above the model's positions is an error
    before training, naming both numbers; past them the position embeddings would be indexed out
    of range mid-run."""
    positions = usable_positions(model_config)
    if tokens > positions:
        raise ConfigError(f"{what} {tokens} tokens, but {model} has {positions} positions "
                          f"(max_position_embeddings {model_config.max_position_embeddings}): {fix}")


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
