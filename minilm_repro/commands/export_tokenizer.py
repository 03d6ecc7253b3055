"""Save a teacher directory's tokenizer on its own (the track's tokenizer)."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.data.sources import run_export_tokenizer

    return run_export_tokenizer(spec)


main = job_main("export-tokenizer", run)
