"""A job's result as MLflow metrics, step histories and tags, and back (no MLflow calls here).

A job's result (the dict its metrics file holds) is logged whole: numbers as metrics
``result/<path>``, other values as JSON tags ``result/<path>``, step histories (lists of dicts
with a ``step``) as metric histories ``history/<path>/<field>``; :func:`decode_result` turns
them back into the same dict, so the tables can be rebuilt from MLflow alone
(:func:`minilm_repro.jobs.tracking.job_records`).
"""

from __future__ import annotations

import json

RESULT_PREFIX = "result/"
HISTORY_PREFIX = "history/"


def flatten_params(d: dict, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten_params(v, key + "."))
        else:
            out[key] = json.dumps(v) if isinstance(v, (list, tuple)) else str(v)
    return out


def encode_result(result: dict) -> tuple[dict[str, float], dict[str, list[tuple[int, float]]], dict[str, str]]:
    """(final metrics, step histories, tags) carrying every field of a job's ``result`` dict.

    Numbers become metrics ``result/<path>`` (path = nested keys joined by ``/``), lists of
    dicts that all have a ``step`` become histories ``history/<path>/<field>`` (one point per
    step), anything else (strings, booleans, None, other lists) a JSON tag ``result/<path>``.
    """
    metrics: dict[str, float] = {}
    histories: dict[str, list[tuple[int, float]]] = {}
    tags: dict[str, str] = {}

    def walk(node, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if "/" in str(key) or not str(key):
                    raise ValueError(f"result key {path + str(key)!r}: keys must be non-empty and contain no '/'")
                walk(value, f"{path}{key}/")
            return
        key = path.rstrip("/")
        if isinstance(node, (int, float)) and not isinstance(node, bool):
            metrics[RESULT_PREFIX + key] = float(node)
        elif isinstance(node, list) and node and all(isinstance(h, dict) and "step" in h for h in node):
            for point in node:
                for field, value in point.items():
                    if field == "step":
                        continue
                    if not isinstance(value, (int, float)) or isinstance(value, bool):
                        raise ValueError(f"result history {key!r}: field {field!r} is not a number ({value!r})")
                    histories.setdefault(f"{HISTORY_PREFIX}{key}/{field}", []).append((int(point["step"]), float(value)))
        else:
            tags[RESULT_PREFIX + key] = json.dumps(node)

    if {"tags", "config"} & set(result):
        raise ValueError("a job result must not hold 'tags' or 'config': those are the run's own tags and params")
    walk(result, "")
    return metrics, histories, tags


def _set_path(root: dict, path: str, value) -> None:
    *parents, leaf = path.split("/")
    node = root
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def decode_result(metrics: dict[str, float], histories: dict[str, list[tuple[int, float]]],
                  tags: dict[str, str]) -> dict:
    """The inverse of :func:`encode_result` (integers come back as floats)."""
    result: dict = {}
    for key, value in tags.items():
        if key.startswith(RESULT_PREFIX):
            _set_path(result, key[len(RESULT_PREFIX):], json.loads(value))
    for key, value in metrics.items():
        if key.startswith(RESULT_PREFIX):
            _set_path(result, key[len(RESULT_PREFIX):], value)
    lists: dict[str, dict[int, dict]] = {}
    for key, points in histories.items():
        path, field = key[len(HISTORY_PREFIX):].rsplit("/", 1)
        by_step = lists.setdefault(path, {})
        for step, value in points:
            by_step.setdefault(step, {"step": step})[field] = value
    for path, by_step in lists.items():
        _set_path(result, path, [by_step[s] for s in sorted(by_step)])
    return result


def unflatten_params(params: dict[str, str]) -> dict:
    out: dict = {}
    for key, value in params.items():
        _set_path(out, key.replace(".", "/"), value)
    return out
