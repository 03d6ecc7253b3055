# Lookups into the job planner (minilm_repro/planner.py), where the config becomes jobs. A rule
# names its outputs (patterns), takes its inputs and the stage's spec from its planned job, and
# runs `minilm-repro <stage> --spec <spec>`. No science here.
from pathlib import Path

from minilm_repro.config import validate_workflow_config
from minilm_repro.planner import BENCHMARK_DIR, RESULTS, Plan, as_json

validate_workflow_config(
    config,
    Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
    [str(f) for f in [*workflow.configfiles, *(workflow.overwrite_configfiles or [])]],
)
PLAN = Plan(config)
PROFILE = PLAN.profile
THREADS = PLAN.threads
TRACKING = PLAN.tracking


def inputs_of(rule):
    """``input: unpack(inputs_of(rule))``: the named inputs of the rule's job."""

    def inputs(wildcards):
        return PLAN.job(rule, wildcards).inputs

    return inputs


def spec_of(rule):
    """The job's spec (settings, paths, run), as key-sorted JSON: the stage's one argument, and the
    rule's params, so that any change of the job's settings reruns it (and a re-saved config does not)."""

    def spec(wildcards):
        return as_json(PLAN.job(rule, wildcards).spec(PROFILE, THREADS))

    return spec


def stage_of(rule):
    """The ``minilm-repro`` command of the rule's job (the tokenizer rule trains one or exports one)."""

    def stage(wildcards):
        return PLAN.job(rule, wildcards).stage

    return stage


def setting_of(rule, key):
    def setting(wildcards):
        return PLAN.job(rule, wildcards).settings[key]

    return setting


def alternatives(rule, wildcard):
    """A regex matching exactly the values ``wildcard`` takes in ``rule``'s jobs (nothing if none)."""
    import re

    names = sorted({dict(j.wildcards)[wildcard] for j in PLAN.of_rule(rule)})
    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


wildcard_constraints:
    track="[A-Za-z0-9_-]+",
    model="[A-Za-z0-9_-]+",
    task="[a-z0-9_]+",
    gp="lr[0-9.e+-]+_ep[0-9.e+-]+",
    seed="[0-9]+",
