"""Bad configs and sources caught by the planner, before any job runs: one line each, naming the
key and the fix (the rest of the catalogue, stage by stage, is tests/test_faults.py)."""

import copy
import json
import subprocess

import pytest
import yaml
from conftest import REPO, SHARED

from minilm_repro.config import ConfigError
from minilm_repro.plan.planner import Plan, load_config

SMOKE = load_config([str(REPO / "workflow" / "config" / "smoke.yaml")])
REAL_BERT = SHARED / "models" / "all-MiniLM-L6-v2"


def _compare(tmp_path, **external) -> dict:
    """A checkpoint-only track over the generated benchmark's SST-2 analogue."""
    cfg = copy.deepcopy(SMOKE)
    cfg["tracks"] = {"cmp": {"external": external, "finetune": {"models": list(external), "tasks": ["sst2"]}}}
    return cfg


def _error(cfg) -> str:
    with pytest.raises(ConfigError) as err:
        Plan(cfg)
    return str(err.value)


def test_corpus_longer_than_the_teacher():
    cfg = copy.deepcopy(SMOKE)
    cfg["tracks"]["mono"]["corpus"]["max_seq_len"] = 256
    assert _error(cfg) == ("tracks.mono.corpus.max_seq_len = 256 exceeds the teacher's 128 positions "
                           "(tracks.mono.teacher.pretrain.arch.max_position): lower it to at most 128")


def test_task_longer_than_a_local_checkpoint(tmp_path):
    cfg = _compare(tmp_path, real={"path": str(REAL_BERT)})
    cfg["finetune"]["tasks"]["sst2"]["max_length"] = 1024
    assert _error(cfg) == (f"finetune.tasks.sst2.max_length = 1024 exceeds the 512 positions of real "
                           f"({REAL_BERT}/config.json (max_position_embeddings)): lower it to at most 512")


def test_a_bare_layer_number_is_ambiguous():
    cfg = copy.deepcopy(SMOKE)
    cfg["tracks"]["mono"]["students"]["ta"]["teacher_layer"] = 3
    assert _error(cfg) == ('tracks.mono.students.ta.teacher_layer: 3 could be read as the 3th layer or as index 3; '
                           'write "3 of N" (1-based: the 3th of the model\'s N layers) or "last"')


def test_a_layer_of_another_depth():
    cfg = copy.deepcopy(SMOKE)
    cfg["tracks"]["mono"]["students"]["student"]["layer_map"] = [["4 of 4", "3 of 3"]]
    assert _error(cfg) == ("tracks.mono.students.student.layer_map[0][1] (the student has 2 layers): '3 of 3' refers "
                           "to a model of 3 layers, but this one has 2")


def test_missing_local_checkpoint(tmp_path):
    assert _error(_compare(tmp_path, mine={"path": str(tmp_path / "nowhere")})) == (
        f"tracks.cmp.external.mine.path: {tmp_path / 'nowhere'} does not exist; give an HF model directory "
        "(config.json, weights, tokenizer files) or a hub id")


def test_a_directory_that_is_not_a_model(tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("hello\n")
    assert _error(_compare(tmp_path, mine={"path": str(tmp_path / "notes")})) == (
        f"tracks.cmp.external.mine.path: {tmp_path / 'notes'} is not a model directory (no config.json); give the "
        "folder `save_pretrained` wrote (config.json, weights, tokenizer files)")


def test_a_model_directory_without_weights(tmp_path):
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    assert _error(_compare(tmp_path, mine={"path": str(tmp_path / "cfg")})) == (
        f"tracks.cmp.external.mine.path: {tmp_path / 'cfg'} has no weights (*.safetensors or *.bin)")


def test_a_tokenizer_override_that_is_no_tokenizer(tmp_path):
    (tmp_path / "tok").mkdir()
    assert _error(_compare(tmp_path, real={"path": str(REAL_BERT), "tokenizer": {"path": str(tmp_path / "tok")}})) == (
        f"tracks.cmp.external.real.tokenizer.path: {tmp_path / 'tok'} holds no tokenizer (tokenizer.json or "
        "tokenizer_config.json); give the folder a tokenizer's `save_pretrained` wrote")


def test_a_track_with_students_but_no_teacher():
    cfg = copy.deepcopy(SMOKE)
    del cfg["tracks"]["mono"]["teacher"]
    assert _error(cfg) == ("tracks.mono: a track that has a teacher or trains students needs teacher; a "
                           "checkpoint-only track lists just external and finetune")


def test_a_missing_local_task_source(tmp_path):
    cfg = copy.deepcopy(SMOKE)
    cfg["tasks_root"] = str(tmp_path / "tasks")
    cfg["task_sources"] = {"sst2": {"path": str(tmp_path / "SST-2")}}
    for track in cfg["tracks"].values():
        track["finetune"]["tasks"] = ["sst2"]
    cfg["tracks"]["mono"].pop("speed")
    del cfg["tracks"]["multi"]
    assert _error(cfg).startswith(f"task_sources: {tmp_path / 'SST-2'} does not exist; give a task's distributed files")


def test_a_task_nothing_provides(tmp_path):
    cfg = copy.deepcopy(SMOKE)
    cfg["tasks_root"] = str(tmp_path / "tasks")
    assert _error(cfg).startswith(f"tasks_root {tmp_path / 'tasks'} has no task 'cola' ({tmp_path / 'tasks' / 'cola'} "
                                  "is missing): add task_sources.cola (a hub id or local files)")


def test_a_released_row_is_no_delta_target_for_our_student():
    cfg = copy.deepcopy(SMOKE)
    cfg["tracks"]["mono"]["students"]["student"]["shape"] = {"layers": 6, "hidden": 384}
    cfg["tracks"]["mono"]["reference"] = {"student": "released-mono|MiniLM-L6xH384"}
    assert _error(cfg).startswith("tracks.mono.reference.student: reference student -> released-mono|MiniLM-L6xH384: "
                                  "released-mono|MiniLM-L6xH384|L6xH384|from UniLMv2-base is a released model")


def test_the_planner_error_is_snakemakes_last_line(tmp_path):
    cfg = copy.deepcopy(SMOKE)
    cfg["tracks"]["mono"]["students"]["ta"]["teacher"] = "nobody"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    res = subprocess.run(["snakemake", "-n", "-s", str(REPO / "Snakefile"), "--configfile", str(path), "--directory",
                          str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert res.returncode != 0
    assert res.stderr.strip().splitlines()[-1] == (
        "config error: tracks.mono.students.ta.teacher = 'nobody': not a model of this track")
