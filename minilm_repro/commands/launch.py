"""Run a stage on N processes (torchrun; srun + torchrun across nodes)."""

from minilm_repro.commands import from_register
from minilm_repro.jobs.launch import register

main = from_register(register, "launch")
