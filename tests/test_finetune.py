"""`minilm_repro.finetune.run`: checkpoint selection on dev and MLQA answer languages."""

import json

import pytest

from conftest import write_city_task
from minilm_repro.config import ConfigError
from minilm_repro.finetune.run import FinetuneConfig, answer_language, finetune

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sst2_setup(tmp_path_factory, wordpiece_dir):
    """A tiny BERT and a 64-example SST-2-shaped task whose label is a word of the sentence."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from minilm_repro.finetune.features import FeaturesConfig, tokenize_task

    root = tmp_path_factory.mktemp("finetune")
    tok = AutoTokenizer.from_pretrained(wordpiece_dir)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64, pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    BertForMaskedLM(cfg).save_pretrained(root / "model")
    tok.save_pretrained(root / "model")
    write_city_task(root / "tasks", {"train": 64, "validation": 24}, seed=3, names=["anna", "bob", "carl", "dina"],
                    cities=["paris", "rome", "oslo", "lima"])
    tokenize_task(FeaturesConfig(task="sst2", languages=["en"], train_language="en", max_length=32),
                  tok, root / "tasks", root / "features")
    return root


def test_best_dev_checkpoint_is_the_one_evaluated_at_the_end(sst2_setup, tmp_path):
    root = sst2_setup
    # the model jumps from the majority class to solving the task late in training (measured: step 44 of 48)
    cfg = FinetuneConfig(task="sst2", lr=5e-3, epochs=6, batch_size=8, seed=1, warmup_ratio=0.0, save_steps=4,
                         logging_steps=4, checkpoint="best_dev")
    out = finetune(cfg, str(root / "model"), str(root / "features"), str(root / "tasks"), str(tmp_path / "work"))
    assert out["steps"] == 48
    states = sorted((tmp_path / "work").glob("checkpoint-*/trainer_state.json"),
                    key=lambda p: int(p.parent.name.split("-")[1]))
    log = json.loads(states[-1].read_text())["log_history"]
    dev = {h["step"]: h["eval_select_score"] for h in log if "eval_select_score" in h}
    assert sorted(dev) == list(range(4, 49, 4))  # one dev evaluation per save, the last at the end
    assert len(set(dev.values())) > 1, f"dev score never changed, nothing to select: {dev}"
    best_step = max(dev, key=lambda s: (dev[s], -s))  # the Trainer keeps the first of equal scores
    assert best_step != min(dev)
    assert out["best_checkpoint_step"] == best_step
    # the final evaluation is of the reloaded best checkpoint: its dev score is the best one logged
    assert out["select_score"] == pytest.approx(dev[best_step], abs=1e-9)


def test_last_checkpoint_by_default(sst2_setup, tmp_path):
    root = sst2_setup
    cfg = FinetuneConfig(task="sst2", lr=3e-3, epochs=1, batch_size=8, seed=1, save_steps=100)
    out = finetune(cfg, str(root / "model"), str(root / "features"), str(root / "tasks"), str(tmp_path / "work"))
    assert out["steps"] == 8 and "best_checkpoint_step" not in out
    assert set(out["evals"]["default__validation"]) >= {"scores", "majority"}


def test_bad_checkpoint_setting():
    with pytest.raises(ConfigError, match="best_dev"):
        FinetuneConfig(task="sst2", lr=1e-3, epochs=1, checkpoint="best")


def test_mlqa_answer_language_is_declared_for_generated_languages():
    cfg = FinetuneConfig(task="mlqa", lr=1e-3, epochs=1, answer_languages={"l0": "en"})
    assert answer_language(cfg, "l0") == "en"
    assert answer_language(cfg, "zh") == "zh"  # MLQA's own languages need no mapping
    with pytest.raises(ConfigError, match=r"answer_languages.*l1: en"):
        answer_language(cfg, "l1")
