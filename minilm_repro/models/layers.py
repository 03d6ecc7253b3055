"""Layer references in configs, in one numbering that cannot be misread.

A config names a layer as ``"K of N"``: the K-th of the model's N Transformer layers, counted from
1 as the papers count them ("layer 21 of BERT-large" is ``"21 of 24"``), or ``"last"``. A bare
number is refused: 21 could mean the 21st layer or index 21 (the 22nd). Stating N also checks
the reference against the model it is applied to. In Python (``DistillationLoss``, tests) layers
are list indices (0-based, -1 = last); :func:`layer_index` turns a reference into one.
"""

from __future__ import annotations

import re

from minilm_repro.config import ConfigError

_REF = re.compile(r"^\s*([0-9]+)\s+of\s+([0-9]+)\s*$")


def check_layer_ref(ref, where: str) -> None:
    """A one-line error unless ``ref`` is ``"last"``, ``"K of N"`` with 1 <= K <= N, or an int index."""
    if isinstance(ref, bool):
        raise ConfigError(f"{where}: {ref!r} is not a layer")
    if isinstance(ref, int) or ref == "last":
        return
    m = _REF.match(str(ref))
    if not m or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ConfigError(f"{where}: {ref!r} is not a layer reference; write \"K of N\" (the K-th of N layers, "
                          "counted from 1 as the paper does, e.g. \"21 of 24\") or \"last\"")


def check_config_layer_ref(ref, where: str) -> None:
    """As :func:`check_layer_ref`, but a bare number (ambiguous in a config file) is refused too."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        raise ConfigError(f"{where}: {ref} could be read as the {ref}th layer or as index {ref}; write "
                          f"\"{ref} of N\" (1-based: the {ref}th of the model's N layers) or \"last\"")
    check_layer_ref(ref, where)


def layer_index(ref, num_layers: int, where: str) -> int:
    """The 0-based index of ``ref`` in a model of ``num_layers`` layers (ints pass through as indices)."""
    check_layer_ref(ref, where)
    if isinstance(ref, int):
        if not -num_layers <= ref < num_layers:
            raise ConfigError(f"{where}: index {ref} out of range for {num_layers} layers")
        return ref % num_layers
    if ref == "last":
        return num_layers - 1
    k, n = map(int, _REF.match(ref).groups())
    if n != num_layers:
        raise ConfigError(f"{where}: {ref!r} refers to a model of {n} layers, but this one has {num_layers}")
    return k - 1
