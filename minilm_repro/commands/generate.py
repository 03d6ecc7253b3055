"""Generate the embedded synthetic multilingual benchmark (the smoke profile's tasks and corpora)."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.data.prepare import run_generate

    return run_generate(spec)


main = job_main("generate", run)
