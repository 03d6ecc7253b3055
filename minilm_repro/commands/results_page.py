"""Write the Markdown results page of a results directory (tables, checks, hardware, commits, dates)."""

from minilm_repro.commands import from_register
from minilm_repro.report.tables import register

main = from_register(register, "results-page")
