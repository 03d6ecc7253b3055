"""Model and corpus sources: hub downloads (local rules on a host with network) and local model
directories, both copied into the same plain HF model directory before any stage reads them.

Compute jobs never touch the hub: they run with ``HF_HUB_OFFLINE=1`` on what these commands
wrote. Offline, a missing download fails here, early, with the command to run where the
network is.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from minilm_repro.jobs.atomic import write_json


def _offline_hint(what: str, fetch: str) -> str:
    return (f"cannot fetch {what}: the hub is unreachable or HF_HUB_OFFLINE=1 is set. On a machine with "
            f"network run `{fetch}` and copy the Hugging Face cache (HF_HOME) to this machine, or run "
            "this download job there (`snakemake --until <the fetch rule>`) and copy its output")


# what a model directory needs: config, weights (safetensors preferred, else PyTorch's), tokenizer files
MODEL_FILES = ("config.json", "*.safetensors", "*.safetensors.index.json", "pytorch_model*.bin",
               "pytorch_model.bin.index.json", "tokenizer*", "vocab.*", "merges.txt", "special_tokens_map.json",
               "added_tokens.json", "*.model")


def fetch_model(hub_id: str, revision: str, out_dir: str | Path, tokenizer: dict | None = None) -> dict:
    """Download ``hub_id@revision`` into a plain HF model directory, its files as published.

    The checkpoint's files are copied, not loaded and re-saved: every pretrained tensor (BERT's
    pooler, the masked-LM head) reaches the fine-tuning and distillation stages unchanged.
    ``tokenizer`` ({"hub": {id, revision}} or {"path": dir}) replaces the checkpoint's tokenizer files.
    """
    snapshot = _snapshot(hub_id, revision, MODEL_FILES)
    return _model_dir_from(snapshot, out_dir, {"name": hub_id, "source": f"hub {hub_id}@{revision}"}, tokenizer,
                           {"hub_id": hub_id, "revision": revision})


def import_model(path: str | Path, out_dir: str | Path, tokenizer: dict | None = None) -> dict:
    """Copy a local HF model directory into ``out_dir`` (the sha256 of each file in its card)."""
    return _model_dir_from(Path(path), out_dir, {"name": Path(path).name, "source": f"local {path}"}, tokenizer,
                           {"source": str(path)})


def _snapshot(hub_id: str, revision: str, patterns) -> Path:
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(hub_id, revision=revision, allow_patterns=list(patterns)))
    except Exception as exc:  # offline misses, unknown repos and revisions: huggingface_hub raises several types
        raise RuntimeError(_offline_hint(f"{hub_id}@{revision} ({type(exc).__name__})",
                                         f"hf download {hub_id} --revision {revision}")) from exc


def _model_dir_from(source: Path, out_dir, card: dict, tokenizer: dict | None, record: dict) -> dict:
    """``out_dir`` := the model files of ``source`` (+ another tokenizer's files), written atomically;
    the tokenizer must fit the model's vocabulary. Returns the model's description plus ``record``."""
    import shutil

    from minilm_repro.data.corpus import file_sha256
    from minilm_repro.jobs.atomic import partial_dir, replace_dir
    from minilm_repro.jobs.model_io import load_tokenizer, tokenizer_matches, write_card

    files = _model_files(source)
    if not (source / "config.json").is_file() or not any(f.suffix in (".safetensors", ".bin") for f in files):
        raise RuntimeError(f"{card['source']} has no config.json or no weights: not a model checkpoint")
    if tokenizer is not None:
        tok_dir = Path(tokenizer["path"]) if "path" in tokenizer else \
            _snapshot(tokenizer["hub"]["id"], tokenizer["hub"]["revision"], TOKENIZER_FILES)
        files = [f for f in files if not _is_tokenizer_file(f)] + [f for f in _model_files(tok_dir) if _is_tokenizer_file(f)]
        card["tokenizer"] = f"hub {tokenizer['hub']['id']}@{tokenizer['hub']['revision']}" if "hub" in tokenizer \
            else f"local {tokenizer['path']}"
    tmp = partial_dir(out_dir)
    tmp.mkdir(parents=True)
    for f in files:
        shutil.copyfile(f, tmp / f.name)  # a hub cache holds symlinks into its blob store
    card["sha256"] = {f.name: file_sha256(tmp / f.name) for f in files}
    from transformers import AutoConfig

    tokenizer_matches(AutoConfig.from_pretrained(str(tmp)), load_tokenizer(tmp), card["source"])
    license_ = _card_license(source)
    if license_:
        card["license"] = license_
    write_card(tmp, card)
    replace_dir(tmp, out_dir)
    return {**describe_model(str(out_dir)), **record}


def _card_license(source: Path) -> str | None:
    """The license the source's own card states (README.md or MODEL_CARD.md front matter), else None."""
    from huggingface_hub import ModelCard

    for name in ("README.md", "MODEL_CARD.md"):
        if (source / name).is_file():
            try:
                found = ModelCard.load(source / name).data.license
            except (ValueError, OSError):
                continue
            if found:
                return str(found)
    return None


TOKENIZER_FILES = ("tokenizer*", "vocab.*", "merges.txt", "special_tokens_map.json", "added_tokens.json", "*.model")


def _is_tokenizer_file(f: Path) -> bool:
    import fnmatch

    return any(fnmatch.fnmatch(f.name, p) for p in TOKENIZER_FILES)


def _model_files(directory: Path) -> list[Path]:
    """The files of a model directory a stage reads (one copy of the weights: safetensors preferred)."""
    import fnmatch

    files = [f for f in sorted(directory.iterdir()) if f.is_file() and any(fnmatch.fnmatch(f.name, p) for p in MODEL_FILES)]
    if any(f.suffix == ".safetensors" for f in files):
        files = [f for f in files if not f.name.startswith("pytorch_model")]
    return files


def fetch_corpus(cfg: dict, lang: str, out_file: str | Path) -> dict:
    """Stream a hub text dataset into ``out_file``: one paragraph per line, a blank line per document."""
    import datasets

    config_name = cfg["languages"][lang]
    try:
        ds = datasets.load_dataset(cfg["id"], config_name, revision=cfg["revision"],
                                   split=cfg.get("split", "train"), streaming=True)
    except Exception as exc:
        raise RuntimeError(_offline_hint(f"corpus {cfg['id']}/{config_name}",
                                         f"hf download {cfg['id']} --repo-type dataset --revision {cfg['revision']}")) from exc
    column = cfg.get("text_column", "text")
    limit = cfg.get("max_documents")
    out_file = Path(out_file)
    out_file.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_file.with_suffix(".partial")
    docs = lines = 0
    with open(tmp, "w", encoding="utf-8") as fh:
        for row in ds:
            paras = [p.strip() for p in row[column].split("\n") if p.strip()]
            if not paras:
                continue
            fh.write("\n".join(paras) + "\n\n")
            docs, lines = docs + 1, lines + len(paras)
            if limit and docs >= limit:
                break
    if docs == 0:
        raise ValueError(f"{cfg['id']}/{config_name}: no text in column {column!r}")
    os.replace(tmp, out_file)
    return {"documents": docs, "lines": lines}


def describe_model(model_dir: str) -> dict:
    """Parameter count and shape of a local model directory (for external checkpoints)."""
    from transformers import AutoModel

    from minilm_repro.jobs.model_io import load_pretrained
    from minilm_repro.models.build import count_parameters

    model = load_pretrained(model_dir, AutoModel)
    cfg = model.config
    return {"params": count_parameters(model), "layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size,
            "source": str(model_dir)}


def export_tokenizer(model_dir: str, out_dir: str) -> None:
    from minilm_repro.jobs.model_io import load_tokenizer

    load_tokenizer(model_dir).save_pretrained(out_dir)


def _logged(spec, stage: str, result_of) -> dict:
    """The job's record: with a profile, one MLflow run holding the whole result (tables from MLflow
    alone need every model's size); without (an untracked download), just the result and the tags."""
    if spec.run.profile is None:
        return {**result_of(), "tags": spec.run.tags}
    from minilm_repro.jobs.stage import open_run

    with open_run(spec.run, stage, {}) as job:
        return job.log_result(result_of())


def run_fetch_model(spec) -> int:
    """The ``fetch-model`` stage: hub ``settings.id@revision`` into ``paths.out``; its record into
    ``paths.metrics`` when the job has one (a teacher's does, an external checkpoint's is its describe job's)."""
    hub_id, revision = spec.settings["id"], spec.settings["revision"]
    tokenizer = spec.settings.get("tokenizer")
    record = _logged(spec, "fetch", lambda: fetch_model(hub_id, revision, spec.paths["out"], tokenizer))
    if spec.paths.get("metrics"):
        write_json(spec.paths["metrics"], record)
    return 0


def run_import_model(spec) -> int:
    """The ``import-model`` stage: a local model directory ``settings.path`` into ``paths.out``."""
    record = _logged(spec, "import", lambda: import_model(spec.settings["path"], spec.paths["out"],
                                                          spec.settings.get("tokenizer")))
    if spec.paths.get("metrics"):
        write_json(spec.paths["metrics"], record)
    return 0


def run_fetch_corpus(spec) -> int:
    """The ``fetch-corpus`` stage: one language of a hub text dataset as a text file."""
    print(json.dumps(fetch_corpus(spec.settings, spec.paths["lang"], spec.paths["out"])))
    return 0


def run_describe_model(spec) -> int:
    """The ``describe-model`` stage: a local model directory's size and shape as JSON."""
    write_json(spec.paths["out"], _logged(spec, "describe", lambda: describe_model(spec.paths["model"])))
    return 0


def run_export_tokenizer(spec) -> int:
    """The ``export-tokenizer`` stage: a model directory's tokenizer on its own."""
    export_tokenizer(spec.paths["model"], spec.paths["out"])
    return 0
