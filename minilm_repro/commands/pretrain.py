"""Masked-LM pretraining from random init: a tiny teacher, or the from-scratch student."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.pretrain.train import run_job

    return run_job(spec)


main = job_main("pretrain", run)
