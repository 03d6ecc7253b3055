# Helpers: config validation, config lookups, target lists. No science here.
import json
import os
from pathlib import Path

from minilm_repro.config import validate_workflow_config

validate_workflow_config(
    config,
    Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
    [str(f) for f in [*workflow.configfiles, *(workflow.overwrite_configfiles or [])]],
)

PROFILE = config["profile"]
THREADS = config.get("threads_per_job", 1)
RESULTS = "results"
WORK = "work"  # checkpoints: not Snakemake outputs, so a killed job resumes
TRACKING = f"{RESULTS}/tracking/{PROFILE}.json"
BENCHMARK_DIR = f"{RESULTS}/benchmark"
TRACKS = list(config["tracks"])


def tasks_root():
    root = config["tasks_root"]
    return f"{BENCHMARK_DIR}/tasks" if root == "generated" else root


def tasks_root_input(wildcards=None):
    """The generated benchmark is a DAG input; an external task directory must already exist."""
    return [BENCHMARK_DIR] if config["tasks_root"] == "generated" else []


def track(wildcards):
    return config["tracks"][wildcards.track]


def students(track_name):
    return config["tracks"][track_name]["students"]


def externals(track_name):
    """Checkpoints compared beside ours: {name: {"path": dir} | {"hub": {"id", "revision"}}}."""
    return config["tracks"][track_name].get("external", {})


def model_names(track_name):
    names = ["teacher", *students(track_name)]
    if "scratch" in config["tracks"][track_name]:
        names.append("scratch")
    return names + list(externals(track_name))


def finetuned_models(track_name):
    """The track's ``finetune.models`` plus every external checkpoint (listing one under
    ``external`` is enough to compare it: only its jobs are added)."""
    listed = config["tracks"][track_name]["finetune"]["models"]
    return listed + [e for e in externals(track_name) if e not in listed]


def model_dir(track_name, model):
    ext = externals(track_name).get(model)
    if ext is None:
        return f"{RESULTS}/{track_name}/models/{model}"
    return ext["path"] if "path" in ext else f"resources/models/{track_name}/{model}"


def tokenizer_key(track_name, model):
    """Features are shared by every model with the same tokenizer: the track's, or an external's own."""
    return model if model in externals(track_name) else "track"


def tokenizer_dir(track_name, key):
    return f"{RESULTS}/{track_name}/tokenizer" if key == "track" else model_dir(track_name, key)


def as_json(obj) -> str:
    """A stage's JSON argument; keys sorted, so that the same settings in another key order (a
    re-saved config file) are the same Snakemake params and rerun nothing."""
    return json.dumps(obj, sort_keys=True)


def tags(**kw):
    return as_json({k: v for k, v in kw.items() if v is not None})


# ---- fine-tuning grid ------------------------------------------------------------------------
FT_DEFAULTS = {"batch_size": 32, "warmup_ratio": 0.1, "weight_decay": 0.01, "max_length": 128, "doc_stride": 128}


def ft_settings(task):
    s = dict(FT_DEFAULTS)
    s.update(config["finetune"].get("defaults", {}))
    s.update(config["finetune"]["tasks"][task])
    return s


def grid_point(lr, epochs):
    return f"lr{lr:g}_ep{epochs:g}"


def parse_grid_point(gp):
    lr, ep = gp.split("_")
    return float(lr[2:]), float(ep[2:])


def ft_features_dir(track_name, task, model=None):
    key = tokenizer_key(track_name, model) if model else "track"
    return f"{RESULTS}/{track_name}/features/{key}/{task}_L{ft_settings(task)['max_length']}"


def finetune_metrics_files():
    files = []
    for t in TRACKS:
        ft = config["tracks"][t]["finetune"]
        for task in ft["tasks"]:
            if task not in config["finetune"]["tasks"]:
                raise ValueError(f"tracks.{t}.finetune.tasks names {task!r}, which has no entry in finetune.tasks")
            s = ft_settings(task)
            for model in finetuned_models(t):
                if model not in model_names(t):
                    raise ValueError(f"tracks.{t}.finetune.models names {model!r}; models of this track: {model_names(t)}")
                for lr in s["lr"]:
                    for ep in s["epochs"]:
                        for seed in s["seeds"]:
                            files.append(f"{RESULTS}/{t}/finetune/{model}/{task}/{grid_point(lr, ep)}/seed{seed}.json")
    return files


def model_metrics_files():
    return [f"{RESULTS}/{t}/models/{m}.metrics.json" for t in TRACKS for m in model_names(t)]


EXTERNAL_NAMES = sorted({m for t in TRACKS for m in externals(t)})


def speed_files():
    files = []
    for t in TRACKS:
        spec = config["tracks"][t].get("speed")
        if spec:
            if spec["task"] not in config["tracks"][t]["finetune"]["tasks"]:
                raise ValueError(f"tracks.{t}.speed.task {spec['task']!r} must be one of the track's finetune tasks")
            files.append(f"{RESULTS}/{t}/speed.json")
    return files


def all_targets():
    # report_targets() (report.smk): every table and figure output, so that a missing one is rebuilt
    return [f"{RESULTS}/tables/checks.json", f"{RESULTS}/figures/pareto.png", *report_targets()]


wildcard_constraints:
    track="[A-Za-z0-9_-]+",
    model="[A-Za-z0-9_-]+",
    task="[a-z0-9_]+",
    gp="lr[0-9.e+-]+_ep[0-9.e+-]+",
    seed="[0-9]+",


def alternatives(names):
    """A wildcard regex matching exactly ``names`` (and nothing when the list is empty)."""
    import re

    return "|".join(re.escape(n) for n in names) if names else "(?!x)x"


PRETRAIN_TRACKS = [t for t in TRACKS if "pretrain" in config["tracks"][t]["teacher"]]
HUB_TRACKS = [t for t in TRACKS if "hub" in config["tracks"][t]["teacher"]]
STUDENT_NAMES = sorted({s for t in TRACKS for s in students(t)})
def check_references():
    """Each ``tracks.<t>.reference`` names one of our models and one entry of the paper's figures."""
    from minilm_repro.report.reference import resolve

    for t in TRACKS:
        for model, keys in config["tracks"][t].get("reference", {}).items():
            if model not in model_names(t):
                raise ValueError(f"tracks.{t}.reference.{model}: not a model of this track ({model_names(t)})")
            for key in [keys] if isinstance(keys, str) else keys:
                try:
                    resolve(key)
                except KeyError as exc:
                    raise ValueError(f"tracks.{t}.reference.{model}: {exc.args[0]}") from None


check_references()
for _t in TRACKS:
    for _s, _spec in students(_t).items():
        if _s in ("teacher", "scratch"):
            raise ValueError(f"tracks.{_t}.students: {_s!r} is a reserved model name")
        if _spec["teacher"] not in model_names(_t) or _spec["teacher"] == "scratch":
            raise ValueError(f"tracks.{_t}.students.{_s}.teacher = {_spec['teacher']!r}: not a model of this track")


def job_tags(wildcards, model=None):
    """MLflow tags from a job's wildcards (track, model, task, grid point, seed) plus its teacher."""
    w = dict(wildcards.items())
    model = model or w.get("model")
    teacher = None
    if model in students(w["track"]):
        teacher = students(w["track"])[model]["teacher"]
    gp = w.get("gp")
    return tags(track=w["track"], model=model, teacher=teacher, task=w.get("task"), grid_point=gp,
                seed=w.get("seed"))


def teacher_tags(wildcards):
    return job_tags(wildcards, model="teacher")


def scratch_tags(wildcards):
    return job_tags(wildcards, model="scratch")
