"""Distil a teacher (or assistant) into a student with MiniLM relations."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.distill.train import run_job

    return run_job(spec)


main = job_main("distill", run)
