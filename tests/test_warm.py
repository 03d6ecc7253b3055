"""Warm start (minilm_repro.jobs.warm): a command run through the console script forks from a server
that has the libraries imported, with the caller's streams, directory, environment and exit status;
a killed caller stops its job; ``MINILM_REPRO_WARM=0`` runs it in the calling process."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO


def _env(tmp_path, **extra) -> dict:
    return {**os.environ, "MINILM_REPRO_WARM_DIR": str(tmp_path / "warm"), **extra}


def _cli(args, tmp_path, cwd, **extra):
    return subprocess.run([sys.executable, "-m", "minilm_repro", *args], cwd=cwd, env=_env(tmp_path, **extra),
                          capture_output=True, text=True, timeout=600, check=False)


def _servers(tmp_path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "warm").glob("*.sock"))


def test_a_command_runs_in_a_warm_process_with_the_callers_streams_cwd_and_status(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text((REPO / "workflow/config/smoke.yaml").read_text())
    # a relative path: resolved in the caller's working directory, not the server's
    ok = _cli(["plan", "--configfile", "c.yaml", "--json", "--job", "track_init"], tmp_path, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["id"] == "track_init"
    assert len(_servers(tmp_path)) == 1
    log = next((tmp_path / "warm").glob("*.log"))
    # a failing command: its message on the caller's stderr, its exit status the caller's
    bad = _cli(["plan", "--configfile", "c.yaml", "--job", "no_such_job"], tmp_path, cwd=tmp_path)
    assert bad.returncode == 2 and "no job 'no_such_job'" in bad.stderr and bad.stdout == ""
    assert _servers(tmp_path) == _servers(tmp_path)  # the same server answered
    # the caller's environment reaches the job: an import-time variable selects another server
    other = _cli(["plan", "--configfile", "c.yaml", "--job", "track_init"], tmp_path, cwd=tmp_path,
                 HF_HUB_OFFLINE="1" if os.environ.get("HF_HUB_OFFLINE") != "1" else "0")
    assert other.returncode == 0 and len(_servers(tmp_path)) == 2
    assert "Traceback" not in log.read_text()


def test_an_uncaught_error_prints_its_traceback_and_exits_1(tmp_path):
    config = tmp_path / "c.yaml"
    cfg = yaml.safe_load((REPO / "workflow/config/smoke.yaml").read_text())
    config.write_text(yaml.safe_dump(cfg))
    spec = json.dumps({"id": "x", "stage": "finetune", "settings": {"task": "sst2", "lr": 1e-3, "epochs": 1},
                       "paths": {"metrics": str(tmp_path / "m.json"), "model": str(tmp_path / "none"),
                                 "features": str(tmp_path / "none"), "tasks_root": str(tmp_path),
                                 "workdir": str(tmp_path / "w")}, "run": {"profile": None}})
    res = _cli(["finetune", "--spec", spec], tmp_path, cwd=tmp_path)
    assert res.returncode == 1 and "Traceback" in res.stderr and len(_servers(tmp_path)) == 1


def test_off_runs_in_the_calling_process(tmp_path):
    res = _cli(["plan", "--job", "track_init"], tmp_path, cwd=REPO, MINILM_REPRO_WARM="0")
    assert res.returncode == 0 and "track_init" in res.stdout
    assert not (tmp_path / "warm").exists()


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="POSIX process groups")
def test_a_killed_caller_stops_its_job(tmp_path):
    """SIGKILL to the caller (nothing can be forwarded): the job notices its caller is gone and stops."""
    text = tmp_path / "text.txt"
    text.write_text("\n\n".join(" ".join(f"w{i}x{j}" for j in range(30)) for i in range(200000)) + "\n")
    spec = json.dumps({"id": "tok", "stage": "train-tokenizer",
                       "settings": {"kind": "wordpiece", "vocab_size": 30000, "max_position": 128},
                       "paths": {"text": [str(text)], "out": str(tmp_path / "tok")}, "run": {"profile": None}})
    proc = subprocess.Popen([sys.executable, "-m", "minilm_repro", "train-tokenizer", "--spec", spec], cwd=tmp_path,
                            env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    job = None
    while time.time() < deadline and job is None:
        job = _forked_job(tmp_path)
        time.sleep(0.2)
    assert job is not None, "the job never started in a warm process"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 30
    while time.time() < deadline and _alive(job):
        time.sleep(0.1)
    assert not _alive(job), f"job {job} outlived its killed caller"


def _forked_job(tmp_path) -> int | None:
    """The pid of a job forked by a warm server of ``tmp_path`` (the server's command line names its socket)."""
    procs = {}
    for d in Path("/proc").iterdir():
        try:
            args = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            ppid = (d / "stat").read_text().rsplit(")", 1)[1].split()[1]
        except (OSError, IndexError, ValueError):
            continue
        if d.name.isdigit():
            procs[d.name] = (ppid, args)
    servers = {pid for pid, (_, args) in procs.items() if str(tmp_path / "warm") in args and "serve" in args}
    children = [int(pid) for pid, (ppid, _) in procs.items() if ppid in servers]
    return children[0] if children else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:  # a zombie waiting for the server to reap it is gone
        return f.read().split(")")[-1].split()[0] != "Z"
