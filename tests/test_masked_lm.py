"""The masked-positions-only MLM head: HF's loss and gradients, HF's saved checkpoint."""

import copy
import json

import pytest
import torch
from transformers import AutoModel, AutoModelForMaskedLM, BertConfig, XLMRobertaConfig

from minilm_repro.models.masked_lm import masked_positions_only

SMALL = {"vocab_size": 500, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
         "intermediate_size": 64, "max_position_embeddings": 40, "hidden_dropout_prob": 0.0,
         "attention_probs_dropout_prob": 0.0}


def _pair(config):
    torch.manual_seed(0)
    full = AutoModelForMaskedLM.from_config(config)
    return full, masked_positions_only(copy.deepcopy(full))


def _inputs(batch=3, seq=16):
    g = torch.Generator().manual_seed(2)
    ids = torch.randint(5, 500, (batch, seq), generator=g)
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0  # padding: never a labelled position
    labels = torch.where((torch.rand(batch, seq, generator=g) < 0.3) & mask.bool(), ids, -100)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


@pytest.mark.parametrize("config", [BertConfig(**SMALL), XLMRobertaConfig(**SMALL, pad_token_id=1)],
                         ids=["bert", "xlm-roberta"])
def test_same_loss_and_gradients_as_the_full_head(config):
    full, ours = _pair(config)
    inputs = _inputs()
    out_full, out_ours = full(**inputs), ours(**inputs)
    assert out_ours.logits.shape == (int((inputs["labels"] != -100).sum()), 500)
    torch.testing.assert_close(out_ours.loss, out_full.loss, rtol=1e-6, atol=1e-6)
    out_full.loss.backward()
    out_ours.loss.backward()
    grads = {n: p.grad for n, p in full.named_parameters() if p.grad is not None}
    assert grads and grads.keys() == {n for n, p in ours.named_parameters() if p.grad is not None}
    for name, p in ours.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(p.grad, grads[name], rtol=1e-5, atol=1e-7, msg=name)
    no_labels = {k: v for k, v in inputs.items() if k != "labels"}
    assert ours(**no_labels).logits.shape == (3, 16, 500)  # without labels: the parent's forward


def test_saved_checkpoint_is_the_parent_class(tmp_path):
    full, ours = _pair(BertConfig(**SMALL))
    assert type(ours).__name__ == "BertForMaskedLM" and isinstance(ours, type(full))
    assert ours.cls.predictions.decoder.weight is ours.bert.embeddings.word_embeddings.weight  # still tied
    ours.save_pretrained(tmp_path)
    assert json.loads((tmp_path / "config.json").read_text())["architectures"] == ["BertForMaskedLM"]
    back = AutoModelForMaskedLM.from_pretrained(tmp_path)
    assert type(back).__name__ == "BertForMaskedLM" and type(back) is not type(ours)
    for (n, a), b in zip(ours.state_dict().items(), back.state_dict().values()):
        torch.testing.assert_close(a, b, msg=n)


def test_a_model_without_a_vocabulary_head_is_refused():
    with pytest.raises(TypeError, match="no masked-LM head named cls or lm_head"):
        masked_positions_only(AutoModel.from_config(BertConfig(**SMALL)))
