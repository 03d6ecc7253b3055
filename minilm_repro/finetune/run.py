"""Fine-tune one model on one task for one grid point and seed; evaluate on every eval set.

One call = one Snakemake job. Output: a metrics JSON with, per eval set, the task's official
metrics (percent), the majority-class baseline for classification tasks, and the score used to
pick the best grid point on dev. Works for any HF encoder directory (BERT, RoBERTa, XLM-R, the
BERT-architecture multilingual MiniLM with an XLM-R tokenizer: token_type_ids only when the
tokenizer makes them).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from minilm_repro.config import ConfigError, parse_stage_config
from minilm_repro.data.features import FEATURES, is_qa, is_regression, num_labels
from minilm_repro.data.layout import load_split
from minilm_repro.finetune.features import load_manifest
from minilm_repro.finetune.plan import PRIMARY_METRIC
from minilm_repro.jobs.atomic import write_json
from minilm_repro.jobs.distributed import is_main_process
from minilm_repro.jobs.model_io import load_tokenizer, tokenizer_matches
from minilm_repro.jobs.phases import phase
from minilm_repro.jobs.stage import tracked_job
from minilm_repro.jobs.trainer_setup import mean_reduced_loss, trainer_arguments


@dataclasses.dataclass
class FinetuneConfig:
    task: str
    lr: float
    epochs: float
    batch_size: int = 32  # global batch
    seed: int = 42
    warmup_ratio: float = 0.1
    warmup_steps: int = 0  # overrides warmup_ratio when > 0 (XNLI: 500 in the paper)
    weight_decay: float = 0.01
    max_device_batch: int = 64
    n_best: int = 20
    max_answer_length: int = 30
    bf16: str = "auto"
    save_steps: int = 500
    logging_steps: int = 50
    # MLQA: official normalisation language per evaluation language outside MLQA's seven
    answer_languages: dict = dataclasses.field(default_factory=dict)
    # "last": the model after the last step; "best_dev": evaluate the select_on dev sets at every
    # save and keep the best checkpoint (early stopping on dev: the paper's MLQA/XNLI protocol)
    checkpoint: str = "last"
    # keep the input word embeddings as pretrained: fine-tuning on one language then cannot move its
    # words away from their translations (a zero-shot cross-lingual setting; not the paper's)
    freeze_embeddings: bool = False

    def __post_init__(self):
        if self.task not in FEATURES:
            raise ConfigError(f"finetune.task: unknown task {self.task!r}")
        if self.lr <= 0 or self.epochs <= 0:
            raise ConfigError("finetune: lr and epochs must be positive")
        if self.checkpoint not in ("last", "best_dev"):
            raise ConfigError(f"finetune.checkpoint must be 'last' or 'best_dev', got {self.checkpoint!r}")


# weights fine-tuning may start from random: the new task head always; BERT's pooler only where the
# checkpoint has none (a masked-LM-pretrained or MLM-KD model): both are logged in the record
TASK_HEADS = ("classifier.", "qa_outputs.")
POOLER = ".pooler."


def _model_for(task: str, model_dir: str):
    """(the task model of ``model_dir``, the sorted names of the weights it starts from random).

    Every pretrained tensor of the checkpoint is loaded; a weight the checkpoint lacks is an error
    unless it is the task head or a pooler the checkpoint never had (MLM-pretrained models)."""
    from transformers import (
        AutoModelForQuestionAnswering,
        AutoModelForSequenceClassification,
    )

    from minilm_repro.jobs.model_io import load_pretrained

    kw = {} if is_qa(task) else {"num_labels": num_labels(task)}
    if is_regression(task):
        kw["problem_type"] = "regression"
    auto_cls = AutoModelForQuestionAnswering if is_qa(task) else AutoModelForSequenceClassification
    model, info = load_pretrained(model_dir, auto_cls, output_loading_info=True, **kw)
    random_init = sorted(info.get("missing_keys", ()))
    unexpected = [k for k in random_init if not k.startswith(TASK_HEADS) and POOLER not in f".{k}"]
    if unexpected:
        shown = ", ".join(unexpected[:4]) + (f" and {len(unexpected) - 4} more" if len(unexpected) > 4 else "")
        raise ConfigError(f"model {model_dir}: its checkpoint lacks {shown}, which fine-tuning would start from "
                          "random; give a complete checkpoint (its pretrained encoder weights)")
    return model, random_init


def _classification_eval(trainer, task, feats, train_labels, scores_fn):
    """Scores (percent) and, under ``predictions``, the per-example predictions (ids = row index)."""
    pred = trainer.predict(feats)
    logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
    labels = np.asarray(feats["labels"])
    preds = logits.squeeze(-1) if is_regression(task) else logits.argmax(-1)
    out = {"scores": scores_fn(task, preds, labels),
           "predictions": {"kind": "regression" if is_regression(task) else "classification",
                           "ids": [str(i) for i in range(len(labels))], "pred": preds.tolist(), "label": labels.tolist()}}
    if not is_regression(task):
        majority = np.bincount(np.asarray(train_labels)).argmax()
        out["majority"] = scores_fn(task, np.full_like(labels, majority), labels)
    return out


def answer_language(cfg: FinetuneConfig, context_language: str) -> str:
    """The MLQA normalisation language of answers in ``context_language`` (answers are context spans)."""
    from minilm_repro.metrics.mlqa import LANGUAGES

    lang = cfg.answer_languages.get(context_language, context_language)
    if lang not in LANGUAGES:
        raise ConfigError(f"MLQA scoring: {context_language!r} is not an MLQA language ({', '.join(LANGUAGES)}); "
                          f"map it to one with finetune.tasks.mlqa.answer_languages, e.g. {{{context_language}: en}}")
    return lang


def _qa_eval(trainer, cfg, feats, examples, context_language):
    """Official scores (percent) and, under ``predictions``, each question's official F1 / EM (percent:
    the numbers the aggregate F1 / EM average)."""
    from minilm_repro.finetune.qa_processing import postprocess_qa_predictions
    from minilm_repro.metrics import (
        mlqa,
        mlqa_scores,
        squad_v1,
        squad_v1_scores,
        squad_v2,
        squad_v2_scores,
    )
    from minilm_repro.metrics.qa_data import gold_table

    pred = trainer.predict(feats.remove_columns(["example_id", "offset_mapping"]))
    start, end = pred.predictions[:2]
    v2 = cfg.task == "squad_v2"
    preds, na_probs, spans = postprocess_qa_predictions(
        examples, feats, start, end, n_best_size=cfg.n_best, max_answer_length=cfg.max_answer_length,
        version_2_with_negative=v2, return_spans=True,
    )
    rows = list(examples)
    gold = gold_table(rows)
    best = {}
    if v2:
        scores = squad_v2_scores(rows, preds, na_probs)
        exact, f1 = squad_v2.raw_scores(gold, preds)
        has_ans = {k: bool(v) for k, v in gold.items()}  # the no-answer threshold squad_v2_scores applies (1.0)
        exact, f1 = (squad_v2.apply_no_ans_threshold(d, na_probs, has_ans, 1.0) for d in (exact, f1))
        # the authors' protocol (unilm issue #203): F1 / EM at the best-F1 null threshold, searched over the
        # best spans' no-answer scores (preds above carry "" wherever the null score won at threshold 0)
        at_best = squad_v2.evaluate(gold, spans, na_probs)
        scores.update({k: at_best[k] for k in ("best_f1", "best_f1_thresh", "best_exact", "best_exact_thresh")})
        span_exact, span_f1 = squad_v2.raw_scores(gold, spans)
        best = {"best_f1": squad_v2.apply_no_ans_threshold(span_f1, na_probs, has_ans, at_best["best_f1_thresh"]),
                "best_exact": squad_v2.apply_no_ans_threshold(span_exact, na_probs, has_ans,
                                                              at_best["best_exact_thresh"])}
    else:
        if cfg.task == "mlqa":
            lang = answer_language(cfg, context_language)
            scores = mlqa_scores(rows, preds, lang)
            em_fn, f1_fn = (lambda p, g: mlqa.exact_match_score(p, g, lang)), (lambda p, g: mlqa.f1_score(p, g, lang))
        else:
            scores, em_fn, f1_fn = squad_v1_scores(rows, preds), squad_v1.exact_match_score, squad_v1.f1_score
        exact = {q: max(float(em_fn(preds[q], a)) for a in answers) for q, answers in gold.items()}
        f1 = {q: max(f1_fn(preds[q], a) for a in answers) for q, answers in gold.items()}
    out = {"scores": scores, "predictions": {"kind": "qa", "ids": list(gold), "f1": [100.0 * f1[q] for q in gold],
                                             "exact": [100.0 * exact[q] for q in gold],
                                             **{k: [100.0 * d[q] for q in gold] for k, d in best.items()}}}
    if v2:  # SQuAD 2.0's constant baseline, in the majority-class row: "no answer" to every question
        majority = squad_v2.evaluate(gold, dict.fromkeys(gold, ""))
        # no null threshold changes an empty answer: its best-threshold scores are its scores
        out["majority"] = {**majority, "best_f1": majority["f1"], "best_exact": majority["exact"]}
    return out


def _evaluate(trainer, cfg: FinetuneConfig, refs: list[dict], features_dir: str, tasks_root: str,
              train_labels) -> dict:
    """Scores of the current model on each eval set of ``refs`` (manifest entries), keyed by their dir."""
    import datasets

    from minilm_repro.metrics import classification_scores

    evals = {}
    for ref in refs:
        feats = datasets.load_from_disk(str(Path(features_dir) / "eval" / ref["dir"]))
        if is_qa(cfg.task):
            examples = load_split(tasks_root, ref["task"], ref["config"], ref["split"])
            res = _qa_eval(trainer, cfg, feats, examples, ref["config"].split(".")[0])
        else:
            res = _classification_eval(trainer, cfg.task, feats, train_labels, classification_scores)
        res.update(language=ref.get("language"), split=ref["split"], config=ref["config"])
        evals[ref["dir"]] = res
    return evals


def write_predictions(metrics_path: str, metrics: dict) -> dict:
    """Move each eval's per-example ``predictions`` out of ``metrics`` (they stay out of the metrics
    record: large) into ``<metrics>.predictions.json`` beside the metrics file (main process) and, when
    an MLflow run is active, its artifact ``predictions.json``; return them by eval dir."""
    from minilm_repro.report.predictions import ARTIFACT, predictions_path

    preds = {name: res.pop("predictions") for name, res in metrics["evals"].items() if "predictions" in res}
    if preds and is_main_process():
        with phase("write"):
            write_json(predictions_path(metrics_path), preds)
        import mlflow

        if mlflow.active_run() is not None:
            with phase("tracking"):
                mlflow.log_dict(preds, ARTIFACT)
    return preds


def _select_score(cfg: FinetuneConfig, evals: dict, select_on: list[str]) -> float:
    """Mean primary metric over the model-selection dev sets (XNLI: all languages' dev; MLQA: English dev)."""
    return float(np.mean([evals[d]["scores"][PRIMARY_METRIC[cfg.task]] for d in select_on]))


def _trainer_class(cfg: FinetuneConfig, manifest: dict, features_dir: str, tasks_root: str, train_labels):
    """The HF Trainer, or (checkpoint = best_dev) one whose ``evaluate`` scores the dev sets that select
    models, with the task's official metric and QA post-processing, so that the Trainer's own
    ``load_best_model_at_end`` keeps the best checkpoint."""
    from transformers import Trainer

    if cfg.checkpoint == "last":
        return Trainer
    select_refs = [r for r in manifest["evals"] if r["dir"] in manifest["select_on"]]

    class BestDevTrainer(Trainer):
        def evaluate(self, eval_dataset=None, ignore_keys=None, metric_key_prefix="eval"):
            evals = _evaluate(self, cfg, select_refs, features_dir, tasks_root, train_labels)
            metrics = {f"{metric_key_prefix}_select_score": _select_score(cfg, evals, manifest["select_on"])}
            self.log(metrics)
            self.control = self.callback_handler.on_evaluate(self.args, self.state, self.control, metrics)
            return metrics

    return BestDevTrainer


def finetune(cfg: FinetuneConfig, model_dir: str, features_dir: str, tasks_root: str, workdir: str, job=None) -> dict:
    """Fine-tune the model in ``model_dir`` on the features in ``features_dir``, evaluate it on every
    eval set, and return the job's result. Checkpoints in ``workdir`` resume exactly (see
    :mod:`minilm_repro.jobs.workdir` for which checkpoints are resumed)."""
    from minilm_repro.jobs.training_run import (
        callbacks,
        check_outputs,
        checkpoint_step,
        train_resuming,
    )

    check_outputs(workdir)  # before any work, not after it
    import datasets
    from transformers import DataCollatorWithPadding, set_seed

    from minilm_repro.jobs.model_io import check_sequence_length

    manifest = load_manifest(features_dir)
    if manifest["task"] != cfg.task:
        raise ConfigError(f"features in {features_dir} are for task {manifest['task']!r}, not {cfg.task!r}")
    if cfg.task == "mlqa":  # fail before training, not after
        for ref in manifest["evals"]:
            answer_language(cfg, ref["config"].split(".")[0])
    with phase("load"):
        tokenizer = load_tokenizer(model_dir)
        set_seed(cfg.seed)  # the new task head's initialisation is part of the seed's run
        model, random_init = _model_for(cfg.task, model_dir)
    model = mean_reduced_loss(model)
    tokenizer_matches(model.config, tokenizer, f"model {model_dir}")
    check_sequence_length(model.config, manifest["max_length"], f"features {features_dir} are tokenised to max_length",
                          f"model {model_dir}", "set the task's max_length <= that")
    if cfg.freeze_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    with phase("load"):
        train = datasets.load_from_disk(str(Path(features_dir) / "train"))
    train_labels = None if is_qa(cfg.task) else train["labels"]
    selection = {"save_total_limit": 1}
    if cfg.checkpoint == "best_dev":
        # the Trainer evaluates at every save and keeps the best checkpoint besides the newest
        selection = dict(eval_strategy="steps", eval_steps=cfg.save_steps, load_best_model_at_end=True,
                         metric_for_best_model="select_score", greater_is_better=True, save_total_limit=2)
    args = trainer_arguments(
        workdir, cfg.batch_size, cfg.max_device_batch, cfg.bf16, num_train_epochs=cfg.epochs,
        per_device_eval_batch_size=128, learning_rate=cfg.lr,
        # transformers 5: a float warmup_steps < 1 is a fraction of the total steps (warmup_ratio is gone)
        warmup_steps=cfg.warmup_steps if cfg.warmup_steps > 0 else float(cfg.warmup_ratio),
        weight_decay=cfg.weight_decay, save_steps=cfg.save_steps, logging_steps=cfg.logging_steps,
        seed=cfg.seed, data_seed=cfg.seed, **selection,
    )
    trainer_cls = _trainer_class(cfg, manifest, features_dir, tasks_root, train_labels)
    # (the Trainer insists on an eval_dataset when it evaluates; BestDevTrainer.evaluate scores every
    # selection set itself, with post-processing, so the first one stands for them)
    eval_dataset = None if cfg.checkpoint == "last" else \
        datasets.load_from_disk(str(Path(features_dir) / "eval" / manifest["select_on"][0]))
    trainer = trainer_cls(model=model, args=args, train_dataset=train, eval_dataset=eval_dataset,
                          data_collator=DataCollatorWithPadding(tokenizer),
                          callbacks=callbacks(job))
    run = train_resuming(trainer, workdir, cfg, model_dir, features_dir)
    with phase("evaluate"):
        evals = _evaluate(trainer, cfg, manifest["evals"], features_dir, tasks_root, train_labels)
    out = {
        "task": cfg.task, "primary_metric": PRIMARY_METRIC[cfg.task],
        "select_score": _select_score(cfg, evals, manifest["select_on"]),
        "evals": evals, "train_loss": run.result.training_loss, "train_seconds": run.seconds,
        "train_features": len(train), "steps": run.steps, "random_init": random_init, "precision": run.precision,
        "train_samples_per_second": run.result.metrics.get("train_samples_per_second"),
    }
    if cfg.checkpoint == "best_dev":
        best = trainer.state.best_model_checkpoint
        out["best_checkpoint_step"] = checkpoint_step(best) if best else run.steps
    return out


def _final_metrics(metrics: dict) -> dict:
    """The flat numbers logged beside the whole result: selection score, time, each eval set's scores."""
    flat = {"select_score": metrics["select_score"], "train_seconds": metrics["train_seconds"]}
    for name, res in metrics["evals"].items():
        flat.update({f"{name}/{k}": v for k, v in res["scores"].items() if isinstance(v, (int, float))})
    return flat


def run_job(spec) -> int:
    """The ``finetune`` stage of one job (see :mod:`minilm_repro.jobs.stage`)."""
    cfg = parse_stage_config(FinetuneConfig, spec.settings, "finetune config")
    p = spec.paths

    def work(job) -> dict:
        metrics = finetune(cfg, p["model"], p["features"], p["tasks_root"], p["workdir"], job)
        write_predictions(p["metrics"], metrics)  # per-example predictions: a file and an artifact, not the record
        return metrics

    return tracked_job(spec, cfg, work, _final_metrics)
