"""Print the GPUs this process may use (check an allocation: minilm-repro launch --nproc 2 -- gpu-probe)."""

from minilm_repro.commands import from_register
from minilm_repro.jobs.gpu_slots import register

main = from_register(register, "gpu-probe")
