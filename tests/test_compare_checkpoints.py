"""A checkpoint-only config through Snakemake, offline: the shipped real BERT checkpoint and a tiny
one, imported from local directories, fine-tuned on real RTE (its dev set split by document into
train and validation), timed and tabled; no corpus, teacher or distillation job."""

import json
import subprocess

import pytest
import yaml
from conftest import REPO, SHARED

pytestmark = pytest.mark.slow
REAL_BERT = SHARED / "models" / "all-MiniLM-L6-v2"


def test_checkpoints_on_their_own(tmp_path):
    import pandas as pd
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    tok = AutoTokenizer.from_pretrained(REAL_BERT)
    torch.manual_seed(0)
    BertModel(BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                         intermediate_size=64, max_position_embeddings=128)).save_pretrained(tmp_path / "tiny")
    tok.save_pretrained(tmp_path / "tiny")
    cfg = {
        "profile": "cmp", "tasks_root": "resources/tasks", "languages": ["en"], "train_language": "en",
        "task_sources": {"rte": {"path": str(SHARED / "realdata" / "glue" / "RTE"), "split_dev": 0.5}},
        "tracks": {"cmp": {"external": {"real": {"path": str(REAL_BERT)}, "tiny": {"path": str(tmp_path / "tiny")}},
                           "speed": {"task": "rte", "batches": 2, "batch_size": 8, "warmup": 1},
                           "finetune": {"models": ["real", "tiny"], "tasks": ["rte"]}}},
        "finetune": {"tasks": {"rte": {"lr": [1.0e-4], "epochs": [1], "seeds": [1], "max_length": 64,
                                       "batch_size": 16}}},
    }
    path = tmp_path / "cmp.yaml"
    path.write_text(yaml.safe_dump(cfg))
    work = tmp_path / "wd"
    base = ["snakemake", "-s", str(REPO / "Snakefile"), "--configfile", str(path), "--directory", str(work)]
    dry = subprocess.run([*base, "-n", "--quiet", "rules"], capture_output=True, text=True, timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    assert not any(r in dry.stdout + dry.stderr for r in ("tokenizer", "prepare_corpus", "distill", "pretrain"))
    res = subprocess.run([*base, "--cores", "2"], capture_output=True, text=True, timeout=1500)
    assert res.returncode == 0, res.stderr[-4000:]
    source = json.loads((work / "resources/tasks/rte/default/SOURCE.json").read_text())
    assert source["derived"]  # the split by document is stated
    models = pd.read_csv(work / "results/tables/cmp_models.csv", index_col=0)
    assert {"real", "tiny"} <= set(models.index)
    card = json.loads((work / "resources/models/cmp/real/minilm_repro.json").read_text())
    assert card["source"] == f"local {REAL_BERT}" and "model.safetensors" in card["sha256"]
    page = (work / "results/results-page.md").read_text()
    assert "| glue/rte" in page and "split by document of the validation set (0.5 of the documents" in page
