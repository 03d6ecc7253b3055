"""Copy a local HF model directory into the workflow (a teacher or an external checkpoint)."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.data.sources import run_import_model

    return run_import_model(spec)


main = job_main("import-model", run)
