"""The planner's checks of a config: what its JSON schema cannot say (model names, sources on disk,
lengths against the models' positions, layer references, paper references). Each failure is
one :class:`~minilm_repro.config.ConfigError` line naming the config key and the fix."""

from __future__ import annotations

from minilm_repro.config import ConfigError
from minilm_repro.jobs.model_io import PAD_POSITIONS

RESERVED_MODELS = ("teacher", "scratch")  # names the planner gives models of its own


def check(plan) -> None:
    """Every check of a config that needs more than its schema (one-line ConfigErrors naming the key)."""
    check_tasks_root(plan)
    for t in plan.tracks:
        tr = plan.track(t)
        trained = bool(plan.students(t)) or "scratch" in tr
        missing = [k for k in ("tokenizer", "corpus", "teacher") if k not in tr and (trained or k != "teacher")]
        if "teacher" in tr or trained:
            if missing:
                raise ConfigError(f"tracks.{t}: a track that has a teacher or trains students needs "
                                  f"{', '.join(missing)}; a checkpoint-only track lists just external and finetune")
        elif not plan.externals(t):
            raise ConfigError(f"tracks.{t}: no teacher, students or external checkpoints: nothing to run")
        for where, src in model_sources(plan, t):
            check_model_source(where, src)
        names = plan.model_names(t)
        check_lengths(plan, t)
        for s, spec in plan.students(t).items():
            if s in RESERVED_MODELS:
                raise ConfigError(f"tracks.{t}.students: {s!r} is a reserved model name")
            if spec["teacher"] not in names or spec["teacher"] == "scratch":
                raise ConfigError(f"tracks.{t}.students.{s}.teacher = {spec['teacher']!r}: not a model of this track")
            check_layers(f"tracks.{t}.students.{s}", spec)
        if "scratch" in plan.track(t) and plan.track(t)["scratch"]["like"] not in plan.students(t):
            raise ConfigError(f"tracks.{t}.scratch.like = {plan.track(t)['scratch']['like']!r}: "
                              "not a student of this track")
        ft = plan.track(t)["finetune"]
        for task in ft["tasks"]:
            if task not in plan.config["finetune"]["tasks"]:
                raise ConfigError(f"tracks.{t}.finetune.tasks names {task!r}, which has no entry in finetune.tasks")
        for model in plan.finetuned_models(t):
            if model not in names:
                raise ConfigError(f"tracks.{t}.finetune.models names {model!r}; models of this track: {names}")
        for model, tasks in ft.get("tasks_by_model", {}).items():
            if model not in plan.finetuned_models(t):
                raise ConfigError(f"tracks.{t}.finetune.tasks_by_model.{model}: not one of the track's "
                                  f"finetune.models {plan.finetuned_models(t)}")
            extra = [x for x in tasks if x not in ft["tasks"]]
            if extra:
                raise ConfigError(f"tracks.{t}.finetune.tasks_by_model.{model}: {extra} not among the track's "
                                  f"finetune.tasks {ft['tasks']}")
        speed = plan.track(t).get("speed")
        if speed and speed["task"] not in ft["tasks"]:
            raise ConfigError(f"tracks.{t}.speed.task {speed['task']!r} must be one of the track's finetune tasks")
        check_references(plan, t, names)


def check_tasks_root(plan) -> None:
    """A task that no generated benchmark, download or import provides must already be in tasks_root."""
    from pathlib import Path

    if plan.config["tasks_root"] == "generated":
        return
    sources = plan.config.get("task_sources", {})
    tasks = {t for track in plan.tracks for t in plan.track(track)["finetune"]["tasks"]}
    needed = sorted({n for t in tasks for n in (["mlqa"] if t == "mlqa" and plan.ft_settings(t).get("train_task")
                                                else {"mlqa": ["mlqa", "squad"]}.get(t, [t]))})
    for task in needed:
        if task not in sources and not (Path(plan.tasks_root) / task).is_dir():
            raise ConfigError(f"tasks_root {plan.tasks_root} has no task {task!r} ({Path(plan.tasks_root) / task} is "
                              f"missing): add task_sources.{task} (a hub id or local files) or import it there with "
                              f"`minilm-repro tasks import`")


def positions(plan, t: str, model: str) -> tuple[int, str] | None:
    """(usable sequence length, where that number comes from) of a model, when the config or a
    local config.json says it (a hub checkpoint's is checked by its stages once fetched)."""
    import json
    from pathlib import Path

    tr = plan.track(t)
    source = plan.externals(t).get(model) or (tr.get("teacher") if model not in plan.externals(t) else None)
    if source is None:
        return None
    if "pretrain" in source:
        return source["pretrain"]["arch"].get("max_position", 512), f"tracks.{t}.teacher.pretrain.arch.max_position"
    if "path" in source and (Path(source["path"]) / "config.json").is_file():
        cfg = json.loads((Path(source["path"]) / "config.json").read_text())
        # RoBERTa-family positions start after the padding index
        offset = cfg.get("pad_token_id", 1) + 1 if cfg.get("model_type") in PAD_POSITIONS else 0
        return cfg["max_position_embeddings"] - offset, f"{source['path']}/config.json (max_position_embeddings)"
    return None


def check_lengths(plan, t: str) -> None:
    """Sequence lengths within the models' position range, named with both numbers."""
    tr = plan.track(t)
    limits = {m: positions(plan, t, m) for m in ["teacher", *plan.externals(t)] if m in plan.model_names(t)}
    teacher = limits.get("teacher")
    if teacher and "corpus" in tr and tr["corpus"]["max_seq_len"] > teacher[0]:
        raise ConfigError(f"tracks.{t}.corpus.max_seq_len = {tr['corpus']['max_seq_len']} exceeds the teacher's "
                          f"{teacher[0]} positions ({teacher[1]}): lower it to at most {teacher[0]}")
    for model in plan.finetuned_models(t):
        limit = limits.get(model if model in plan.externals(t) else "teacher")
        for task in plan.tasks_of(t, model) if limit else []:
            length = plan.features_settings(task)["max_length"]
            if length > limit[0]:
                raise ConfigError(f"finetune.tasks.{task}.max_length = {length} exceeds the {limit[0]} positions of "
                                  f"{model} ({limit[1]}): lower it to at most {limit[0]}")


def model_sources(plan, t: str) -> list[tuple[str, dict]]:
    """(config key, source) of the track's teacher and external checkpoints: {"hub": ...} | {"path": ...}."""
    out = [(f"tracks.{t}.teacher", plan.track(t)["teacher"])] if "teacher" in plan.track(t) else []
    for name, ext in plan.externals(t).items():
        out.append((f"tracks.{t}.external.{name}", ext))
        if "tokenizer" in ext:
            out.append((f"tracks.{t}.external.{name}.tokenizer", ext["tokenizer"]))
    return [(w, s) for w, s in out if "pretrain" not in s]


def check_layers(where: str, spec: dict) -> None:
    """Layer references are "K of N" or "last" (models/layers.py); the student's N is its depth."""
    from minilm_repro.models.layers import check_config_layer_ref, layer_index

    pairs = [(spec[k], k) for k in ("teacher_layer", "student_layer") if k in spec]
    pairs += [(ref, f"layer_map[{i}][{j}]") for i, pair in enumerate(spec.get("layer_map", [])) for j, ref in enumerate(pair)]
    for ref, key in pairs:
        check_config_layer_ref(ref, f"{where}.{key}")
        if key == "student_layer" or key.endswith("[1]"):
            layer_index(ref, spec["shape"]["layers"], f"{where}.{key} (the student has {spec['shape']['layers']} layers)")


def check_references(plan, t: str, names: list[str]) -> None:
    """Each ``tracks.<t>.reference`` maps one of our models to a comparable paper row (report/comparable.py)."""
    from minilm_repro.report.comparable import check_track_references

    try:
        check_track_references(t, plan.track(t))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def check_model_source(where: str, src: dict) -> None:
    """A local model source must exist and be an HF model directory (one line naming the fix)."""
    from pathlib import Path

    if "path" not in src:
        return
    path = Path(src["path"])
    if not path.exists():
        raise ConfigError(f"{where}.path: {path} does not exist; give an HF model directory "
                          "(config.json, weights, tokenizer files) or a hub id")
    if where.endswith(".tokenizer"):
        if not path.is_dir() or not any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json")):
            raise ConfigError(f"{where}.path: {path} holds no tokenizer (tokenizer.json or tokenizer_config.json); "
                              "give the folder a tokenizer's `save_pretrained` wrote")
        return
    if not path.is_dir() or not (path / "config.json").is_file():
        raise ConfigError(f"{where}.path: {path} is not a model directory (no config.json); give the folder "
                          "`save_pretrained` wrote (config.json, weights, tokenizer files)")
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        raise ConfigError(f"{where}.path: {path} has no weights (*.safetensors or *.bin)")
