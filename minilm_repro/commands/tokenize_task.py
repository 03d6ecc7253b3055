"""Tokenise a task's train and eval splits once per tokenizer."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.finetune.features import run_job

    return run_job(spec)


main = job_main("tokenize-task", run)
