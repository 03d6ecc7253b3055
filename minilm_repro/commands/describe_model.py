"""Record a local model directory's size and shape (external checkpoints)."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.data.sources import run_describe_model

    return run_describe_model(spec)


main = job_main("describe-model", run)
