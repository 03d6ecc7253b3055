"""Compare checkpoints in one command: fine-tune each on the tasks, rank them, write model-index results.

    minilm-repro compare CKPT [CKPT ...] --tasks T [T ...] [--protocol quick|paper] [--languages L ...]
        [--seeds N ...] [--baseline NAME] [--tokenizer NAME=SOURCE] [--data-dir DIR] [--out DIR]

A checkpoint is a local model directory, a hub id with an optional ``@revision``, or ``NAME=`` either.
Every input is checked before any job runs (:mod:`minilm_repro.plan.compare`). The command writes the
workflow config it runs to ``<out>/compare.yaml`` (``snakemake -s <repo>/Snakefile --configfile
<out>/compare.yaml --directory <out>`` reruns it by hand), runs the DAG through Snakemake (a rerun does
nothing; another checkpoint runs only its own jobs and the shared speed and report jobs), then writes
and prints the leaderboard (``<out>/leaderboard.{md,csv,json}``, :mod:`minilm_repro.report.leaderboard`)
and each checkpoint's ``model-index`` (``<out>/model-index/<name>.yaml``, the Hub's format).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="minilm-repro compare", description=__doc__.splitlines()[0])
    p.add_argument("checkpoints", nargs="+", metavar="CKPT", help="[NAME=]model directory or hub id[@revision]")
    p.add_argument("--tasks", nargs="+", required=True, help="cola sst2 mrpc stsb qqp mnli qnli rte squad_v2 xnli mlqa")
    p.add_argument("--protocol", default="quick", choices=("quick", "paper"),
                   help="paper: Appendix B grids; quick (default): one grid point, <= 2 epochs, <= 1,000 training "
                        "examples, seed 1: a sanity check in minutes, labelled quick everywhere")
    p.add_argument("--languages", nargs="+", help="XNLI/MLQA evaluation languages (default: the task's)")
    p.add_argument("--seeds", nargs="+", type=int, help="fine-tuning seeds (default: the protocol's)")
    p.add_argument("--baseline", help="the checkpoint (its NAME) every Δ is taken against")
    p.add_argument("--tokenizer", nargs="+", default=[], metavar="NAME=SOURCE",
                   help="another tokenizer for a checkpoint (e.g. the multilingual MiniLM: XLM-R's)")
    p.add_argument("--data-dir", help="local task files (glue_data/<Task>, squad2, xnli, mlqa), e.g. ../shared/realdata "
                                      "(default: the hub sources of the paper configs)")
    p.add_argument("--out", default="compare", help="output directory (results, config, leaderboard)")
    p.add_argument("--cores", default="all", help="snakemake --cores (default all)")
    p.add_argument("--dry-run", action="store_true", help="list the jobs (snakemake -n) and stop")
    return p


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    import yaml

    from minilm_repro.plan import compare as plan

    try:
        checkpoints = plan.parse_checkpoints(args.checkpoints, args.tokenizer)
        names = [c.name for c in checkpoints]
        if args.baseline and args.baseline not in names:
            raise plan.CompareError(f"--baseline {args.baseline!r} is none of the checkpoints ({', '.join(names)})")
        config = plan.compare_config(checkpoints, args.tasks, protocol=args.protocol, languages=args.languages,
                                     seeds=args.seeds, data_dir=Path(args.data_dir).resolve() if args.data_dir else None)
        hub_data = [t for t, s in config["task_sources"].items() if "path" not in s]
        if hub_data and plan.is_offline() and not args.dry_run:
            raise plan.CompareError(f"{', '.join(hub_data)}: hub data while offline; give --data-dir with local "
                                    "files, or download them first (minilm-repro tasks download ...)")
        plan.check_sources(checkpoints, plan.is_offline(), args.dry_run)
    except plan.CompareError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    config_path = out / "compare.yaml"
    text = f"# minilm-repro compare {' '.join(argv)}\n" + yaml.safe_dump(config, sort_keys=False)
    if not config_path.is_file() or config_path.read_text().split("\n", 1)[1] != text.split("\n", 1)[1]:
        config_path.write_text(text)
    cmd = ["snakemake", "-s", str(plan.REPO / "Snakefile"), "--configfile", str(config_path), "--directory", str(out),
           "--cores", str(args.cores), "--rerun-incomplete"] + (["-n"] if args.dry_run else [])
    print("$ " + " ".join(cmd), flush=True)
    res = subprocess.run(cmd, check=False)
    if res.returncode != 0 or args.dry_run:
        return res.returncode
    return _leaderboard(out, config, args)


def _leaderboard(out: Path, config: dict, args) -> int:
    from minilm_repro.jobs.model_card import model_index_yaml
    from minilm_repro.plan.compare import QUICK_EPOCHS, QUICK_TRAIN_EXAMPLES
    from minilm_repro.plan.planner import Plan
    from minilm_repro.report.build import Frames
    from minilm_repro.report.collect import records_from_files
    from minilm_repro.report.intervals import Bootstrap
    from minilm_repro.report.leaderboard import (
        data_fingerprints,
        leaderboard,
        write_leaderboard,
    )

    plan = Plan(config)
    records = records_from_files([out / p for p in plan.finetune_metrics_files()],
                                 [out / p for p in plan.model_metrics_files()], [out / p for p in plan.speed_files()])
    frames = Frames.from_records(records)
    ctx = frames.context("cmp", config["profile"], bootstrap=Bootstrap(frames.predictions))
    text, numbers, facts = leaderboard(ctx, args.baseline, args.tasks)
    quick = (f"quick protocol: one grid point (the paper grid's middle lr), <= {QUICK_EPOCHS} epochs, <= "
             f"{QUICK_TRAIN_EXAMPLES:,} training examples: a sanity check, not the paper's protocol"
             if args.protocol == "quick" else "paper protocol: Appendix B grids, the best mean dev point reported")
    seeds = sorted({s for t in config["finetune"]["tasks"].values() for s in t["seeds"]})
    prints = data_fingerprints(out / config["tasks_root"], list(config["finetune"]["tasks"]))
    caption = [f"Leaderboard ({config['profile']}): {quick}; seeds {', '.join(map(str, seeds))}; mean ± std over "
               "seeds at the grid point with the best mean dev score; scored on "
               + ", ".join(f"{t} {s}" for t, s in facts["splits"].items()) + ".",
               "Δ: difference of the seed means with the 95% paired-bootstrap interval over the examples (* excludes 0)."
               if args.baseline else "No baseline given (--baseline NAME adds Δ with intervals).",
               "Data: " + "; ".join(f"{t}: {', '.join(v) or 'no SOURCE.json'}" for t, v in prints.items()) + "."]
    paths = write_leaderboard(text, numbers, facts, caption, out)
    index_dir = out / "model-index"
    index_dir.mkdir(exist_ok=True)
    df = ctx.df[ctx.df.model.isin(numbers.index)]
    for name in numbers.index:
        (index_dir / f"{name}.yaml").write_text(model_index_yaml(name, _reported_rows(df[df.model == name],
                                                                                    facts["splits"])))
    print(paths["md"].read_text())
    print(f"model-index blocks: {index_dir}/<checkpoint>.yaml")
    return 0


def _reported_rows(df, splits: dict) -> list[dict]:
    """One row per (task, language) cell of the leaderboard: the seeds' mean of the reported metric."""
    from minilm_repro.report.leaderboard import METRIC

    keep = df[[(r.metric == METRIC.get(r.task, "accuracy") and r.split == splits.get(r.task))
               for r in df.itertuples(index=False)]]
    return [{"task": task, "split": split, "language": language if isinstance(language, str) else None,
             "metric": metric, "value": g.groupby("seed")["value"].mean().mean()}
            for (task, split, language, metric), g in keep.groupby(["task", "split", "language", "metric"],
                                                                   dropna=False)]
