"""Inspect a prepared corpus (blocks, tokens, language shares)."""

from minilm_repro.commands import from_register
from minilm_repro.data.prepare import register

main = from_register(register, "corpus")
