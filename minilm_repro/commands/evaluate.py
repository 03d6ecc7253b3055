"""Score predictions with the package's offline evaluate metrics."""

from minilm_repro.commands import from_register
from minilm_repro.metrics.cli import register

main = from_register(register, "evaluate")
