"""Time inference of a track's models side by side (the speed-up column)."""

from minilm_repro.commands import job_main


def run(spec):
    from minilm_repro.report.speed import run_job

    return run_job(spec)


main = job_main("speed", run)
