"""The job planner: a validated workflow config -> every job of the DAG, with resolved settings and paths.

This is the one place where the config becomes jobs. A :class:`Job` names its Snakemake rule and
wildcards, the ``minilm-repro`` stage that runs it, its settings (the stage's config, exactly what
the stage parses: a grid point is a pair of numbers here, never a string parsed back), the paths
the stage reads and writes, and its MLflow tags. The rules (``workflow/rules/*.smk``) look their
jobs up in a :class:`Plan`; ``minilm-repro plan`` prints it; ``minilm-repro <stage> --configfile X
--job ID`` runs one job of it standalone, with the same spec a rule would pass.

Defaults are the stage dataclasses' (``minilm-repro plan --resolved`` shows them applied); the
config's ``finetune.defaults`` only override them for one config.
"""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

from minilm_repro.config import ConfigError
from minilm_repro.finetune.features import FeaturesConfig
from minilm_repro.plan.checks import check

RESULTS = "results"
WORK = "work"  # checkpoints: not Snakemake outputs, so a killed job resumes
BENCHMARK_DIR = f"{RESULTS}/benchmark"
GLUE = ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte")
# fine-tuning settings that are the finetune stage's (the others are the features stage's, or the grid)
FT_FEATURES_KEYS = ("languages", "max_length", "doc_stride", "max_train_examples", "train_task")
FT_GRID_KEYS = ("lr", "epochs", "seeds")


@dataclasses.dataclass(frozen=True)
class Job:
    """One job: ``rule`` + ``wildcards`` name it; ``stage`` runs it with ``settings`` and ``paths``.

    ``inputs`` are what Snakemake tracks (files or directories made by other jobs or given by the
    user); ``paths`` are the stage's arguments (they may point inside an input directory).
    """

    rule: str
    wildcards: tuple[tuple[str, str], ...]
    stage: str
    settings: dict
    inputs: dict
    paths: dict
    tags: dict = dataclasses.field(default_factory=dict)
    run_name: str | None = None
    tracked: bool = True  # an MLflow run in the profile's experiment

    @property
    def id(self) -> str:
        return "/".join([self.rule, *(v for _, v in self.wildcards)])

    def spec(self, profile: str, threads: int) -> dict:
        """What the stage receives (``--spec``): everything it needs, nothing it must look up."""
        return {"id": self.id, "stage": self.stage, "settings": self.settings, "paths": self.paths,
                "run": {"profile": profile if self.tracked else None, "tags": self.tags, "run_name": self.run_name or self.id,
                        "threads": threads}}


def grid_point(lr: float, epochs: float) -> str:
    """The path element of a grid point (a name only: the settings carry the numbers)."""
    return f"lr{lr:g}_ep{epochs:g}"


def _deep_merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for k, v in override.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Plan:
    """Every job of ``config`` (already schema-validated), indexed by id and by (rule, wildcards)."""

    def __init__(self, config: dict):
        self.config = _without_dropped(config)
        self.profile = config["profile"]
        self.threads = config.get("threads_per_job", 1)
        self.tracking = f"{RESULTS}/tracking/{self.profile}.json"
        self.tracks = list(config["tracks"])
        self.tasks_root = f"{BENCHMARK_DIR}/tasks" if config["tasks_root"] == "generated" else config["tasks_root"]
        check(self)
        self.jobs: dict[str, Job] = {}
        self._by_rule: dict[tuple, Job] = {}
        self._build()

    # ---- lookups -------------------------------------------------------------------------------
    def track(self, t: str) -> dict:
        return self.config["tracks"][t]

    def students(self, t: str) -> dict:
        return self.track(t).get("students", {})

    def externals(self, t: str) -> dict:
        """Checkpoints compared beside ours: {name: {"path": dir} | {"hub": {"id", "revision"}}}."""
        return self.track(t).get("external", {})

    def model_names(self, t: str) -> list[str]:
        names = (["teacher"] if "teacher" in self.track(t) else []) + list(self.students(t))
        if "scratch" in self.track(t):
            names.append("scratch")
        return names + list(self.externals(t))

    def finetuned_models(self, t: str) -> list[str]:
        """The track's ``finetune.models`` plus every external checkpoint (listing one is enough)."""
        listed = self.track(t)["finetune"]["models"]
        return listed + [e for e in self.externals(t) if e not in listed]

    def model_dir(self, t: str, model: str) -> str:
        """Where a model's directory is: ours under results/, external checkpoints (fetched from the
        hub or imported from a local directory) under resources/."""
        return f"resources/models/{t}/{model}" if model in self.externals(t) else f"{RESULTS}/{t}/models/{model}"

    def tokenizer_key(self, t: str, model: str) -> str:
        """Features are shared by every model with the same tokenizer: the track's, or an external's own."""
        return model if model in self.externals(t) else "track"

    def tokenizer_dir(self, t: str, key: str) -> str:
        return f"{RESULTS}/{t}/tokenizer" if key == "track" else self.model_dir(t, key)

    def ft_settings(self, task: str) -> dict:
        """The config's settings of ``task``: ``finetune.defaults`` overridden by the task's own."""
        return {**self.config["finetune"].get("defaults", {}), **self.config["finetune"]["tasks"][task]}

    def features_dir(self, t: str, task: str, model: str | None = None) -> str:
        key = self.tokenizer_key(t, model) if model else "track"
        return f"{RESULTS}/{t}/features/{key}/{task}_L{self.features_settings(task)['max_length']}"

    def features_settings(self, task: str) -> dict:
        s = self.ft_settings(task)
        out = {"task": task, "languages": s.get("languages", self.config["languages"]),
               "train_language": self.config["train_language"]}
        if "cross_language" in self.config["finetune"]:
            out["cross_language"] = self.config["finetune"]["cross_language"]
        out.update({k: s[k] for k in FT_FEATURES_KEYS if k in s and k != "languages"})
        out.setdefault("max_length", _default(FeaturesConfig, "max_length"))
        return out

    def job(self, rule: str, wildcards) -> Job:
        """The job of ``rule`` with these wildcards (a dict or Snakemake's wildcards object)."""
        key = (rule, tuple(sorted((k, str(v)) for k, v in dict(wildcards.items()).items())))
        try:
            return self._by_rule[key]
        except KeyError:
            raise KeyError(f"no {rule} job with wildcards {dict(key[1])} in the plan of profile {self.profile!r}") from None

    # ---- what the rules look up (workflow/rules/*.smk): functions of a job's wildcards ----------
    def inputs_of(self, rule: str):
        """``input: unpack(PLAN.inputs_of(rule))``: the named inputs of the rule's job."""
        return lambda wildcards: self.job(rule, wildcards).inputs

    def spec_of(self, rule: str):
        """``params: spec=PLAN.spec_of(rule)``: the job's spec as key-sorted JSON, the stage's one
        argument and the rule's params, so any change of the job's settings reruns it (and a
        re-saved config, other key order, does not)."""
        return lambda wildcards: as_json(self.job(rule, wildcards).spec(self.profile, self.threads))

    def stage_of(self, rule: str):
        """The ``minilm-repro`` command of the rule's job (the tokenizer rule trains one or exports one)."""
        return lambda wildcards: self.job(rule, wildcards).stage

    def setting_of(self, rule: str, key: str):
        return lambda wildcards: self.job(rule, wildcards).settings[key]

    def split_option_of(self, rule: str):
        """``--split-dev FRACTION`` of a task import whose source is a dev set only ("" otherwise)."""
        def option(wildcards):
            fraction = self.job(rule, wildcards).settings.get("split_dev")
            return "" if fraction is None else f"--split-dev {fraction}"
        return option

    def path_of(self, rule: str, key: str):
        return lambda wildcards: self.job(rule, wildcards).paths[key]

    def option_of(self, rule: str, key: str, flag: str):
        """``--flag VALUE`` of a job's setting ``key`` ("" when the setting is not given)."""
        def option(wildcards):
            value = self.job(rule, wildcards).settings.get(key)
            return "" if value is None else f"{flag} {value}"
        return option

    def wildcard_values(self, rule: str, wildcard: str) -> str:
        """A regex matching exactly the values ``wildcard`` takes in ``rule``'s jobs (nothing if none)."""
        names = sorted({dict(j.wildcards)[wildcard] for j in self.of_rule(rule)})
        return "|".join(re.escape(n) for n in names) if names else "(?!x)x"

    def of_rule(self, rule: str) -> list[Job]:
        return [j for j in self.jobs.values() if j.rule == rule]

    # ---- checks that need more than the schema ------------------------------------------------
    # ---- the jobs ------------------------------------------------------------------------------
    def _add(self, rule: str, wildcards: dict, stage: str, settings: dict, inputs: dict, paths: dict,
             tags: dict | None = None, run_name: str | None = None, tracked: bool = True) -> Job:
        job = Job(rule, tuple((k, str(v)) for k, v in wildcards.items()), stage, settings, inputs, paths,
                  {k: v for k, v in (tags or {}).items() if v is not None}, run_name, tracked)
        self.jobs[job.id] = job
        self._by_rule[(rule, tuple(sorted(job.wildcards)))] = job
        return job

    def _tags(self, t: str, model: str, **kw) -> dict:
        teacher = self.students(t)[model]["teacher"] if model in self.students(t) else None
        return {"track": t, "model": model, "teacher": teacher, **kw}

    def _build(self) -> None:
        cfg = self.config
        if "benchmark" in cfg:
            self._add("generate_benchmark", {}, "generate", cfg["benchmark"], {}, {"out": BENCHMARK_DIR})
        for task, src in cfg.get("task_sources", {}).items():
            name = f"glue/{task}" if task in GLUE else task
            if "hub_id" in src:
                self._add(f"download_{task}", {}, "tasks-download", {**src, "task": name}, {},
                          {"out": self.tasks_root, "done": self.task_marker(task)})
            elif "url" in src:  # the authors' release archive: fetched and unpacked, then imported
                release = f"resources/releases/{task}"
                self._add(f"fetch_{task}_release", {}, "fetch-release", {k: src[k] for k in ("url", "sha256") if k in src},
                          {}, {"out": release, "done": f"{release}/RELEASE.json"})
                self._add(f"import_{task}", {}, "tasks-import", {"path": f"{release}/files", "task": name},
                          {"release": f"{release}/RELEASE.json"},
                          {"out": self.tasks_root, "done": self.task_marker(task)})
            else:  # local files in their distributed format (tasks import; optionally a dev set split by document)
                self._add(f"import_{task}", {}, "tasks-import", {**src, "task": name},
                          {"source": _task_source_files(src["path"])},
                          {"out": self.tasks_root, "done": self.task_marker(task)})
        self._add("track_init", {}, "track-init", {}, {}, {"out": self.tracking})
        for t in self.tracks:
            self._track_jobs(t)
        self._report_jobs()

    def _corpus_text(self, t: str) -> tuple[list[str], list[str], list[str] | None]:
        """(text files the stage reads, inputs Snakemake tracks, each file's source name or None)."""
        text = self.track(t)["corpus"]["text"]
        if "generated" in text:
            kind = text["generated"]
            langs = [self.config["train_language"]] if kind == "mono" else self.config["languages"]
            return [f"{BENCHMARK_DIR}/corpus/{kind}/{lang}.txt" for lang in langs], [BENCHMARK_DIR], None
        if "files" in text:
            return list(text["files"]), list(text["files"]), None
        if "hub" in text:
            files = [f"resources/corpus/{t}/{lang}.txt" for lang in text["hub"]["languages"]]
            return files, files, None
        if "from_tasks" in text:  # the imported tasks' train text, their evaluation text excluded
            files = [f"resources/corpus/{t}/en.txt"]
            return files, files, None
        files, names = [], []
        for name, src in text["sources"].items():
            if "clean" in src:
                got = [self.cleaned_text(t, name)]
            elif "files" in src:
                got = src["files"]
            else:
                got = [f"resources/corpus/{t}/{name}/{lang}.txt" for lang in src["hub"]["languages"]]
            files += got
            names += [name] * len(got)
        return files, files, names

    def cleaned_text(self, t: str, source: str) -> str:
        """The cleaned text of a corpus source with ``clean`` (its language: ``language`` or the train language)."""
        lang = self.track(t)["corpus"]["text"]["sources"][source].get("language", self.config["train_language"])
        return f"resources/cleaned/{t}/{source}/{lang}.txt"

    def _track_jobs(self, t: str) -> None:
        tr, w, models = self.track(t), {"track": t}, f"{RESULTS}/{t}/models"
        if "teacher" in tr:
            self._data_jobs(t)
            self._teacher_job(t)
        corpus, teacher_dir = f"{RESULTS}/{t}/corpus", self.model_dir(t, "teacher")
        if "scratch" in tr:
            like = self.students(t)[tr["scratch"]["like"]]
            self._add("pretrain_scratch", w, "pretrain", {"shape": like["shape"], "optim": tr["scratch"]["optim"]},
                      {"teacher": teacher_dir, "corpus": corpus, "tracking": self.tracking},
                      {"tokenizer": teacher_dir, "corpus": corpus, "like": teacher_dir,
                       "workdir": f"{WORK}/{t}/pretrain/scratch", "out": f"{models}/scratch",
                       "metrics": f"{models}/scratch.metrics.json"}, self._tags(t, "scratch"), "scratch")
        for name, spec in self.students(t).items():
            self._add("distill", {**w, "model": name}, "distill", {k: v for k, v in spec.items() if k != "teacher"},
                      {"teacher": self.model_dir(t, spec["teacher"]), "corpus": corpus, "tracking": self.tracking},
                      {"teacher": self.model_dir(t, spec["teacher"]), "teacher_name": spec["teacher"], "corpus": corpus,
                       "out": f"{models}/{name}", "metrics": f"{models}/{name}.metrics.json",
                       "workdir": f"{WORK}/{t}/distill/{name}"}, self._tags(t, name), name)
        for name, ext in self.externals(t).items():
            mw, out = {**w, "model": name}, self.model_dir(t, name)
            settings = {"tokenizer": ext["tokenizer"]} if "tokenizer" in ext else {}
            if "hub" in ext:
                self._add("fetch_external", mw, "fetch-model", {**ext["hub"], **settings}, {}, {"out": out},
                          run_name=ext["hub"]["id"], tracked=False)
            else:
                self._add("import_external", mw, "import-model", {**ext, **settings}, {"source": _source_files(ext)},
                          {"out": out}, run_name=ext["path"], tracked=False)
            self._add("describe_external", mw, "describe-model", {}, {"model": out, "tracking": self.tracking},
                      {"model": out, "out": f"{models}/{name}.metrics.json"}, self._tags(t, name), out)
        self._finetune_jobs(t)
        if tr.get("speed"):
            self._speed_job(t)

    def _data_jobs(self, t: str) -> None:
        """The track's tokenizer and prepared corpus (and the corpus download)."""
        tr, w = self.track(t), {"track": t}
        text_files, text_inputs, sources = self._corpus_text(t)
        teacher_dir, tokenizer = self.model_dir(t, "teacher"), f"{RESULTS}/{t}/tokenizer"
        if "train" in tr["tokenizer"]:
            self._add("tokenizer", w, "train-tokenizer", tr["tokenizer"]["train"], {"text": text_inputs},
                      {"text": text_files, "out": tokenizer})
        else:
            self._add("tokenizer", w, "export-tokenizer", {}, {"teacher": teacher_dir},
                      {"model": teacher_dir, "out": tokenizer})
        text = tr["corpus"]["text"]
        if "hub" in text:
            for lang in text["hub"]["languages"]:
                self._add("fetch_corpus", {**w, "lang": lang}, "fetch-corpus", text["hub"], {},
                          {"lang": lang, "out": f"resources/corpus/{t}/{lang}.txt"})
        if "from_tasks" in text:
            self._add("build_corpus", w, "tasks-build-corpus", text["from_tasks"],
                      {"tasks": [self.task_marker(n) for n in self.config.get("task_sources", {})]},
                      {"tasks_root": self.tasks_root, "out": f"resources/corpus/{t}/en.txt"})
        for name, src in text.get("sources", {}).items():
            if "clean" in src:  # raw files (Gutenberg, WikiText): cleaned, evaluation text of the tasks excluded
                tasks = [self.task_marker(n) for n in self.config.get("task_sources", {})]
                lang = Path(self.cleaned_text(t, name)).stem
                self._add("clean_text", {**w, "source": name, "lang": lang}, "clean-text", src["clean"],
                          {"files": list(src["files"]), "tasks": tasks},
                          {"files": list(src["files"]), "source": name, "out": self.cleaned_text(t, name),
                           **({"tasks_root": self.tasks_root} if tasks else {})})
            for lang in src.get("hub", {}).get("languages", []):
                self._add("fetch_corpus_source", {**w, "source": name, "lang": lang}, "fetch-corpus", src["hub"], {},
                          {"lang": lang, "out": f"resources/corpus/{t}/{name}/{lang}.txt"})
        self._add("prepare_corpus", w, "prepare-corpus", {k: v for k, v in tr["corpus"].items() if k != "text"},
                  {"text": text_inputs, "tokenizer": tokenizer},
                  {"text": text_files, "tokenizer": tokenizer, "out": f"{RESULTS}/{t}/corpus",
                   **({"sources": sources} if sources else {})})

    def _teacher_job(self, t: str) -> None:
        """The teacher: pretrained here, fetched from the hub, or imported from a local directory."""
        tr, w, models = self.track(t), {"track": t}, f"{RESULTS}/{t}/models"
        tokenizer, corpus = f"{RESULTS}/{t}/tokenizer", f"{RESULTS}/{t}/corpus"
        out = {"out": f"{models}/teacher", "metrics": f"{models}/teacher.metrics.json"}
        teacher = tr["teacher"]
        if "pretrain" in teacher:
            self._add("pretrain_teacher", w, "pretrain", teacher["pretrain"],
                      {"tokenizer": tokenizer, "corpus": corpus, "tracking": self.tracking},
                      {"tokenizer": tokenizer, "corpus": corpus, "like": None, "workdir": f"{WORK}/{t}/pretrain/teacher",
                       **out}, self._tags(t, "teacher"), "teacher")
        elif "hub" in teacher:
            self._add("fetch_teacher", w, "fetch-model", teacher["hub"], {"tracking": self.tracking}, out,
                      self._tags(t, "teacher"), teacher["hub"]["id"])
        else:
            self._add("import_teacher", w, "import-model", teacher,
                      {"source": _source_files(teacher), "tracking": self.tracking}, out,
                      self._tags(t, "teacher"), teacher["path"])

    def _task_inputs(self, task: str) -> list[str]:
        """What a tokenize-task job needs: the generated benchmark or the task's download marker."""
        if self.config["tasks_root"] == "generated":
            return [BENCHMARK_DIR]
        sources = self.config.get("task_sources", {})
        needed = {"mlqa": ["mlqa", "squad"]}.get(task, [task])
        return [self.task_marker(n) for n in needed if n in sources]

    def task_marker(self, task: str) -> str:
        """The file a task's download or import job leaves when its data is in ``tasks_root``."""
        kind = "downloaded" if "hub_id" in self.config["task_sources"][task] else "imported"
        return f"{self.tasks_root}/.{task}.{kind}"

    def tasks_of(self, t: str, model: str) -> list[str]:
        """The tasks ``model`` is fine-tuned on: the track's, or its own ``finetune.tasks_by_model`` list."""
        ft = self.track(t)["finetune"]
        return ft.get("tasks_by_model", {}).get(model, ft["tasks"])

    def _finetune_jobs(self, t: str) -> None:
        speed_task = (self.track(t).get("speed") or {}).get("task")
        for task in self.track(t)["finetune"]["tasks"]:
            s, feats = self.ft_settings(task), self.features_settings(task)
            models = [m for m in self.finetuned_models(t) if task in self.tasks_of(t, m)]
            needs = models if task != speed_task else self.finetuned_models(t)
            keys = sorted({self.tokenizer_key(t, m) for m in needs}, key=lambda k: (k != "track", k))
            for key in keys:
                self._add("tokenize_task", {"track": t, "tok": key, "task": task, "maxlen": feats["max_length"]},
                          "tokenize-task", feats,
                          {"tokenizer": self.tokenizer_dir(t, key), "data": self._task_inputs(task)},
                          {"tokenizer": self.tokenizer_dir(t, key), "tasks_root": self.tasks_root,
                           "out": f"{RESULTS}/{t}/features/{key}/{task}_L{feats['max_length']}"})
            stage_settings = {k: v for k, v in s.items() if k not in FT_FEATURES_KEYS + FT_GRID_KEYS}
            for model in models:
                for lr in s["lr"]:
                    for epochs in s["epochs"]:
                        for seed in s["seeds"]:
                            self._finetune_job(t, model, task, stage_settings, lr, epochs, seed)

    def _finetune_job(self, t: str, model: str, task: str, settings: dict, lr: float, epochs: float, seed: int):
        gp = grid_point(lr, epochs)
        rel = f"{t}/finetune/{model}/{task}/{gp}/seed{seed}"
        paths = {"model": self.model_dir(t, model), "features": self.features_dir(t, task, model),
                 "tasks_root": self.tasks_root, "workdir": f"{WORK}/{rel}", "metrics": f"{RESULTS}/{rel}.json",
                 "predictions": f"{RESULTS}/{rel}.predictions.json"}
        self._add("finetune", {"track": t, "model": model, "task": task, "gp": gp, "seed": seed}, "finetune",
                  {**settings, "task": task, "lr": lr, "epochs": epochs, "seed": seed},
                  {"model": paths["model"], "features": paths["features"], "tracking": self.tracking}, paths,
                  self._tags(t, model, task=task, grid_point=gp, seed=str(seed)), f"{t}/{model}/{task}/{gp}/seed{seed}")

    def _speed_job(self, t: str) -> None:
        spec = self.track(t)["speed"]
        names = self.finetuned_models(t)
        models = [self.model_dir(t, m) for m in names]
        feats = [self.features_dir(t, spec["task"], m) for m in names]
        self._add("speed", {"track": t}, "speed", {k: v for k, v in spec.items() if k != "task"},
                  {"models": models, "features": feats, "tracking": self.tracking},
                  {"models": models, "features": feats, "names": names, "out": f"{RESULTS}/{t}/speed.json",
                   "run_prefix": f"{t}/"},
                  {m: {**self._tags(t, m), "task": spec["task"]} for m in names})

    # ---- report --------------------------------------------------------------------------------
    def finetune_metrics_files(self) -> list[str]:
        return [j.paths["metrics"] for j in self.of_rule("finetune")]

    def predictions_files(self) -> list[str]:
        """Per-example predictions beside each fine-tuning record (the report's bootstrap intervals)."""
        return [j.paths["predictions"] for j in self.of_rule("finetune")]

    def model_metrics_files(self) -> list[str]:
        return [f"{RESULTS}/{t}/models/{m}.metrics.json" for t in self.tracks for m in self.model_names(t)]

    def speed_files(self) -> list[str]:
        return [j.paths["out"] for j in self.of_rule("speed")]

    def figure_names(self) -> list[str]:
        """The Pareto view, per-language scores of tracks fine-tuned on XNLI / MLQA, loss curves when
        any model is trained here (minilm_repro.report.plots)."""
        names = ["pareto"]
        for t in self.tracks:
            tasks = self.track(t)["finetune"]["tasks"] if self.finetuned_models(t) else []
            names += [f"{t}_{task}_per_language" for task in ("xnli", "mlqa") if task in tasks]
        trained = any(self.students(t) or "pretrain" in self.track(t).get("teacher", {}) or "scratch" in self.track(t)
                      for t in self.tracks)
        return names + (["loss_curves"] if trained else [])

    def _report_jobs(self) -> None:
        inputs = {"finetune": self.finetune_metrics_files(), "models": self.model_metrics_files(),
                  "speed": self.speed_files()}
        references = {t: self.track(t).get("reference", {}) for t in self.tracks}
        self._add("tables", {}, "report", {"references": references},
                  {**inputs, "predictions": self.predictions_files()}, {**inputs, "out": f"{RESULTS}/tables"})
        self._add("results_page", {}, "results-page", {}, {"checks": f"{RESULTS}/tables/checks.json"},
                  {"results": RESULTS, "out": f"{RESULTS}/results-page.md", "tasks_root": self.tasks_root})
        self._add("figures", {}, "figures", {"expect": self.figure_names()}, inputs,
                  {**inputs, "out": f"{RESULTS}/figures"})

    def report_targets(self) -> list[str]:
        """Every output of the tables and figures jobs (the ``all`` rule requests them all)."""
        return [f"{RESULTS}/tables/checks.json", f"{RESULTS}/tables/html", f"{RESULTS}/results-page.md",
                *(f"{RESULTS}/figures/{name}.{ext}" for name in self.figure_names() for ext in ("png", "pdf"))]


def _without_dropped(config: dict) -> dict:
    """``config`` without the students and ``finetune.tasks_by_model`` entries that a later config file set
    to null (an overlay, e.g. a budget's, drops them)."""
    def pruned(track: dict) -> dict:
        out = dict(track)
        if out.get("students"):
            out["students"] = {n: s for n, s in out["students"].items() if s is not None}
        by_model = (out.get("finetune") or {}).get("tasks_by_model")
        if by_model:
            out["finetune"] = {**out["finetune"], "tasks_by_model": {m: v for m, v in by_model.items() if v is not None}}
        return out

    return {**config, "tracks": {t: pruned(tr) for t, tr in config["tracks"].items()}}


def _source_files(src: dict) -> list[str]:
    """The files of a local model directory (and of its tokenizer override): Snakemake inputs, so that
    replacing any of them reruns the import and everything built on it."""
    from pathlib import Path

    dirs = [src["path"]] + ([src["tokenizer"]["path"]] if "path" in src.get("tokenizer", {}) else [])
    return sorted(str(f) for d in dirs for f in Path(d).iterdir() if f.is_file())


def _task_source_files(path: str) -> list[str]:
    """A local task source's files (a file, or the files of a folder): inputs of its import job."""
    from pathlib import Path

    p = Path(path)
    if not p.exists():
        raise ConfigError(f"task_sources: {path} does not exist; give a task's distributed files (a GLUE folder such "
                          "as glue_data/SST-2, a SQuAD/MLQA .json, an XNLI .tsv) or a hub id and revision")
    return [str(p)] if p.is_file() else sorted(str(f) for f in p.rglob("*") if f.is_file())


def _default(cls, field: str):
    return {f.name: f for f in dataclasses.fields(cls)}[field].default


def load_config(configfiles: list[str], schema: str | None = None) -> dict:
    """The workflow config of ``configfiles`` (merged in order, as Snakemake merges them), validated."""
    from pathlib import Path

    import yaml

    from minilm_repro.config import validate_workflow_config

    config: dict = {}
    for f in configfiles:
        if not Path(f).is_file():
            raise ConfigError(f"config file {f} does not exist")
        config = _deep_merge(config, yaml.safe_load(Path(f).read_text()) or {})
    validate_workflow_config(config, schema or default_schema(), configfiles)
    return config


def default_schema() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2] / "workflow" / "schemas" / "config.schema.yaml")


def default_configfile() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parents[2] / "workflow" / "config" / "smoke.yaml")


def as_json(obj) -> str:
    """Key-sorted JSON: the same settings in another key order (a re-saved config) are the same
    Snakemake params and rerun nothing."""
    return json.dumps(obj, sort_keys=True)

