"""MLflow set-up: create the profile's experiment before jobs start."""

from minilm_repro.commands import from_register
from minilm_repro.data.prepare import register

main = from_register(register, "track")
