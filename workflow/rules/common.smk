# The job planner (minilm_repro/plan/planner.py), where the config becomes jobs. A rule names its
# outputs (patterns), takes its inputs and the stage's spec from its planned job (PLAN.inputs_of,
# PLAN.spec_of), and runs `minilm-repro <stage> --spec <spec>`. No science here.
import sys
from pathlib import Path

from minilm_repro.config import ConfigError, validate_workflow_config
from minilm_repro.plan.planner import BENCHMARK_DIR, RESULTS, Plan, as_json

try:
    validate_workflow_config(
        config,
        Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
        [str(f) for f in [*workflow.configfiles, *(workflow.overwrite_configfiles or [])]],
    )
    PLAN = Plan(config)
except ConfigError as exc:  # the message is the last line, not a traceback below it
    sys.exit(f"config error: {exc}")
PROFILE = PLAN.profile
THREADS = PLAN.threads
TRACKING = PLAN.tracking


def folder_of(name, up=1):
    """``params: out=folder_of("checks")``: the folder that holds output ``name`` (``up`` levels above it)."""

    def folder(wildcards, output):
        return str(Path(output[name]).parents[up - 1])

    return folder


wildcard_constraints:
    track="[A-Za-z0-9_-]+",
    model="[A-Za-z0-9_-]+",
    task="[a-z0-9_]+",
    gp="lr[0-9.e+-]+_ep[0-9.e+-]+",
    seed="[0-9]+",
