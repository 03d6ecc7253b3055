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


def test_hub_checkpoint_reaches_the_classifier_with_every_pretrained_tensor(tmp_path, wordpiece_dir, monkeypatch):
    """A hub-layout BERT (BertForPreTraining: encoder, pooler, MLM and NSP heads) with known pooler
    weights: fetched and loaded for fine-tuning, every encoder and pooler tensor is the published
    one, and only the new classifier starts from random (and is recorded as such)."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, BertConfig, BertForPreTraining

    from minilm_repro.data.sources import fetch_model
    from minilm_repro.finetune.run import _model_for

    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    torch.manual_seed(1)
    published = BertForPreTraining(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2,
                                              num_attention_heads=2, intermediate_size=64, max_position_embeddings=64))
    with torch.no_grad():
        published.bert.pooler.dense.weight.copy_(torch.arange(32 * 32, dtype=torch.float32).view(32, 32) / 1000)
        published.bert.pooler.dense.bias.fill_(0.25)
    repo = tmp_path / "hf" / "hub" / "models--org--bert-pretraining"
    published.save_pretrained(repo / "snapshots" / COMMIT)
    tok.save_pretrained(repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(COMMIT)
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf" / "hub"))  # read at import
    fetch_model("org/bert-pretraining", "main", tmp_path / "teacher")
    files = load_file(repo / "snapshots" / COMMIT / "model.safetensors")
    assert load_file(tmp_path / "teacher" / "model.safetensors").keys() == files.keys()  # files as published
    model, random_init = _model_for("sst2", str(tmp_path / "teacher"))
    assert random_init == ["classifier.bias", "classifier.weight"]
    loaded = model.state_dict()
    encoder = {k: v for k, v in files.items() if k.startswith("bert.")}
    assert len(encoder) > 20 and "bert.pooler.dense.weight" in encoder
    for name, tensor in encoder.items():
        assert torch.equal(loaded[name], tensor), name


def test_a_checkpoint_without_encoder_weights_is_refused_for_fine_tuning(tmp_path, wordpiece_dir):
    from safetensors.torch import load_file, save_file
    from transformers import AutoTokenizer, BertConfig, BertModel

    from minilm_repro.config import ConfigError
    from minilm_repro.finetune.run import _model_for

    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    BertModel(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=64)).save_pretrained(tmp_path / "m")
    weights = load_file(tmp_path / "m" / "model.safetensors")
    save_file({k: v for k, v in weights.items() if ".layer.1." not in k}, tmp_path / "m" / "model.safetensors",
              metadata={"format": "pt"})
    with pytest.raises(ConfigError, match=r"its checkpoint lacks .*encoder\.layer\.1\..*start from random"):
        _model_for("sst2", str(tmp_path / "m"))
