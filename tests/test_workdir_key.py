"""A work directory resumes only the job that made it: a changed config or input starts afresh."""

import json

from minilm_repro.jobs.workdir import input_fingerprint, last_checkpoint, mark_complete


def _checkpoint(workdir, step):
    """A complete checkpoint of a run of 100 steps, as the Trainer and complete_checkpoints() leave it."""
    ckpt = workdir / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    (ckpt / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": 100}))
    mark_complete(ckpt)
    return ckpt


def test_same_job_resumes_other_job_starts_afresh(tmp_path, capsys):
    work = tmp_path / "work"
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    key = {"config": {"lr": 1e-3, "warmup_ratio": 0.1}, "inputs": input_fingerprint(model)}
    assert last_checkpoint(work, key) is None  # fresh: the key is written
    assert json.loads((work / "job_key.json").read_text()) == json.loads(json.dumps(key, sort_keys=True))
    _checkpoint(work, 20)
    assert last_checkpoint(work, key).endswith("checkpoint-20")  # the same job, killed: resumes

    changed = {**key, "config": {"lr": 1e-3, "warmup_ratio": 0.2}}
    assert last_checkpoint(work, changed) is None  # a changed hyper-parameter: not resumed
    assert not list(work.glob("checkpoint-*"))
    assert "made for another config" in capsys.readouterr().err
    _checkpoint(work, 10)
    assert last_checkpoint(work, changed).endswith("checkpoint-10")

    (model / "model.safetensors").write_bytes(b"retrained")  # an input rewritten: not resumed either
    retrained = {**changed, "inputs": input_fingerprint(model)}
    assert retrained["inputs"] != changed["inputs"]
    assert last_checkpoint(work, retrained) is None
    assert "made for another inputs" in capsys.readouterr().err


def test_checkpoints_without_a_key_are_not_resumed(tmp_path, capsys):
    work = tmp_path / "work"
    _checkpoint(work, 5)
    assert last_checkpoint(work).endswith("checkpoint-5")  # no key given: plain lookup
    assert last_checkpoint(work, {"config": {}}) is None
    assert "made for an unknown job" in capsys.readouterr().err
    assert not (work / "checkpoint-5").exists()
