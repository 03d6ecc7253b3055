"""What ``minilm-repro plan`` shows: each job with its settings resolved (the stage dataclasses'
defaults applied, as the stage itself will see them), as a table or as JSON."""

from __future__ import annotations

import dataclasses
import importlib

from minilm_repro.config import parse_stage_config
from minilm_repro.plan.planner import Job, Plan

# stage -> (module, settings dataclass); nested settings resolved with their own dataclass
SETTINGS = {
    "pretrain": ("minilm_repro.pretrain.train", "PretrainConfig"),
    "distill": ("minilm_repro.distill.train", "DistillConfig"),
    "finetune": ("minilm_repro.finetune.run", "FinetuneConfig"),
    "tokenize-task": ("minilm_repro.finetune.features", "FeaturesConfig"),
    "speed": ("minilm_repro.report.speed", "SpeedConfig"),
    "prepare-corpus": ("minilm_repro.data.corpus", "CorpusConfig"),
    "train-tokenizer": ("minilm_repro.data.tokenizer", "TokenizerConfig"),
    "clean-text": ("minilm_repro.data.textclean", "CleanConfig"),
}
NESTED = {"optim": ("minilm_repro.jobs.trainer_setup", "OptimConfig"), "arch": ("minilm_repro.models.build", "ArchConfig")}


def _cls(module: str, name: str):
    return getattr(importlib.import_module(module), name)


def resolved_settings(job: Job) -> dict:
    """``job.settings`` with every default of the stage's config dataclass (and its optim/arch) applied."""
    if job.stage not in SETTINGS:
        return dict(job.settings)
    out = dataclasses.asdict(parse_stage_config(_cls(*SETTINGS[job.stage]), job.settings, job.id))
    for key, where in NESTED.items():
        if isinstance(out.get(key), dict):
            out[key] = dataclasses.asdict(parse_stage_config(_cls(*where), out[key], f"{job.id}: {key}"))
    return out


def plan_records(plan: Plan, resolved: bool = True) -> list[dict]:
    """One dict per job: id, rule, stage, settings (resolved), paths, inputs, tags."""
    return [{"id": j.id, "rule": j.rule, "stage": j.stage,
             "settings": resolved_settings(j) if resolved else j.settings,
             "paths": j.paths, "inputs": j.inputs, "tags": j.tags} for j in plan.jobs.values()]


def summary(plan: Plan) -> str:
    """A job count per rule, then one line per job: its id and its science in a few words."""
    counts: dict[str, int] = {}
    for j in plan.jobs.values():
        counts[j.rule] = counts.get(j.rule, 0) + 1
    lines = [f"profile {plan.profile}: {len(plan.jobs)} jobs"]
    lines += [f"  {rule:<20}{n:>6}" for rule, n in counts.items()]
    lines.append("")
    for j in plan.jobs.values():
        s = j.settings
        brief = {"finetune": lambda: f"lr {s['lr']:g}, {s['epochs']:g} epochs, seed {s['seed']}",
                 "distill": lambda: f"{s['shape']}, {s['optim']['steps']} steps x {s['optim']['batch_size']}, "
                                    f"teacher {j.paths['teacher_name']}",
                 "pretrain": lambda: f"{s.get('arch') or s.get('shape')}, {s['optim']['steps']} steps x "
                                     f"{s['optim']['batch_size']}"}.get(j.stage, lambda: "")()
        lines.append(f"{j.id}  [{j.stage}]  {brief}".rstrip())
    return "\n".join(lines)
