"""Download a task's official release archive (e.g. MLQA_V1.zip) and unpack it (a local job: needs the network)."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.data.release import run_fetch_release

    return run_fetch_release(spec)


main = job_main("fetch-release", run)
