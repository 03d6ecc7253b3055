"""Typed, validated configuration.

Two levels:

* the whole workflow config (``workflow/config/*.yaml``) is checked against
  ``workflow/schemas/config.schema.yaml`` before any job starts (:func:`validate_workflow_config`);
  an error names the offending key path and the config file that holds it;
* each stage receives its resolved slice of that config as JSON and parses it into a dataclass
  (:func:`parse_stage_config`), so the package checks its inputs without Snakemake too.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration problem, with the key path and the file it came from."""


def config_hash(obj: Any) -> str:
    """Short stable hash of a JSON-able object (key order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def _key_in_file(path: Path, key_path: list) -> bool:
    try:
        node = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        return False
    for key in key_path:
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return False
    return True


def _specific(err):
    """The error inside an ``anyOf`` that says what is wrong: not the "is not null" of an optional-null branch,
    and the deepest of the rest (``tracks.mono.students.ta.optim.steps``, not ``tracks.mono.students.ta``)."""
    while err.context:
        candidates = [e for e in err.context if not (e.validator == "type" and e.validator_value == "null")]
        if not candidates:
            break
        err = max(candidates, key=lambda e: len(e.absolute_path))
    return err


def validate_workflow_config(config: dict, schema_path: str | Path, config_files: list[str | Path]) -> None:
    """Validate ``config`` against the JSON schema; raise :class:`ConfigError` naming key and file.

    ``config_files`` are the YAML files Snakemake merged (later ones override earlier ones);
    the error names the last file that sets the offending key.
    """
    import jsonschema

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    messages = []
    for err in map(_specific, errors):
        key_path = list(err.absolute_path)
        if err.validator == "additionalProperties":
            extra = [k for k in err.instance if k not in err.schema.get("properties", {})]
            key_path = key_path + extra[:1]
            allowed = ", ".join(sorted(err.schema.get("properties", {})))
            what = f"unknown key {'.'.join(map(str, key_path))!r} (allowed here: {allowed})"
        else:
            what = f"key {'.'.join(map(str, key_path)) or '<top>'!r}: {err.message}"
        files = [str(f) for f in config_files if _key_in_file(Path(f), key_path)]
        where = files[-1] if files else (", ".join(map(str, config_files)) or "<command line>")
        messages.append(f"{where}: {what}")
    raise ConfigError("invalid workflow config:\n  " + "\n  ".join(messages))


def parse_stage_config(cls: type[T], data: dict | str, where: str = "stage config") -> T:
    """Build dataclass ``cls`` from a dict (or JSON string); unknown or missing keys are errors."""
    if isinstance(data, str):
        data = json.loads(data)
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    missing = [
        n for n, f in fields.items()
        if n not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {missing}")
    return cls(**data)
