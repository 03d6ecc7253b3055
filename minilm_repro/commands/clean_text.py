"""Clean a corpus source's raw text files (Gutenberg, WikiText, plain) into the corpus format."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.data.prepare import run_clean_text

    return run_clean_text(spec)


main = job_main("clean-text", run)
