"""Tokenise and pack a track's text files into fixed-length blocks."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.data.prepare import run_corpus

    return run_corpus(spec)


main = job_main("prepare-corpus", run)
