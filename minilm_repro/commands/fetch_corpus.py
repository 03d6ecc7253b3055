"""Download one language of a hub text dataset as a text file (a local job: needs the network)."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.data.sources import run_fetch_corpus

    return run_fetch_corpus(spec)


main = job_main("fetch-corpus", run)
