"""Hub downloads (local rules on a host with network): teachers and pretraining corpora.

Compute jobs never touch the hub: they run with ``HF_HUB_OFFLINE=1`` on what these commands
wrote. Offline, a missing download fails here, early, with the command to run where the
network is.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from minilm_repro.atomic import write_json


def _offline_hint(what: str, cmd: str) -> str:
    return (f"cannot fetch {what}: the hub is unreachable or HF_HUB_OFFLINE=1 is set. On a machine with "
            f"network run:\n  {cmd}\nand copy the result (or the HF cache, HF_HOME) to this machine.")


def fetch_model(hub_id: str, revision: str, out_dir: str | Path) -> dict:
    """Download ``hub_id@revision`` (model + tokenizer) into a plain HF model directory."""
    from transformers import AutoModelForMaskedLM, AutoTokenizer

    from minilm_repro.models.build import count_parameters
    from minilm_repro.model_io import save_model_dir

    try:
        tokenizer = AutoTokenizer.from_pretrained(hub_id, revision=revision)
        model = AutoModelForMaskedLM.from_pretrained(hub_id, revision=revision)
    except OSError as exc:
        raise RuntimeError(_offline_hint(f"{hub_id}@{revision}",
                                         f"minilm-repro fetch-model --hub-id {hub_id} --revision {revision} --out {out_dir} --metrics /dev/null")) from exc
    save_model_dir(model, tokenizer, out_dir, {"name": hub_id, "source": f"hub {hub_id}@{revision}"})
    cfg = model.config
    return {"params": count_parameters(model.base_model), "layers": cfg.num_hidden_layers,
            "hidden": cfg.hidden_size, "hub_id": hub_id, "revision": revision}


def fetch_corpus(cfg: dict, lang: str, out_file: str | Path) -> dict:
    """Stream a hub text dataset into ``out_file``: one paragraph per line, a blank line per document."""
    import datasets

    config_name = cfg["languages"][lang]
    try:
        ds = datasets.load_dataset(cfg["id"], config_name, revision=cfg["revision"],
                                   split=cfg.get("split", "train"), streaming=True)
    except Exception as exc:
        raise RuntimeError(_offline_hint(f"corpus {cfg['id']}/{config_name}",
                                         f"minilm-repro fetch-corpus --lang {lang} --out {out_file} --config '{json.dumps(cfg)}'")) from exc
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

    from minilm_repro.models.build import count_parameters
    from minilm_repro.model_io import load_pretrained

    model = load_pretrained(model_dir, AutoModel)
    cfg = model.config
    return {"params": count_parameters(model), "layers": cfg.num_hidden_layers, "hidden": cfg.hidden_size,
            "source": str(model_dir)}


def export_tokenizer(model_dir: str, out_dir: str) -> None:
    from minilm_repro.model_io import load_tokenizer

    load_tokenizer(model_dir).save_pretrained(out_dir)


def _logged(stage: str, args, run_name: str, result_of) -> dict:
    """The job's record: with --profile, one MLflow run holding the whole result (tables from MLflow
    alone need every model's size); without (an ad-hoc call), just the result and the --tags."""
    if args.profile is None:
        return {**result_of(), "tags": json.loads(args.tags)}
    from minilm_repro.stage import open_run

    with open_run(args, stage, {}, run_name) as job:
        return job.log_result(result_of())


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("fetch-model", help="download a hub checkpoint into a local model directory")
    p.add_argument("--hub-id", required=True)
    p.add_argument("--revision", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--metrics", required=True)
    p.add_argument("--tags", default="{}")
    p.add_argument("--profile", default=None, help="log an MLflow run in this profile's experiment")
    p.set_defaults(func=lambda a: write_json(a.metrics, _logged(
        "fetch", a, a.hub_id, lambda: fetch_model(a.hub_id, a.revision, a.out))))

    p = sub.add_parser("fetch-corpus", help="download one language of a hub text dataset as a text file")
    p.add_argument("--lang", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--config", required=True, help="JSON: id, revision, languages{lang: config}, ...")
    p.set_defaults(func=lambda a: print(json.dumps(fetch_corpus(json.loads(a.config), a.lang, a.out))))

    p = sub.add_parser("describe-model", help="write a local model directory's size and shape as JSON")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--tags", default="{}")
    p.add_argument("--profile", default=None, help="log an MLflow run in this profile's experiment")
    p.set_defaults(func=lambda a: write_json(a.out, _logged("describe", a, a.model, lambda: describe_model(a.model))))

    p = sub.add_parser("export-tokenizer", help="save a model directory's tokenizer on its own")
    p.add_argument("--model", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=lambda a: export_tokenizer(a.model, a.out))
