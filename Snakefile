# minilm-repro: corpus -> teacher -> teacher assistant -> student -> fine-tuning -> tables.
# Science lives in the config (workflow/config/*.yaml, smoke by default); the job planner
# (minilm_repro/plan/planner.py) turns it into jobs; executor settings live in workflow/profiles/.
# Every rule runs one planned job: `minilm-repro <stage> --spec <the job's spec>`.
from snakemake.utils import min_version

min_version("9.0")


# the embedded default; a --configfile replaces it instead of being merged into it
if not workflow.overwrite_configfiles:

    configfile: f"{workflow.basedir}/workflow/config/smoke.yaml"



include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/teachers.smk"
include: "workflow/rules/distill.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        PLAN.report_targets(),
    default_target: True
