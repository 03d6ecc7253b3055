"""Fine-tune one model on one task (one grid point and seed) and evaluate every eval set."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.finetune.run import run_job

    return run_job(spec)


main = job_main("finetune", run)
