"""Build the results tables from metrics files (or from MLflow alone)."""

from minilm_repro.commands import from_register
from minilm_repro.report.tables import register

main = from_register(register, "report")
