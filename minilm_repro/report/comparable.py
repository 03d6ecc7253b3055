"""Like with like: may a model of ours be compared (a Δ row) with a given paper entry?

The config states which paper row a model reproduces (``tracks.<t>.reference``: our model ->
``"table|paper model"`` or a list). A mapping is accepted only when the paper row has

* our model's shape (layers x hidden);
* our model's teacher path: footnote 5 of the paper, "the teacher assistant is only introduced
  for the model MiniLM (w/ TA)": the ``+TA`` rows go through the assistant, every other distilled
  row of Tables 2/3/5/6/7/11/13 is distilled directly from the teacher;
* our distillation variant where the row names one (MiniLM: attention + value relations of the
  last layer; Table 5 "w/o VR": attention only; Table 6: a value MSE; Table 7: layer to layer);
* and is not a released student (``released-*`` rows with a teacher: the in-house UniLMv2-style
  teacher or other fine-tuning settings). A released row is shown in the tables anyway, labelled
  "released"; it may be the Δ target only of a model we did not distil (the released checkpoint
  itself, fetched and fine-tuned here).

Anything else is an early, one-line error that names the fix. The facts about our model come
either from the records (the report) or from the config (:func:`check_track_references`, for the
workflow to call when it parses the config).
"""

from __future__ import annotations

import dataclasses

from minilm_repro.report.reference import NO_TEACHER, PaperEntry, resolve

PLAIN = "attention+value"  # the relations label of a MiniLM (v1) student (collect.distill_variant)
LAST = "last layer"


@dataclasses.dataclass(frozen=True)
class ModelFacts:
    """What decides comparability: shape (None if unknown), distilled here, via an assistant,
    and the distillation variant labels (collect.distill_variant; None for models not distilled)."""

    shape: tuple[int, int] | None
    distilled: bool
    via_assistant: bool = False
    relations: str | None = None
    transfer: str | None = None


@dataclasses.dataclass(frozen=True)
class Variant:
    """What a paper model is: distilled or not, via the assistant, and a check of our labels."""

    distilled: bool
    assistant: bool = False
    relations: str | None = None  # exact relations label; "*mse" = any label that contains "mse"
    transfer: str | None = None  # exact transfer label; "layer-wise" = any layer-wise map


VARIANTS = {
    "MiniLM": Variant(True, False, PLAIN, LAST),
    "MiniLM+TA": Variant(True, True, PLAIN, LAST),
    "MiniLM w/o VR": Variant(True, False, "attention", LAST),
    "Value-MSE": Variant(True, False, "*mse", LAST),
    "MiniLM+layer-to-layer": Variant(True, False, PLAIN, "layer-wise"),
    "mMiniLM-L12xH384": Variant(True, False, PLAIN, LAST),
    "mMiniLM-L6xH384+TA": Variant(True, True, PLAIN, LAST),
    "BERT_SMALL": Variant(False),  # pretrained from scratch with MLM: our ``scratch``
}


def _matches(want: str | None, have: str | None) -> bool:
    if want is None or have is None:
        return True
    if want == "*mse":
        return "mse" in have.lower()
    if want == "layer-wise":
        return have.startswith("layer-wise")
    return want == have


def comparability_error(model: str, entry: PaperEntry, facts: ModelFacts) -> str | None:
    """Why ``model`` may not take ``entry`` as its Δ target (one line naming the fix), or None."""
    fix = f"map {model!r} to a paper row of the same shape, teacher path and variant, or drop the reference"
    if facts.shape is not None and (entry.layers, entry.hidden) != tuple(facts.shape):
        return (f"{entry.key} is L{entry.layers}xH{entry.hidden} but {model!r} is "
                f"L{facts.shape[0]}xH{facts.shape[1]}: {fix}")
    if entry.released_student:
        if facts.distilled:
            return (f"{entry.key} is a released model (teacher {entry.teacher}, the authors' release settings), "
                    f"not comparable with {model!r} distilled here: it is shown as 'released' anyway; {fix}")
        return None
    variant = VARIANTS.get(entry.model, Variant(False) if entry.teacher == NO_TEACHER else None)
    if variant is None:  # another method's row (TinyBERT, DistilBERT, ...): only the shape is checked
        return None
    if variant.distilled != facts.distilled:
        what = "a student distilled here" if facts.distilled else "not distilled here"
        return f"{entry.key} is {'a distilled' if variant.distilled else 'an undistilled'} model but {model!r} is {what}: {fix}"
    if not variant.distilled:
        return None
    if variant.assistant != facts.via_assistant:
        ours = "through a teacher assistant" if facts.via_assistant else "directly from the teacher"
        theirs = "through the assistant (w/ TA)" if variant.assistant else "directly from the teacher (footnote 5)"
        return (f"{entry.key} was distilled {theirs} but {model!r} was distilled {ours}: "
                f"distil it {'via the assistant' if variant.assistant else 'from teacher'}, or {fix}")
    for name, want, have in (("relations", variant.relations, facts.relations),
                             ("transfer", variant.transfer, facts.transfer)):
        if not _matches(want, have):
            return f"{entry.key} needs {name} {want.lstrip('*')!r} but {model!r} has {have!r}: {fix}"
    return None


def checked_entries(model: str, keys, facts: ModelFacts) -> list[PaperEntry]:
    """The paper entries ``keys`` (one key or a list) name for ``model``; ValueError if one is not comparable."""
    out = []
    for key in [keys] if isinstance(keys, str) else list(keys):
        entry = resolve(key, facts.shape)
        why = comparability_error(model, entry, facts)
        if why:
            raise ValueError(f"reference {model} -> {key}: {why}")
        out.append(entry)
    return out


def facts_from_config(track: dict, model: str) -> ModelFacts:
    """ModelFacts of ``model`` from a track's config (``students``, ``scratch``, ``external``, ``teacher``)."""
    from minilm_repro.report.collect import distill_variant

    students = track.get("students", {})
    if model in students:
        spec = students[model]
        shape = spec.get("shape", {})
        relations, transfer = distill_variant({"method": "minilm", **spec})
        return ModelFacts((int(shape["layers"]), int(shape["hidden"])) if shape else None, True,
                          spec["teacher"] in students, relations, transfer)
    if model == "scratch" and "scratch" in track:
        like = students.get(track["scratch"].get("like"), {})
        shape = track["scratch"].get("shape") or like.get("shape")
        return ModelFacts((int(shape["layers"]), int(shape["hidden"])) if shape else None, False)
    if model == "teacher" or model in track.get("external", {}):
        return ModelFacts(None, False)
    raise ValueError(f"reference names {model!r}, which is not a model of this track")


def check_track_references(name: str, track: dict) -> None:
    """Every ``tracks.<name>.reference`` mapping of a config is comparable (ValueError otherwise)."""
    for model, keys in track.get("reference", {}).items():
        try:
            checked_entries(model, keys, facts_from_config(track, model))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"tracks.{name}.reference.{model}: {exc.args[0]}") from None
