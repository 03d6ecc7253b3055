"""Show a task from any source, or download a hub task into the canonical layout."""

from minilm_repro.commands import from_register
from minilm_repro.data.cli import register

main = from_register(register, "tasks")
