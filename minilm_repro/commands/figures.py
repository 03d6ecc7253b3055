"""Plots: Pareto view, per-language scores, loss curves."""

from minilm_repro.commands import from_register
from minilm_repro.report.plots import register

main = from_register(register, "figures")
