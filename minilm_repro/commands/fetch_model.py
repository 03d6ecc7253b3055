"""Download a hub checkpoint at a pinned revision into a local model directory (needs the network)."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.data.sources import run_fetch_model

    return run_fetch_model(spec)


main = job_main("fetch-model", run)
