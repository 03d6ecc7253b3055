"""Model cards in the Hub's format, built with ``huggingface_hub``'s card classes.

* :func:`card_data` / :func:`card_text`: the ``README.md`` of every model directory the suite
  writes (:func:`minilm_repro.jobs.model_io.write_card`; YAML front matter: ``library_name``,
  ``pipeline_tag``, ``tags``, ``base_model`` for a student whose teacher was fetched from the hub,
  ``datasets`` where known, ``license`` where the source's own card states one), and a
  ``model-index`` with the evaluation results it has (none when it is written: fine-tuning comes later).
* :func:`eval_results` / :func:`model_index_yaml`: the ``model-index`` block of a scored
  checkpoint (the fine-tuning results ``minilm-repro compare`` or the report measured), ready
  to paste into that checkpoint's card; ``huggingface_hub`` parses it back.
"""

from __future__ import annotations

# task -> (Hub task type, dataset type, dataset name, dataset config)
TASKS = {
    "cola": ("text-classification", "nyu-mll/glue", "GLUE CoLA", "cola"),
    "sst2": ("text-classification", "nyu-mll/glue", "GLUE SST-2", "sst2"),
    "mrpc": ("text-classification", "nyu-mll/glue", "GLUE MRPC", "mrpc"),
    "stsb": ("text-classification", "nyu-mll/glue", "GLUE STS-B", "stsb"),
    "qqp": ("text-classification", "nyu-mll/glue", "GLUE QQP", "qqp"),
    "mnli": ("text-classification", "nyu-mll/glue", "GLUE MNLI", "mnli"),
    "qnli": ("text-classification", "nyu-mll/glue", "GLUE QNLI", "qnli"),
    "rte": ("text-classification", "nyu-mll/glue", "GLUE RTE", "rte"),
    "squad_v2": ("question-answering", "rajpurkar/squad_v2", "SQuAD 2.0", None),
    "xnli": ("text-classification", "facebook/xnli", "XNLI", None),
    "mlqa": ("question-answering", "facebook/mlqa", "MLQA", None),
}


def card_data(card: dict, eval_results=None):
    """``ModelCardData`` of a model directory's card (``minilm_repro.json``'s fields)."""
    from huggingface_hub import ModelCardData

    tags = ["minilm-repro"] + (["distillation", "minilm"] if card.get("method") else []) + \
        (["masked-lm"] if str(card.get("stage", "")).startswith("pretrain") else [])
    return ModelCardData(library_name="transformers", pipeline_tag="feature-extraction", tags=tags,
                         base_model=card.get("base_model"), datasets=card.get("datasets") or None,
                         license=card.get("license"), model_name=card.get("name"), eval_results=eval_results or None)


def card_text(card: dict, eval_results=None) -> str:
    """The whole README.md: front matter, then what the model is in a few lines."""
    from huggingface_hub import ModelCard

    lines = [f"# {card.get('name', 'model')}", ""]
    if card.get("method"):
        lines.append(f"Distilled by minilm-repro from `{card.get('teacher')}` ({card.get('teacher_dir')}): method "
                     f"{card['method']}, {card.get('layers')} layers x {card.get('hidden')} hidden, "
                     f"{card.get('steps')} steps x {card.get('global_batch')} sequences, peak lr {card.get('lr')}.")
    elif card.get("source"):
        lines.append(f"Imported by minilm-repro from {card['source']}.")
    else:
        lines.append("Pretrained by minilm-repro with masked language modelling from random initialisation.")
    lines += ["", "Every setting: `minilm_repro.json` in this directory."]
    template = "---\n{{ card_data }}\n---\n" + "\n".join(lines) + "\n"
    return ModelCard.from_template(card_data(card, eval_results), template_str=template).content


def eval_results(rows: list[dict]):
    """``EvalResult``s of scored rows: {task, split, config (language), metric, value (percent)}."""
    from huggingface_hub import EvalResult

    out = []
    for r in rows:
        task_type, dataset_type, dataset_name, config = TASKS[r["task"]]
        language = r.get("language")
        out.append(EvalResult(task_type=task_type, dataset_type=dataset_type,
                              dataset_name=dataset_name + (f" ({language})" if language else ""),
                              dataset_config=config or language, dataset_split=r["split"],
                              metric_type=r["metric"], metric_value=round(float(r["value"]), 2)))
    return out


def model_index_yaml(name: str, rows: list[dict]) -> str:
    """The ``model-index`` YAML of checkpoint ``name`` (only that block: paste it into its card)."""
    import yaml
    from huggingface_hub import ModelCardData

    data = ModelCardData(model_name=name, eval_results=eval_results(rows)).to_dict()
    return yaml.safe_dump({"model-index": data["model-index"]}, sort_keys=False)
