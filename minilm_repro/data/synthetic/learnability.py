"""Is every task of the embedded benchmark learnable, and not a bag of words?

For each task, on its dev split(s), prints:

* ``majority``: the majority-class baseline (classification; STS-B: a constant, Pearson 0 by
  definition, so the column shows the mean-prediction MSE-free baseline as "-"; QA: always
  "no answer" for SQuAD 2.0, and 0 for the all-answerable tasks);
* ``bow``: logistic regression (ridge for STS-B) on unigram+bigram-free counts of the
  concatenated inputs (scikit-learn). QA: the "type guess", the first word of the context that is
  a value of the asked attribute (what a bag of words can know: the question's type);
* ``tiny``: a 2-layer, 128-wide model with NO pretraining (BERT with the WordPiece tokenizer;
  XLM-R with the sentencepiece tokenizer for XNLI/MLQA), fine-tuned with this project's own
  ``tokenize-task`` + ``finetune`` code (HF Trainer) with one setting for every task (default lr 1e-3, 2 epochs, batch 32; the smoke profile tunes them per task);
* ``teacher``: the smoke teacher, 4x128 pretrained here with masked LM on the benchmark's own corpus
  (mono or multi track, the smoke profile's tokenizer, blocks, steps and optimiser), fine-tuned the
  same way: pretraining should clearly beat ``tiny``.

The primary metric of each task (percent): accuracy, MCC for CoLA, F1 for MRPC, Pearson for STS-B,
F1 for the QA tasks (XNLI / MLQA: language 0, zero-shot languages listed separately).

    minilm-repro learnability --out /tmp/learnability [--tasks sst2 cola ...] [--teacher-steps 0]
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

import numpy as np


def bow_score(task: str, tasks_root: Path, plan) -> float:
    from scipy.stats import pearsonr
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge

    from minilm_repro.data.features import TEXT_COLUMNS
    from minilm_repro.data.layout import load_split
    from minilm_repro.metrics import classification_scores

    def texts(ds):
        cols = TEXT_COLUMNS[task]
        return [" ||| ".join(r[c] for c in cols) for r in ds]

    train = load_split(tasks_root, plan.train.task, plan.train.config, plan.train.split)
    dev = load_split(tasks_root, plan.select_on[0].task, plan.select_on[0].config, plan.select_on[0].split)
    vec = CountVectorizer(token_pattern=r"[^ .?]+", lowercase=True)
    x_train, x_dev = vec.fit_transform(texts(train)), vec.transform(texts(dev))
    if task == "stsb":
        pred = Ridge(alpha=1.0).fit(x_train, train["label"]).predict(x_dev)
        return 100 * pearsonr(pred, dev["label"])[0]
    pred = LogisticRegression(max_iter=2000, C=1.0).fit(x_train, train["label"]).predict(x_dev)
    from minilm_repro.finetune.plan import PRIMARY_METRIC
    return classification_scores(task, pred, np.array(dev["label"]))[PRIMARY_METRIC[task]]


def type_guess_score(task: str, tasks_root: Path, plan, values_by_attr: dict) -> float:
    """QA without reading: answer with the first context word of the asked attribute's type."""
    from minilm_repro.data.layout import load_split
    from minilm_repro.metrics import squad_v1_scores, squad_v2_scores

    ref = plan.select_on[0]
    dev = load_split(tasks_root, ref.task, ref.config, ref.split)
    preds = {}
    for r in dev:
        q = r["question"].lower()
        attr = next((a for a, cue in (("city", "where"), ("city", "city"), ("job", "job"), ("colour", "colour"),
                                      ("animal", "pet")) if cue in q), "city")
        words = re.findall(r"[^ .?]+", r["context"])
        hit = next((w for w in words if w.lower() in values_by_attr[attr] or w in values_by_attr[attr]), "")
        preds[r["id"]] = hit
    rows = list(dev)
    if task == "squad_v2":
        return squad_v2_scores(rows, preds, {k: 0.0 for k in preds})["f1"]
    return squad_v1_scores(rows, preds)["f1"]


def majority_score(task: str, tasks_root: Path, plan) -> float:
    from minilm_repro.data.layout import load_split
    from minilm_repro.finetune.plan import PRIMARY_METRIC
    from minilm_repro.metrics import classification_scores, squad_v2_scores

    ref = plan.select_on[0]
    dev = load_split(tasks_root, ref.task, ref.config, ref.split)
    if task == "squad_v2":
        rows = list(dev)
        return squad_v2_scores(rows, {r["id"]: "" for r in rows}, {r["id"]: 1.0 for r in rows})["f1"]
    if task in ("squad", "mlqa"):
        return 0.0
    if task == "stsb":
        return float("nan")  # a constant has no correlation
    train = load_split(tasks_root, plan.train.task, plan.train.config, plan.train.split)
    label = np.bincount(np.array(train["label"])).argmax()
    gold = np.array(dev["label"])
    return classification_scores(task, np.full_like(gold, label), gold)[PRIMARY_METRIC[task]]


TRACK_OF = {"xnli": "multi", "mlqa": "multi"}  # every other task: the monolingual track
# the smoke profile's tokenizers and teachers (workflow/config/smoke.yaml)
TOKENIZERS = {"mono": {"kind": "wordpiece", "vocab_size": 1500, "max_position": 128},
              "multi": {"kind": "sentencepiece", "vocab_size": 2000, "max_position": 128}}
TEACHER_ARCH = {"mono": "bert", "multi": "xlmr"}
ALPHA = {"mono": None, "multi": 0.3}


def track_tokenizer(out: Path, bench: Path, track: str):
    from minilm_repro.data.tokenizer import TokenizerConfig, train_tokenizer
    from minilm_repro.jobs.model_io import load_tokenizer

    tok_dir = out / track / "tokenizer"
    if not (tok_dir / "tokenizer_config.json").is_file():
        files = sorted(str(f) for f in (bench / "corpus" / track).glob("*.txt"))
        train_tokenizer(files, TokenizerConfig(**TOKENIZERS[track]), tok_dir)
    return tok_dir, load_tokenizer(tok_dir)


def tiny_model(out: Path, bench: Path, track: str) -> Path:
    """A 2-layer, 128-wide model of the track's architecture with random weights."""
    from transformers import AutoModelForMaskedLM

    from minilm_repro.jobs.model_io import save_model_dir
    from minilm_repro.models.build import ArchConfig, teacher_config

    model_dir = out / track / "tiny-scratch"
    if model_dir.is_dir():
        return model_dir
    _, tok = track_tokenizer(out, bench, track)
    arch = ArchConfig(TEACHER_ARCH[track], layers=2, hidden=128, heads=4, max_position=128)
    model = AutoModelForMaskedLM.from_config(teacher_config(arch, tok))
    save_model_dir(model, tok, model_dir, {"name": "tiny-scratch", "pretraining": "none"})
    return model_dir


def teacher_model(out: Path, bench: Path, track: str, steps: int) -> Path:
    """The smoke teacher: 4x128, masked LM on the track's generated corpus (blocks of 64 tokens,
    batch 32, lr 1e-3, 10% warm-up), ``steps`` steps, with the package's own corpus and pretrain code."""
    from minilm_repro.data.corpus import CorpusConfig, prepare_corpus
    from minilm_repro.pretrain.train import PretrainConfig, pretrain

    model_dir = out / track / f"teacher-{steps}"
    if model_dir.is_dir():
        return model_dir
    tok_dir, tok = track_tokenizer(out, bench, track)
    corpus = out / track / "corpus"
    if not (corpus / "stats.json").is_file():
        files = sorted((bench / "corpus" / track).glob("*.txt"))
        prepare_corpus(files, tok, CorpusConfig(max_seq_len=64, alpha=ALPHA[track]), corpus)
    optim = {"steps": steps, "batch_size": 32, "lr": 1e-3, "warmup_steps": steps // 10, "save_steps": 10 * steps,
             "logging_steps": max(steps // 6, 1)}
    arch = {"arch": TEACHER_ARCH[track], "layers": 4, "hidden": 128, "heads": 4, "max_position": 128}
    start = time.time()
    res = pretrain(PretrainConfig(optim=optim, arch=arch), str(tok_dir), str(corpus), str(model_dir),
                   str(out / track / f"pretrain-work-{steps}"), name="teacher")
    print(json.dumps({"pretrain": track, "steps": steps, "eval_mlm_loss": res.get("eval_mlm_loss"),
                      "seconds": round(time.time() - start, 1)}), flush=True)
    return model_dir


def finetune_score(task: str, model_dir: Path, name: str, bench: Path, out: Path, epochs: float, lr: float) -> dict:
    from minilm_repro.finetune.features import FeaturesConfig, tokenize_task
    from minilm_repro.finetune.run import FinetuneConfig, finetune
    from minilm_repro.jobs.model_io import load_tokenizer

    langs = json.loads((bench / "benchmark.json").read_text())["languages"]
    qa = task in ("squad_v2", "squad", "mlqa")
    track = TRACK_OF.get(task, "mono")
    feats = out / track / "features" / task
    if not (feats / "manifest.json").is_file():
        tokenize_task(FeaturesConfig(task=task, languages=langs, train_language="l0", max_length=128 if qa else 64,
                                     doc_stride=64 if qa else 32), load_tokenizer(model_dir), bench / "tasks", feats)
    # generated languages are scored with English answer normalisation (MLQA needs one declared)
    answer_languages = {lang: "en" for lang in langs} if task == "mlqa" else {}
    # XNLI / MLQA: best dev checkpoint, as the smoke profile (and the paper)
    checkpoint = "best_dev" if task in ("xnli", "mlqa") else "last"
    res = finetune(FinetuneConfig(task=task, lr=lr, epochs=epochs, batch_size=32, seed=1, save_steps=500,
                                  answer_languages=answer_languages,
                                  checkpoint=checkpoint),
                   str(model_dir), str(feats), str(bench / "tasks"), str(out / "work" / name / task))
    return res


def main(argv: list[str] | None = None) -> int:
    from minilm_repro.data.synthetic import SyntheticConfig, generate_benchmark
    from minilm_repro.data.synthetic.lexicon import ATTRIBUTE_VALUES
    from minilm_repro.data.synthetic.scenes import World
    from minilm_repro.finetune.plan import PRIMARY_METRIC, task_plan

    p = argparse.ArgumentParser(prog="minilm-repro learnability", description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--benchmark-config", default="{}",
                   help="more SyntheticConfig fields as JSON, e.g. '{\"sizes\": {\"mnli\": {\"train\": 9000}}}'")
    p.add_argument("--tasks", nargs="*", default=["cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte",
                                                    "squad_v2", "xnli", "mlqa"])
    p.add_argument("--epochs", type=float, default=2, help="fine-tuning epochs, one for every task (smoke.yaml sets them per task: 2-4)")
    p.add_argument("--lr", type=float, default=1e-3, help="fine-tuning learning rate, one for every task (smoke.yaml: 1e-3, 3e-4 for the NLI tasks)")
    p.add_argument("--teacher-steps", type=int, default=600,
                   help="MLM steps of the pretrained 4x128 teacher (smoke.yaml: 1000); 0: no teacher column")
    p.add_argument("--no-model", action="store_true", help="baselines only (seconds)")
    p.add_argument("--models", nargs="+", choices=["tiny", "teacher"], default=["tiny", "teacher"],
                   help="which models to fine-tune (teacher only with --teacher-steps > 0)")
    args = p.parse_args(argv)

    out = Path(args.out)
    bench = out / "benchmark"
    if not (bench / "benchmark.json").is_file():
        generate_benchmark(bench, SyntheticConfig.from_dict({"seed": args.seed, **json.loads(args.benchmark_config)}))
    langs = json.loads((bench / "benchmark.json").read_text())["languages"]
    world = World.build(args.seed)
    values = {"city": set(world.cities), **{a: set(v) for a, v in ATTRIBUTE_VALUES.items()}}
    rows = []
    for task in args.tasks:
        plan = task_plan(task, langs, "l0")
        row = {"task": task, "metric": PRIMARY_METRIC[task], "majority": majority_score(task, bench / "tasks", plan)}
        qa = task in ("squad_v2", "squad", "mlqa")
        row["bow"] = type_guess_score(task, bench / "tasks", plan, values) if qa else bow_score(task, bench / "tasks", plan)
        models = {}
        if not args.no_model:
            track = TRACK_OF.get(task, "mono")
            if "tiny" in args.models:
                models["tiny"] = tiny_model(out, bench, track)
            if args.teacher_steps and "teacher" in args.models:
                models["teacher"] = teacher_model(out, bench, track, args.teacher_steps)
        for name, model_dir in models.items():
            start = time.time()
            res = finetune_score(task, model_dir, f"{name}-{model_dir.parent.name}", bench, out, args.epochs, args.lr)
            row[name] = res["select_score"]
            first_dev = next(e for e in res["evals"].values() if e["split"].startswith("validation"))
            row[f"{name}_scores"] = {k: round(v, 1) for k, v in first_dev["scores"].items() if isinstance(v, float)}
            row[f"{name}_seconds"] = round(time.time() - start, 1)
            if task in ("xnli", "mlqa"):
                others = [e["scores"][PRIMARY_METRIC[task]] for d, e in res["evals"].items()
                          if e["split"] == "validation" and e.get("language") not in (None, "l0")]
                row[f"{name}_zero_shot_mean"] = float(np.mean(others)) if others else float("nan")
                row[f"{name}_by_language"] = {e["language"]: round(e["scores"][PRIMARY_METRIC[task]], 1)
                                              for e in res["evals"].values() if e["split"] == "validation"}
        rows.append(row)
        print(json.dumps(row), flush=True)
    import pandas as pd
    print(pd.DataFrame(rows).set_index("task").round(1).to_markdown())
    return 0
