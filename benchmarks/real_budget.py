"""At which budget does MiniLM distillation beat a same-shape scratch MLM student on real data?

One run, at one budget, with the package's own stages (issue 14.4):

1. the real tasks are imported into ``<out>/tasks`` (``minilm_repro.data.importing``: SST-2 as
   distributed; QNLI, RTE, MRPC, STS-B and the SQuAD 2.0 dev slices split by document,
   ``--split-dev`` of the documents to validation);
2. the English corpus of their train sides (``minilm_repro.data.realcorpus``: no validation text),
   ``--corpus-words`` words, packed into blocks of ``--seq-len`` tokens with the teacher's tokenizer;
3. each ``--student`` is distilled (``distill()``, MiniLM relations, random init) from the teacher or
   from another student (a teacher assistant), each ``--scratch`` model is MLM-pretrained
   (``pretrain()``) with the same steps, global batch, sequence length and corpus blocks; every
   one of them at each learning rate of ``--lr-grid`` (the same grid for both kinds), warm-up
   ``--warmup`` of the steps, linear decay;
4. every model and the teacher is fine-tuned (``tokenize_task()`` + ``finetune()``) on each
   ``--tasks`` task (train capped at ``--train-cap`` rows, full dev) for each ``--seeds`` seed.
   A student's or scratch model's learning rate is chosen on the grid by the mean dev score over
   the tasks at the first seed (the same rule for both kinds); the other seeds run for the chosen
   rate only. A model trained on a chosen assistant uses that assistant.

Scores are the tasks' primary dev metrics in percent (accuracy; MRPC F1; STS-B Pearson;
SQuAD 2.0 F1, with HasAns F1 and the all-no-answer F1 printed). Every score is printed when it
is known; a JSON record (hardware, versions, settings, wall time per stage in seconds, every
score, mean and std over seeds, the student-minus-scratch margins) is written at the end and
after every stage. Every stage's output is cached under ``--out`` and reused by a rerun.

    nice -n 19 python benchmarks/real_budget.py --out ../realdata-runs/b400 --steps 400 --seeds 1 \\
        --tasks sst2 --student minilm=3x384 --scratch scratch=3x384 --lr-grid 1e-4

Model specs: ``name=LxH`` (from the teacher), ``name=LxH@other`` (from the student ``other``, a
teacher assistant), ``name=LxH+attention`` (only the attention relation: the ``relations:
[attention]`` ablation); ``~lr`` at the end fixes the rate instead of the grid.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# the shared folder beside the checkout (/work/main -> /work/shared; a worktree /work/wt/x -> /work/shared)
SHARED = next((p / "shared" for p in REPO.parents if (p / "shared" / "realdata").is_dir()), REPO.parent / "shared")
DEFAULT_TEACHER = SHARED / "models" / "all-MiniLM-L6-v2"
DEFAULT_REALDATA = SHARED / "realdata"
REAL_TASKS = ("sst2", "qnli", "rte", "mrpc", "stsb", "squad_v2")
# (source under realdata, split the dev set by document?)
IMPORTS = {"sst2": ("glue/SST-2", False), "qnli": ("glue/QNLI", True), "rte": ("glue/RTE", True),
           "mrpc": ("glue/MRPC", True), "stsb": ("glue/STS-B", True), "squad_v2": ("squad2", True)}
# fine-tuning per task: lr, epochs (small train sets get more epochs, as the paper's RTE/MRPC)
FT_DEFAULTS = {"sst2": (1e-4, 3), "qnli": (1e-4, 3), "rte": (1e-4, 10), "mrpc": (1e-4, 10), "stsb": (1e-4, 5),
               "squad_v2": (3e-4, 4)}
_SPEC = re.compile(r"^(?P<name>[A-Za-z][\w-]*)=(?P<layers>\d+)x(?P<hidden>\d+)(?:@(?P<teacher>[A-Za-z][\w-]*))?"
                   r"(?:\+(?P<relations>attention|value))?(?:~(?P<lr>[0-9.eE+-]+))?$")


def parse_spec(text: str, kind: str) -> dict:
    m = _SPEC.match(text)
    if m is None:
        raise SystemExit(f"error: --{kind} {text!r}: expected name=LxH[@teacher][+attention][~lr], e.g. minilm=3x384")
    spec = m.groupdict()
    if kind == "scratch" and (spec["teacher"] or spec["relations"]):
        raise SystemExit(f"error: --scratch {text!r}: a scratch model has no teacher or relations")
    return {"name": spec["name"], "layers": int(spec["layers"]), "hidden": int(spec["hidden"]),
            "teacher": spec["teacher"] or "teacher", "relations": spec["relations"],
            "lr": float(spec["lr"]) if spec["lr"] else None, "kind": kind}


def _short_hash(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _fmt_lr(lr: float) -> str:
    return f"{lr:.0e}".replace("e-0", "e-")


class Recorder:
    """The JSON record, rewritten after every stage."""

    def __init__(self, path: Path, settings: dict):
        import torch
        import transformers

        self.path = path
        cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                    if l.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").is_file() else platform.processor()
        self.data = {"settings": settings, "command": sys.argv,
                     "hardware": {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                                  "cuda": torch.cuda.is_available(), "platform": platform.platform()},
                     "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                                  "python": platform.python_version()},
                     "stages": [], "models": {}, "scores": {}, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        self.t0 = time.time()

    def stage(self, name: str, seconds: float, cached: bool, **info) -> None:
        entry = {"stage": name, "seconds": round(seconds, 1), "cached": cached, **info}
        if not cached:
            entry["cpu_seconds"] = round(CPU["seconds"], 1)
            entry["load_avg_1min"] = os.getloadavg()[0]
        self.data["stages"].append(entry)
        print(json.dumps(entry, default=str), flush=True)
        self.save()

    def save(self) -> None:
        self.data["wall_seconds"] = round(time.time() - self.t0, 1)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.data, indent=2, sort_keys=True, default=str) + "\n")
        tmp.replace(self.path)


CPU = {"seconds": 0.0}  # process CPU seconds (all threads) of the last _timed call


def _timed(fn, *a, **kw):
    """(fn's result, wall seconds); the process CPU seconds it took go to CPU["seconds"]."""
    start, cpu = time.time(), time.process_time()
    out = fn(*a, **kw)
    CPU["seconds"] = time.process_time() - cpu
    return out, time.time() - start


# --------------------------------------------------------------------------- data


def prepare_tasks(out: Path, realdata: Path, tasks: list[str], split_dev: float, rec: Recorder) -> Path:
    from minilm_repro.data.importing import import_task

    root = out / "tasks"
    for task in tasks:
        if (root / task / "default" / "SOURCE.json").is_file():
            continue
        src, split = IMPORTS[task]
        res, sec = _timed(import_task, task, realdata / src, root, split_dev=split_dev if split else None)
        rec.stage(f"import {task}", sec, False, splits=res.splits)
    return root


def finetune_root(out: Path, tasks_root: Path, tasks: list[str], train_cap: int) -> Path:
    """A layout root for fine-tuning: each task's train split capped at ``train_cap`` rows (0: no cap)
    by a fixed sample (the rows of the lowest sha256 of their texts and idx, kept in source order);
    validation as imported (full)."""
    from minilm_repro.data import layout
    from minilm_repro.data.features import TEXT_COLUMNS
    from minilm_repro.data.importing import unit_hash

    root = out / f"tasks-ft-cap{train_cap}"
    for task in tasks:
        if (root / task / "default" / "validation.parquet").is_file():
            continue
        train = layout.load_split(tasks_root, task, "default", "train")
        if 0 < train_cap < len(train):
            cols = ("question", "context", "id") if task == "squad_v2" else (*TEXT_COLUMNS[task], "idx")
            keys = ["\t".join(str(v) for v in row) for row in zip(*(train[c] for c in cols))]
            order = sorted(range(len(train)), key=lambda i: (unit_hash(keys[i]), i))
            train = train.select(sorted(order[:train_cap]))
        layout.write_split(train, root, task, "default", "train")
        layout.write_split(layout.load_split(tasks_root, task, "default", "validation"), root, task, "default", "validation")
    return root


def prepare_blocks(out: Path, tasks_root: Path, teacher: Path, words: int, seq_len: int, rec: Recorder) -> Path:
    from minilm_repro.data.corpus import CorpusConfig, corpus_stats, prepare_corpus
    from minilm_repro.data.realcorpus import build_real_corpus
    from minilm_repro.model_io import load_tokenizer

    text_dir = out / f"corpus-text-w{words or 'all'}"
    if not (text_dir / "CORPUS.json").is_file():
        res, sec = _timed(build_real_corpus, tasks_root, text_dir, max_words=words or None)
        rec.stage("corpus text", sec, False, words=res["words"], documents=res["documents"],
                  by_source=res["by_source"], excluded=res["exclusion"])
    info = json.loads((text_dir / "CORPUS.json").read_text())
    rec.data["corpus"] = {k: info[k] for k in ("words", "documents", "by_source", "sha256", "exclusion")}
    blocks = out / f"corpus-blocks-w{words or 'all'}-s{seq_len}"
    if not (blocks / "stats.json").is_file():
        stats, sec = _timed(prepare_corpus, [text_dir / "en.txt"], load_tokenizer(teacher),
                            CorpusConfig(max_seq_len=seq_len), blocks)
        rec.stage("corpus blocks", sec, False, blocks=stats["blocks"], tokens=stats["tokens"])
    stats = corpus_stats(blocks)
    rec.data["corpus"].update(blocks=stats["blocks"], tokens=stats["tokens"], seq_len=seq_len)
    return blocks


def features(out: Path, ft_root: Path, task: str, teacher: Path, max_length: int, qa_length: int, qa_stride: int) -> Path:
    from minilm_repro.finetune.features import FeaturesConfig, tokenize_task
    from minilm_repro.model_io import load_tokenizer

    qa = task == "squad_v2"
    length, stride = (qa_length, qa_stride) if qa else (max_length, min(64, max_length // 2))
    feats = out / "features" / ft_root.name / f"{task}-{length}-{stride}"
    if not (feats / "manifest.json").is_file():
        tokenize_task(FeaturesConfig(task=task, languages=["en"], train_language="en", max_length=length, doc_stride=stride),
                      load_tokenizer(teacher), ft_root, feats)
    return feats


# --------------------------------------------------------------------------- models


def optim(args, lr: float) -> dict:
    # a checkpoint every quarter of the run (at least 100 steps): a killed run resumes from it
    return {"steps": args.steps, "batch_size": args.batch, "lr": lr, "warmup_steps": int(args.warmup * args.steps),
            "save_steps": max(100, args.steps // 4), "logging_steps": max(args.steps // 10, 1), "seed": args.pretrain_seed,
            "max_device_batch": args.max_device_batch}


def build_model(args, spec: dict, lr: float, teacher_dir: Path, corpus: Path, out: Path, rec: Recorder) -> Path:
    """Distil (student) or MLM-pretrain (scratch) ``spec`` at ``lr``; cached by its settings."""
    from minilm_repro.distill.train import DistillConfig, distill
    from minilm_repro.pretrain import PretrainConfig, pretrain

    shape = {"layers": spec["layers"], "hidden": spec["hidden"]}
    source = teacher_dir.name if teacher_dir == args.teacher else "ta" + _short_hash(teacher_dir.name)
    tag = (f"{spec['kind']}-{spec['layers']}x{spec['hidden']}-{spec['relations'] or 'all'}-from-{source}"
           f"-{corpus.name}-st{args.steps}-b{args.batch}-lr{_fmt_lr(lr)}-wu{args.warmup}-ps{args.pretrain_seed}")
    model_dir = out / "models" / tag
    work = out / "work" / tag
    name = f"{spec['name']}@{_fmt_lr(lr)}"
    if (model_dir / "config.json").is_file():
        rec.data["models"].setdefault(name, {"dir": str(model_dir), "cached": True})
        return model_dir
    if spec["kind"] == "student":
        cfg = DistillConfig(optim=optim(args, lr), shape=shape,
                            relations=[spec["relations"]] if spec["relations"] else None)
        metrics, sec = _timed(distill, cfg, str(teacher_dir), str(corpus), str(model_dir), str(work), name=spec["name"])
    else:
        cfg = PretrainConfig(optim=optim(args, lr), shape=shape, eval_blocks=0)
        metrics, sec = _timed(pretrain, cfg, str(teacher_dir), str(corpus), str(model_dir), str(work),
                              like=str(teacher_dir), name=spec["name"])
    shutil.rmtree(work, ignore_errors=True)
    keep = {k: v for k, v in metrics.items() if k != "history"}
    keep["loss_history"] = [round(h["loss"], 4) for h in metrics.get("history", [])]
    rec.data["models"][name] = {"dir": str(model_dir), "cached": False, **keep}
    rec.stage(f"{'distill' if spec['kind'] == 'student' else 'pretrain'} {name}", sec, False,
              final_loss=keep["loss_history"][-1:] or None)
    return model_dir


def finetune_one(args, model_dir: Path, model_name: str, task: str, seed: int, feats: Path, ft_root: Path,
                 out: Path, rec: Recorder) -> dict:
    from minilm_repro.finetune.run import FinetuneConfig, finetune

    lr, epochs = args.ft[task]
    full_key = f"{model_dir}--{task}-{feats.name}-{ft_root.name}-lr{_fmt_lr(lr)}-ep{epochs}-s{seed}"
    key = f"{model_name}-{task}-s{seed}-{_short_hash(full_key)}"
    cache = out / "results" / f"{key}.json"
    if cache.is_file():
        res = json.loads(cache.read_text())
        cached = True
        sec = res["seconds"]
    else:
        work = out / "work" / "ft" / key
        cfg = FinetuneConfig(task=task, lr=lr, epochs=epochs, batch_size=32, seed=seed, save_steps=10**9,
                             logging_steps=50, max_answer_length=30)
        full, sec = _timed(finetune, cfg, str(model_dir), str(feats), str(ft_root), str(work))
        shutil.rmtree(work, ignore_errors=True)
        dev = next(iter(full["evals"].values()))
        res = {"score": full["select_score"], "scores": {k: v for k, v in dev["scores"].items() if isinstance(v, (int, float))},
               "majority": (dev.get("majority") or {}), "seconds": sec, "steps": full["steps"],
               "train_features": full["train_features"], "train_loss": full["train_loss"], "cpu_seconds": CPU["seconds"]}
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
        cached = False
    line = {"model": model_name, "task": task, "seed": seed, "score": round(res["score"], 2), "seconds": round(sec, 1),
            "cached": cached}
    if task == "squad_v2":
        line.update(HasAns_f1=round(res["scores"].get("HasAns_f1", float("nan")), 2),
                    NoAns_f1=round(res["scores"].get("NoAns_f1", float("nan")), 2))
    rec.data["scores"].setdefault(model_name, {}).setdefault(task, {})[str(seed)] = res
    rec.stage(f"finetune {model_name} {task} seed {seed}", sec, cached, score=line["score"],
              **{k: v for k, v in line.items() if k in ("HasAns_f1", "NoAns_f1")})
    return res


def probe_one(args, model_dir: Path, model_name: str, task: str, ft_root: Path, out: Path, rec: Recorder) -> dict:
    """Linear probe: frozen model, mean-pooled last hidden states of the (pair) input, logistic
    regression (STS-B: ridge) fitted on the capped train split, scored on dev (primary metric, %)."""
    import numpy as np
    import torch
    from transformers import AutoModel

    from minilm_repro.data.features import TEXT_COLUMNS
    from minilm_repro.data.layout import load_split
    from minilm_repro.finetune.plan import PRIMARY_METRIC
    from minilm_repro.metrics import classification_scores
    from minilm_repro.model_io import load_tokenizer

    key = f"probe-{model_name}-{task}-{_short_hash(f'{model_dir}-{ft_root.name}-{args.max_length}')}"
    cache = out / "results" / f"{key}.json"
    if cache.is_file():
        res = json.loads(cache.read_text())
        rec.data.setdefault("probe", {}).setdefault(model_name, {})[task] = res
        rec.stage(f"probe {model_name} {task}", res["seconds"], True, score=round(res["score"], 2))
        return res
    start, cpu = time.time(), time.process_time()
    tok = load_tokenizer(model_dir)
    model = AutoModel.from_pretrained(str(model_dir)).eval()

    def encode(ds):
        cols = TEXT_COLUMNS[task]
        feats = []
        with torch.no_grad():
            for i in range(0, len(ds), 64):
                batch = ds[i:i + 64]
                enc = tok(*[batch[c] for c in cols], truncation=True, max_length=args.max_length, padding=True,
                          return_tensors="pt")
                hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).float()
                feats.append(((hidden * mask).sum(1) / mask.sum(1)).numpy())
        return np.concatenate(feats)

    train = load_split(ft_root, task, "default", "train")
    dev = load_split(ft_root, task, "default", "validation")
    x_train, x_dev = encode(train), encode(dev)
    mu, sd = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_dev = (x_train - mu) / sd, (x_dev - mu) / sd
    y_train, y_dev = np.array(train["label"]), np.array(dev["label"])
    if task == "stsb":
        from sklearn.linear_model import Ridge

        pred = Ridge(alpha=10.0).fit(x_train, y_train).predict(x_dev)
    else:
        from sklearn.linear_model import LogisticRegression

        pred = LogisticRegression(max_iter=3000, C=0.1).fit(x_train, y_train).predict(x_dev)
    scores = classification_scores(task, pred, y_dev)
    res = {"score": scores[PRIMARY_METRIC[task]], "scores": scores, "seconds": time.time() - start,
           "cpu_seconds": time.process_time() - cpu}
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(res, indent=2, sort_keys=True) + "\n")
    rec.data.setdefault("probe", {}).setdefault(model_name, {})[task] = res
    CPU["seconds"] = res["cpu_seconds"]
    rec.stage(f"probe {model_name} {task}", res["seconds"], False, score=round(res["score"], 2))
    return res


# --------------------------------------------------------------------------- summary


def no_answer_baseline(ft_root: Path) -> float:
    from minilm_repro.data.layout import load_split
    from minilm_repro.metrics import squad_v2_scores

    rows = list(load_split(ft_root, "squad_v2", "default", "validation"))
    return squad_v2_scores(rows, {r["id"]: "" for r in rows}, {r["id"]: 1.0 for r in rows})["f1"]


def summarize(rec: Recorder, tasks: list[str], chosen: dict[str, str], seeds: list[int]) -> dict:
    """Mean and std over seeds per (model, task), the mean over tasks, margins vs each scratch model."""
    table = {}
    for label, name in chosen.items():
        per = rec.data["scores"].get(name, {})
        row = {}
        for task in tasks:
            vals = [per[task][str(s)]["score"] for s in seeds if str(s) in per.get(task, {})]
            if vals:
                row[task] = {"mean": statistics.mean(vals), "std": statistics.stdev(vals) if len(vals) > 1 else 0.0,
                             "n": len(vals), "values": vals}
        # the average over tasks, per seed, then mean/std over seeds
        complete = [s for s in seeds if all(str(s) in per.get(t, {}) for t in tasks)]
        if complete:
            avgs = [statistics.mean(per[t][str(s)]["score"] for t in tasks) for s in complete]
            row["avg"] = {"mean": statistics.mean(avgs), "std": statistics.stdev(avgs) if len(avgs) > 1 else 0.0,
                          "n": len(avgs), "values": avgs}
        table[label] = row
    return table


def print_table(table: dict, tasks: list[str]) -> None:
    cols = tasks + ["avg"]
    print("| model | " + " | ".join(cols) + " |")
    print("|---|" + "---|" * len(cols))
    for label, row in table.items():
        cells = [f"{row[c]['mean']:.1f} ± {row[c]['std']:.1f}" if c in row else "-" for c in cols]
        print(f"| {label} | " + " | ".join(cells) + " |")


# --------------------------------------------------------------------------- main


def main(argv=None) -> int:
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--out", required=True, type=Path, help="cache and results folder (outside the repository)")
    p.add_argument("--record", type=Path, help="JSON record (default <out>/record.json)")
    p.add_argument("--teacher", type=Path, default=DEFAULT_TEACHER)
    p.add_argument("--realdata", type=Path, default=DEFAULT_REALDATA)
    p.add_argument("--split-dev", type=float, default=0.3, help="fraction of dev documents kept as validation")
    p.add_argument("--corpus-words", type=int, default=0, help="words of corpus text (0: all of it)")
    p.add_argument("--seq-len", type=int, default=128, help="corpus block length in tokens")
    p.add_argument("--steps", type=int, default=400, help="distillation = pretraining steps")
    p.add_argument("--batch", type=int, default=32, help="global batch (blocks per step)")
    p.add_argument("--warmup", type=float, default=0.1, help="warm-up, fraction of the steps")
    p.add_argument("--max-device-batch", type=int, default=32)
    p.add_argument("--pretrain-seed", type=int, default=42)
    p.add_argument("--lr-grid", type=float, nargs="+", default=[1e-4], help="peak lrs tried for students and scratch")
    p.add_argument("--student", action="append", default=[], help="name=LxH[@teacher][+attention][~lr] (repeatable)")
    p.add_argument("--scratch", action="append", default=[], help="name=LxH[~lr] (repeatable)")
    p.add_argument("--no-teacher", action="store_true", help="do not fine-tune the teacher")
    p.add_argument("--tasks", nargs="+", default=["sst2"], choices=REAL_TASKS)
    p.add_argument("--seeds", type=int, nargs="+", default=[1])
    p.add_argument("--train-cap", type=int, default=8000,
                   help="fine-tuning rows per task at most (a fixed sample; SST-2 has 67,349, QNLI ~3.8k; 0: all)")
    p.add_argument("--max-length", type=int, default=128, help="fine-tuning max tokens (GLUE)")
    p.add_argument("--qa-length", type=int, default=384)
    p.add_argument("--qa-stride", type=int, default=128)
    p.add_argument("--ft", action="append", default=[], help="task:lr:epochs, overrides the defaults (repeatable)")
    p.add_argument("--probe", action="store_true",
                   help="also score every model by a linear probe on frozen mean-pooled features (GLUE tasks; seconds)")
    p.add_argument("--no-finetune", action="store_true", help="probe only (implies --probe); selection by probe score")
    args = p.parse_args(argv)

    overrides, args.ft = args.ft, {t: FT_DEFAULTS[t] for t in REAL_TASKS}
    for item in overrides:
        try:
            task, lr, epochs = item.split(":")
            args.ft[task] = (float(lr), float(epochs))
        except ValueError:
            raise SystemExit(f"error: --ft {item!r}: expected task:lr:epochs, e.g. sst2:1e-4:3") from None
        if task not in REAL_TASKS:
            raise SystemExit(f"error: --ft {item!r}: unknown task {task!r}; tasks: {', '.join(REAL_TASKS)}")
    specs = [parse_spec(s, "student") for s in args.student] + [parse_spec(s, "scratch") for s in args.scratch]
    names = [s["name"] for s in specs]
    if len(set(names)) != len(names) or "teacher" in names:
        raise SystemExit(f"error: model names must be distinct and not 'teacher': {names}")
    for s in specs:
        if s["teacher"] != "teacher" and s["teacher"] not in names[:names.index(s["name"])]:
            raise SystemExit(f"error: {s['name']}: teacher {s['teacher']!r} must be a --student given before it")

    args.out.mkdir(parents=True, exist_ok=True)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    settings["ft"] = {t: list(v) for t, v in args.ft.items() if t in args.tasks}
    rec = Recorder(args.record or args.out / "record.json", settings)
    # the corpus comes from every real task's train side (whatever is fine-tuned), without any dev text
    tasks_root = prepare_tasks(args.out, args.realdata, list(IMPORTS), args.split_dev, rec)
    corpus = prepare_blocks(args.out, tasks_root, args.teacher, args.corpus_words, args.seq_len, rec) if specs else None
    ft_root = finetune_root(args.out, tasks_root, args.tasks, args.train_cap)
    feats = {t: features(args.out, ft_root, t, args.teacher, args.max_length, args.qa_length, args.qa_stride)
             for t in args.tasks} if not args.no_finetune else {}
    if "squad_v2" in args.tasks:
        rec.data["squad_v2_no_answer_f1"] = no_answer_baseline(ft_root)
        print(json.dumps({"squad_v2_no_answer_f1": round(rec.data["squad_v2_no_answer_f1"], 2)}), flush=True)

    args.probe = args.probe or args.no_finetune
    probe_tasks = [t for t in args.tasks if t != "squad_v2"]
    first, rest = args.seeds[0], args.seeds[1:]
    chosen: dict[str, str] = {}  # label -> the model name whose scores count
    dirs: dict[str, Path] = {"teacher": args.teacher}
    # seed 1 of every model first (teacher, every grid point: the selection), then the other seeds
    # seed by seed, so that a run stopped early still has complete seeds
    if not args.no_teacher:
        for t in probe_tasks if args.probe else []:
            probe_one(args, args.teacher, "teacher", t, ft_root, args.out, rec)
        for t in args.tasks if not args.no_finetune else []:
            finetune_one(args, args.teacher, "teacher", t, first, feats[t], ft_root, args.out, rec)
        chosen["teacher"] = "teacher"
    selection = {}
    for spec in specs:
        grid = [spec["lr"]] if spec["lr"] else args.lr_grid
        tried = {}
        for lr in grid:
            name = f"{spec['name']}@{_fmt_lr(lr)}"
            model_dir = build_model(args, spec, lr, dirs[spec["teacher"]], corpus, args.out, rec)
            probes = [probe_one(args, model_dir, name, t, ft_root, args.out, rec)["score"]
                      for t in (probe_tasks if args.probe else [])]
            scores = probes if args.no_finetune else \
                [finetune_one(args, model_dir, name, t, first, feats[t], ft_root, args.out, rec)["score"]
                 for t in args.tasks]
            tried[lr] = (statistics.mean(scores), model_dir, name)
        best = max(tried, key=lambda lr: tried[lr][0])
        _, model_dir, name = tried[best]
        selection[spec["name"]] = {"grid": {_fmt_lr(lr): round(v[0], 2) for lr, v in tried.items()},
                                   "chosen_lr": best, "rule": f"mean dev score over {args.tasks} at seed {first}"}
        print(json.dumps({"selected": spec["name"], **selection[spec["name"]]}), flush=True)
        dirs[spec["name"]] = model_dir
        chosen[spec["name"]] = name
    rec.data["selection"] = selection
    for seed in rest if not args.no_finetune else []:
        for label, name in chosen.items():
            for t in args.tasks:
                finetune_one(args, dirs[label], name, t, seed, feats[t], ft_root, args.out, rec)
        rec.data["summary"] = summarize(rec, args.tasks, chosen, args.seeds)
        rec.save()
    rec.data["selection"] = selection
    table = summarize(rec, args.tasks, chosen, args.seeds)
    rec.data["summary"] = table
    students = [s["name"] for s in specs if s["kind"] == "student"]
    scratches = [s["name"] for s in specs if s["kind"] == "scratch"]
    margins = {}
    for st in students:
        for sc in scratches:
            margins[f"{st} - {sc}"] = {c: table[st][c]["mean"] - table[sc][c]["mean"]
                                       for c in table[st] if c in table[sc]}
    rec.data["margins"] = margins
    if args.probe:
        probe = rec.data.get("probe", {})
        rec.data["probe_summary"] = {label: {t: probe[name][t]["score"] for t in probe_tasks if t in probe.get(name, {})}
                                     for label, name in chosen.items()}
        print("linear probe (dev, %): " + json.dumps({k: {t: round(v, 1) for t, v in row.items()}
                                                     for k, row in rec.data["probe_summary"].items()}))
    rec.save()
    print_table(table, args.tasks)
    for k, v in margins.items():
        print(f"margin {k}: " + ", ".join(f"{c} {m:+.1f}" for c, m in v.items()))
    print(f"record: {rec.path}  wall {rec.data['wall_seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
