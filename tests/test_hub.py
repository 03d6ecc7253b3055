"""`minilm-repro fetch-model` through the real `from_pretrained` hub path, offline.

The test builds a Hugging Face hub cache by hand (the layout `huggingface_hub` writes:
``models--<org>--<name>/refs/<revision>`` holding a commit, ``snapshots/<commit>/<files>``) with a
tiny BERT and its tokenizer, so ``AutoModel.from_pretrained("org/name", revision="main")`` with
``HF_HUB_OFFLINE=1`` resolves it exactly as it would a downloaded checkpoint.
"""

import json
import subprocess

import pytest
from conftest import job_argv

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def hub_cache(tmp_path, wordpiece_dir, monkeypatch):
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    torch.manual_seed(0)
    repo = tmp_path / "hf" / "hub" / "models--tiny-org--tiny-bert"
    snapshot = repo / "snapshots" / COMMIT
    BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=64)).save_pretrained(snapshot)
    tok.save_pretrained(snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def _cli(argv, cwd):
    return subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=300)


def test_fetch_model_from_the_hub_cache(hub_cache):
    from transformers import AutoModel, AutoTokenizer

    out = hub_cache / "teacher"
    res = _cli(job_argv("fetch-model", {"id": "tiny-org/tiny-bert", "revision": "main"},
                        {"out": str(out), "metrics": str(hub_cache / "teacher.json")}, tags={"model": "teacher"},
                        profile=None), cwd=hub_cache)
    assert res.returncode == 0, res.stderr[-2000:]
    metrics = json.loads((hub_cache / "teacher.json").read_text())
    assert (metrics["layers"], metrics["hidden"], metrics["hub_id"]) == (2, 32, "tiny-org/tiny-bert")
    assert AutoModel.from_pretrained(out).config.hidden_size == 32 and AutoTokenizer.from_pretrained(out)
    assert json.loads((out / "minilm_repro.json").read_text())["source"] == "hub tiny-org/tiny-bert@main"


def test_missing_checkpoint_offline_names_the_command(hub_cache):
    res = _cli(job_argv("fetch-model", {"id": "tiny-org/absent", "revision": "main"},
                        {"out": str(hub_cache / "x"), "metrics": str(hub_cache / "x.json")}, profile=None), cwd=hub_cache)
    assert res.returncode != 0
    assert "cannot fetch tiny-org/absent@main" in res.stderr
    assert "hf download tiny-org/absent --revision main" in res.stderr
    assert not (hub_cache / "x").exists() and not (hub_cache / "x.json").exists()
