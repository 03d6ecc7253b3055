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


def test_freeze_embeddings_keeps_the_pretrained_word_embeddings(sst2_setup, tmp_path):
    from safetensors.torch import load_file

    root = sst2_setup
    before = load_file(root / "model" / "model.safetensors")
    key = next(k for k in before if k.endswith("word_embeddings.weight"))
    for freeze in (True, False):
        cfg = FinetuneConfig(task="sst2", lr=3e-3, epochs=1, batch_size=8, seed=1, save_steps=8,
                             freeze_embeddings=freeze)
        work = tmp_path / f"work-{freeze}"
        finetune(cfg, str(root / "model"), str(root / "features"), str(root / "tasks"), str(work))
        after = load_file(work / "checkpoint-8" / "model.safetensors")
        assert after[key].equal(before[key]) == freeze
        layer = next(k for k in after if k.endswith("layer.0.attention.self.query.weight"))
        assert not after[layer].equal(before[layer])  # the rest of the encoder trains either way


def test_bad_checkpoint_setting():
    with pytest.raises(ConfigError, match="best_dev"):
        FinetuneConfig(task="sst2", lr=1e-3, epochs=1, checkpoint="best")


def test_mlqa_answer_language_is_declared_for_generated_languages():
    cfg = FinetuneConfig(task="mlqa", lr=1e-3, epochs=1, answer_languages={"l0": "en"})
    assert answer_language(cfg, "l0") == "en"
    assert answer_language(cfg, "zh") == "zh"  # MLQA's own languages need no mapping
    with pytest.raises(ConfigError, match=r"answer_languages.*l1: en"):
        answer_language(cfg, "l1")


@pytest.fixture(scope="module")
def spm_dir(tmp_path_factory, toy_corpus):
    from minilm_repro.data.tokenizer import TokenizerConfig, train_tokenizer

    out = tmp_path_factory.mktemp("spm") / "tok"
    train_tokenizer([str(toy_corpus)], TokenizerConfig(kind="sentencepiece", vocab_size=120, max_position=64), out)
    return out


def test_bert_with_an_xlmr_tokenizer_fine_tunes(spm_dir, tmp_path):
    """The released multilingual MiniLM layout: BERT architecture, XLM-R sentencepiece tokenizer (pad id
    1, no token_type_ids) and a config that keeps BERT's pad id 0."""
    import datasets
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForMaskedLM

    from minilm_repro.finetune.features import FeaturesConfig, tokenize_task

    tok = AutoTokenizer.from_pretrained(spm_dir)
    assert tok.pad_token_id == 1 and "token_type_ids" not in tok.model_input_names
    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=64)
    assert cfg.pad_token_id == 0
    BertForMaskedLM(cfg).save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    write_city_task(tmp_path / "tasks", {"train": 32, "validation": 16}, seed=4)
    tokenize_task(FeaturesConfig(task="sst2", languages=["en"], train_language="en", max_length=32),
                  tok, tmp_path / "tasks", tmp_path / "features")
    assert "token_type_ids" not in datasets.load_from_disk(str(tmp_path / "features" / "train")).column_names
    out = finetune(FinetuneConfig(task="sst2", lr=1e-3, epochs=1, batch_size=8, save_steps=100),
                   str(tmp_path / "model"), str(tmp_path / "features"), str(tmp_path / "tasks"), str(tmp_path / "w"))
    assert out["steps"] == 4 and 0 <= out["select_score"] <= 100


def test_tokenizer_model_mismatch_is_an_early_error(spm_dir, wordpiece_dir):
    from transformers import AutoTokenizer, BertConfig, XLMRobertaConfig

    from minilm_repro.jobs.model_io import tokenizer_matches

    spm, wp = AutoTokenizer.from_pretrained(spm_dir), AutoTokenizer.from_pretrained(wordpiece_dir)
    with pytest.raises(ConfigError, match="vocabulary is 50: use the teacher's own tokenizer"):
        tokenizer_matches(BertConfig(vocab_size=50), wp, "model m")
    # RoBERTa-family positions count non-pad tokens: the pad id must be the model's
    with pytest.raises(ConfigError, match="pad id 0 != model pad_token_id 1"):
        tokenizer_matches(XLMRobertaConfig(vocab_size=len(wp), pad_token_id=1), wp, "model m")
    tokenizer_matches(XLMRobertaConfig(vocab_size=len(spm), pad_token_id=1), spm, "model m")
    tokenizer_matches(BertConfig(vocab_size=len(spm)), spm, "model m")  # BERT + XLM-R tokenizer: fine
