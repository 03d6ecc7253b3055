"""Train a WordPiece or sentencepiece tokenizer on a track's corpus text."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.data.prepare import run_tokenizer

    return run_tokenizer(spec)


main = job_main("train-tokenizer", run)
