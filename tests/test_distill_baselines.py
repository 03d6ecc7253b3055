"""The paper's baselines (value_mse, tinybert, mlm_kd) against direct references, and end to end.

References never touch the capture hooks or the loss modules' helpers: attention maps come from
``output_attentions=True`` on eager copies in eval mode, hidden states from
``output_hidden_states``, values from the attention module applied to the layer's input,
masked-LM logits from the full ``*ForMaskedLM`` forward; every example is cut to its true length
(no masking) and the formulas are written out. Tiny random BERT and XLM-R models, with padding.
"""

import copy
import json

import pytest
import torch
import torch.nn.functional as F
import yaml
from conftest import REPO, save_tiny_teacher
from transformers import (
    AutoModel,
    BertConfig,
    BertForMaskedLM,
    BertModel,
    DataCollatorForLanguageModeling,
    DataCollatorWithPadding,
    Trainer,
    TrainingArguments,
    XLMRobertaConfig,
    XLMRobertaForMaskedLM,
    XLMRobertaModel,
)

from minilm_repro.config import ConfigError, validate_workflow_config
from minilm_repro.distill import DistillationLoss, MLMKDLoss, TinyBERTLoss, ValueMSELoss
from minilm_repro.distill.baselines import uniform_layer_map
from minilm_repro.distill.methods import build_method
from minilm_repro.distill.train import DistillConfig, distill
from minilm_repro.models.build import student_config

FAMILIES = {"bert": (BertConfig, BertModel, BertForMaskedLM),
            "xlmr": (XLMRobertaConfig, XLMRobertaModel, XLMRobertaForMaskedLM)}
VOCAB, SEQ = 40, 11
LENGTHS = [SEQ, 6, 1]  # true lengths: full, padded, a single token
T_HIDDEN, S_HIDDEN, HEADS = 64, 32, 4


@pytest.fixture(autouse=True)
def _threads(torch_threads):
    torch.manual_seed(0)


def config(family, hidden, layers, heads=HEADS, **kw):
    # a wide initialiser makes attention maps far from uniform, so no term is trivially ~0
    base = dict(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                intermediate_size=2 * hidden, max_position_embeddings=SEQ + 4, initializer_range=0.15,
                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=0 if family == "bert" else 1)
    return FAMILIES[family][0](**{**base, **kw})


def pair(family="bert", t_layers=4, s_layers=2, s_heads=HEADS, masked_lm=False, **kw):
    """Teacher 64 wide x t_layers, 4 heads; student 32 wide x s_layers; eval mode."""
    _, bare, mlm = FAMILIES[family]
    if masked_lm:
        return (mlm(config(family, T_HIDDEN, t_layers, **kw)).eval(),
                mlm(config(family, S_HIDDEN, s_layers, s_heads, **kw)).eval())
    return (bare(config(family, T_HIDDEN, t_layers, **kw), add_pooling_layer=False).eval(),
            bare(config(family, S_HIDDEN, s_layers, s_heads, **kw), add_pooling_layer=False).eval())


def batch(family="bert"):
    pad = 0 if family == "bert" else 1
    ids = torch.randint(3, VOCAB, (len(LENGTHS), SEQ))
    mask = (torch.arange(SEQ)[None] < torch.tensor(LENGTHS)[:, None]).long()
    return ids.masked_fill(mask == 0, pad), mask


def mlm_labels(ids, mask):
    """Labels at a fixed set of real positions (the first token of every row among them), -100 elsewhere."""
    pick = torch.zeros_like(mask, dtype=torch.bool)
    pick[:, 0] = True
    pick[0, [3, 7, 10]] = True
    pick[1, [2, 5]] = True
    assert bool((mask.bool() | ~pick).all())
    return ids.masked_fill(~pick, -100)


def eager_forward(model, ids, mask, grad):
    """An eager-attention copy of ``model`` (same weights) and its output with maps and hidden states."""
    eager = copy.deepcopy(model)
    eager.set_attn_implementation("eager")
    with torch.set_grad_enabled(grad):
        out = eager(ids, attention_mask=mask, output_attentions=True, output_hidden_states=True)
    return eager, out


def grads(module):
    return {n: p.grad.clone() for n, p in module.named_parameters() if p.grad is not None}


def assert_same_grads(ours: dict, theirs: dict, where: str):
    assert ours, f"no gradient reached {where}"
    scale = max(float(g.abs().max()) for g in theirs.values())
    assert scale > 0, f"{where}: the reference gradient is zero"
    for name, g in ours.items():
        torch.testing.assert_close(g, theirs[name], rtol=0, atol=2e-5 * scale, msg=lambda m: f"{where} {name}: {m}")
    for name in set(theirs) - set(ours):  # parameters ours does not reach must get none from the reference either
        assert float(theirs[name].abs().max()) <= 1e-7 * scale, f"{where} {name}"


def assert_parts_match(parts, loss, ref):
    assert set(parts) == set(ref)
    for name, value in ref.items():
        assert parts[name].dtype == torch.float32 and parts[name].dim() == 0
        assert float(value.detach()) > 1e-3, f"{name}: reference too small to be a meaningful test"
        torch.testing.assert_close(parts[name], value.detach(), rtol=1e-5, atol=1e-7, msg=lambda m: f"{name}: {m}")
    torch.testing.assert_close(loss, sum(parts.values()))


# ---------------------------------------------------------------- references

def reference_value_mse(teacher, student, proj, ids, mask, t_layer=-1, s_layer=-1):
    t_model, t_out = eager_forward(teacher, ids, mask, grad=False)
    s_model, s_out = eager_forward(student, ids, mask, grad=True)
    proj = copy.deepcopy(proj)
    tl, sl = t_layer % len(t_model.encoder.layer), s_layer % len(s_model.encoder.layer)
    tv = t_model.encoder.layer[tl].attention.self.value(t_out.hidden_states[tl]).detach()
    sv = s_model.encoder.layer[sl].attention.self.value(s_out.hidden_states[sl])
    attention, value = [], []
    for b, n in enumerate(mask.sum(1).tolist()):
        p, q = t_out.attentions[tl][b, :, :n, :n], s_out.attentions[sl][b, :, :n, :n]
        attention.append(sum((p[h, i] * (p[h, i].log() - q[h, i].log())).sum()
                             for h in range(HEADS) for i in range(n)) / (HEADS * n))
        pred = sv[b, :n] @ proj.weight.T + proj.bias
        value.append(((pred - tv[b, :n]) ** 2).sum() / (n * T_HIDDEN))
    ref = {"attention": torch.stack(attention).mean(), "value_mse": torch.stack(value).mean()}
    return ref, s_model, proj


def reference_tinybert(teacher, student, hidden_proj, embedding_proj, ids, mask, pairs):
    """``pairs``: 0-based (teacher layer, student layer), written out by the caller."""
    _, t_out = eager_forward(teacher, ids, mask, grad=False)
    s_model, s_out = eager_forward(student, ids, mask, grad=True)
    hidden_proj, embedding_proj = copy.deepcopy(hidden_proj), copy.deepcopy(embedding_proj)
    t_hs, s_hs = [h.detach() for h in t_out.hidden_states], s_out.hidden_states
    attention, hidden, embedding = [], [], []
    for b, n in enumerate(mask.sum(1).tolist()):
        attention.append(sum(((s_out.attentions[s][b, :, :n, :n] - t_out.attentions[t][b, :, :n, :n]) ** 2).sum()
                             for t, s in pairs) / (HEADS * n * n))
        hidden.append(sum(((hidden_proj(s_hs[s + 1][b, :n]) - t_hs[t + 1][b, :n]) ** 2).mean() for t, s in pairs))
        embedding.append(((embedding_proj(s_hs[0][b, :n]) - t_hs[0][b, :n]) ** 2).mean())
    ref = {"attention": torch.stack(attention).mean(), "hidden": torch.stack(hidden).mean(),
           "embedding": torch.stack(embedding).mean()}
    return ref, s_model, hidden_proj, embedding_proj


def reference_mlm_kd(teacher, student, ids, mask, labels, temperature):
    """(explicit KL, F.kl_div) over the masked positions, and the student copy they differentiate."""
    s_model = copy.deepcopy(student)
    with torch.no_grad():
        t_logits = teacher(ids, attention_mask=mask).logits
    s_logits = s_model(ids, attention_mask=mask).logits
    sel = labels != -100
    p = torch.softmax(t_logits[sel] / temperature, dim=-1)
    log_q = torch.log_softmax(s_logits[sel] / temperature, dim=-1)
    explicit = (p * (p.log() - log_q)).sum(-1).mean() * temperature ** 2
    via_kl_div = F.kl_div(log_q, p, reduction="batchmean") * temperature ** 2
    return explicit, via_kl_div, s_model


# ---------------------------------------------------------------- agreement with the references

@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("layers", [(-1, -1), (2, 0)])
def test_value_mse_matches_reference(family, layers):
    teacher, student = pair(family)
    ids, mask = batch(family)
    loss_fn = ValueMSELoss(teacher, student, *layers)
    loss, parts = loss_fn(ids, mask)
    ref, ref_student, ref_proj = reference_value_mse(teacher, student, loss_fn.value_proj, ids, mask, *layers)
    assert_parts_match(parts, loss, ref)
    # the attention part is MiniLM's L_AT itself
    _, minilm = DistillationLoss(teacher, student, teacher_layer=layers[0], student_layer=layers[1])(ids, mask)
    torch.testing.assert_close(parts["attention"], minilm["attention"])
    loss.backward()
    sum(ref.values()).backward()
    assert_same_grads(grads(student), grads(ref_student), "student")
    assert_same_grads(grads(loss_fn.value_proj), grads(ref_proj), "value_proj")
    assert all(p.grad is None for p in teacher.parameters()), "the teacher received gradients"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_tinybert_matches_reference(family):
    teacher, student = pair(family, t_layers=4, s_layers=2)
    ids, mask = batch(family)
    loss_fn = TinyBERTLoss(teacher, student)
    assert loss_fn.pairs == [(1, 0), (3, 1)]  # student layers 1, 2 <-> teacher layers 2, 4 (1-based)
    loss, parts = loss_fn(ids, mask)
    ref, ref_student, ref_h, ref_e = reference_tinybert(teacher, student, loss_fn.hidden_proj, loss_fn.embedding_proj,
                                                        ids, mask, pairs=[(1, 0), (3, 1)])
    assert_parts_match(parts, loss, ref)
    loss.backward()
    sum(ref.values()).backward()
    ours = grads(student)
    assert set(ours) == {n for n, _ in student.named_parameters()}, "every student layer takes part"
    assert_same_grads(ours, grads(ref_student), "student")
    assert_same_grads(grads(loss_fn.hidden_proj), grads(ref_h), "hidden_proj")
    assert_same_grads(grads(loss_fn.embedding_proj), grads(ref_e), "embedding_proj")
    assert all(p.grad is None for p in teacher.parameters()), "the teacher received gradients"


def test_tinybert_explicit_layer_map_matches_reference():
    teacher, student = pair(t_layers=3, s_layers=3)
    ids, mask = batch()
    loss_fn = TinyBERTLoss(teacher, student, layer_map=[(0, 1), (-1, -1)])
    assert loss_fn.pairs == [(0, 1), (2, 2)]
    loss, parts = loss_fn(ids, mask)
    ref, *_ = reference_tinybert(teacher, student, loss_fn.hidden_proj, loss_fn.embedding_proj, ids, mask,
                                 pairs=[(0, 1), (2, 2)])
    assert_parts_match(parts, loss, ref)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("temperature", [1.0, 2.5])
def test_mlm_kd_matches_reference(family, temperature):
    teacher, student = pair(family, masked_lm=True)
    ids, mask = batch(family)
    labels = mlm_labels(ids, mask)
    loss_fn = MLMKDLoss(teacher, student, temperature)
    loss, parts = loss_fn(ids, mask, labels=labels)
    explicit, via_kl_div, ref_student = reference_mlm_kd(teacher, student, ids, mask, labels, temperature)
    assert list(parts) == ["kd"] and parts["kd"].dtype == torch.float32
    assert float(explicit.detach()) > 1e-3
    torch.testing.assert_close(loss, explicit.detach(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(loss, via_kl_div.detach(), rtol=1e-5, atol=1e-7)
    loss.backward()
    explicit.backward()
    ours = grads(student)
    assert set(ours) == {n for n, _ in student.named_parameters()}
    assert_same_grads(ours, grads(ref_student), "student")
    assert all(p.grad is None for p in teacher.parameters()), "the teacher received gradients"


def test_mlm_kd_without_masked_positions_is_zero_and_differentiable():
    teacher, student = pair(masked_lm=True)
    ids, mask = batch()
    loss, _ = MLMKDLoss(teacher, student)(ids, mask, labels=torch.full_like(ids, -100))
    assert float(loss.detach()) == 0.0 and loss.requires_grad
    loss.backward()


# ---------------------------------------------------------------- padding, token types, precision

def _all_methods(family):
    teacher, student = pair(family)
    t_mlm, s_mlm = pair(family, masked_lm=True)
    return [("value_mse", ValueMSELoss(teacher, student)), ("tinybert", TinyBERTLoss(teacher, student)),
            ("mlm_kd", MLMKDLoss(t_mlm, s_mlm, 2.0))]


def extra_inputs(name, ids, mask):
    return {"labels": mlm_labels(ids, mask)} if name == "mlm_kd" else {}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_ids_at_padded_positions_do_not_change_any_loss(family):
    ids, mask = batch(family)
    other = ids.clone()
    other[mask == 0] = torch.randint(3, VOCAB, (int((mask == 0).sum()),))
    assert not torch.equal(other, ids)
    for name, loss_fn in _all_methods(family):
        kw = extra_inputs(name, ids, mask)
        _, parts = loss_fn(ids, mask, **kw)
        _, parts_other = loss_fn(other, mask, **kw)
        for part in parts:
            torch.testing.assert_close(parts_other[part], parts[part], msg=lambda m: f"{name}.{part}: {m}")


def test_token_type_ids_reach_both_models():
    ids, mask = batch()
    tt = torch.zeros_like(ids)
    tt[:, 4:] = 1
    for name, loss_fn in _all_methods("bert"):
        kw = extra_inputs(name, ids, mask)
        _, plain = loss_fn(ids, mask, **kw)
        _, typed = loss_fn(ids, mask, tt, **kw)
        assert any(abs(float(plain[p].detach()) - float(typed[p].detach())) > 1e-6 for p in plain), name


def test_bf16_teacher_autocast_keeps_float32_parts():
    ids, mask = batch()
    for name, loss_fn in _all_methods("bert"):
        kw = extra_inputs(name, ids, mask)
        ref, _ = loss_fn(ids, mask, **kw)
        loss_fn.teacher_autocast = torch.bfloat16
        loss, parts = loss_fn(ids, mask, **kw)
        assert loss.dtype == torch.float32 and all(p.dtype == torch.float32 for p in parts.values()), name
        torch.testing.assert_close(loss, ref, rtol=0.05, atol=0, msg=lambda m: f"{name}: {m}")
        assert float(loss.detach()) != float(ref.detach()), f"{name}: the teacher did not run in bf16"


def test_tinybert_maps_are_dropout_free_in_train_mode():
    """Maps are recomputed from Q/K, before attention dropout: in train mode a first layer's maps are the clean ones.

    (Deeper layers' maps change in train mode, through the dropout of the layers below them.)
    """
    teacher, student = pair(attention_probs_dropout_prob=0.9)  # hidden dropout 0: nothing else random
    ids, mask = batch()
    loss_fn = TinyBERTLoss(teacher, student, layer_map=[(0, 0)])
    _, clean = loss_fn(ids, mask)
    teacher.train(), student.train()
    noisy = copy.deepcopy(teacher)
    noisy.set_attn_implementation("eager")
    with torch.no_grad():
        maps = noisy(ids, attention_mask=mask, output_attentions=True).attentions[0]
    assert (maps == 0).float().mean() > 0.5, "dropout was expected to zero output_attentions maps"
    _, train = loss_fn(ids, mask)
    torch.testing.assert_close(train["attention"], clean["attention"])


# ---------------------------------------------------------------- module tree, errors

def test_projections_are_trained_the_teacher_is_not_a_submodule(tmp_path):
    teacher, student = pair()
    t_mlm, s_mlm = pair(masked_lm=True)
    cases = ((ValueMSELoss(teacher, student), ("value_proj",), teacher),
             (TinyBERTLoss(teacher, student), ("hidden_proj", "embedding_proj"), teacher),
             (MLMKDLoss(t_mlm, s_mlm), (), t_mlm))
    for loss_fn, projections, its_teacher in cases:
        names = {n for n, _ in loss_fn.named_parameters()}
        assert {n.split(".")[0] for n in names} == {"student", *projections}
        assert not any(p is q for p in loss_fn.parameters() for q in its_teacher.parameters())
        for proj in projections:
            assert getattr(loss_fn, proj).weight.shape == (T_HIDDEN, S_HIDDEN)
        # the Trainer must average the loss over accumulation steps (forward takes **batch)
        args = TrainingArguments(output_dir=str(tmp_path), report_to=[], use_cpu=True)
        assert Trainer(model=loss_fn, args=args).model_accepts_loss_kwargs is False


def test_mlm_kd_state_dict_round_trip_without_shared_tensors(tmp_path):
    from safetensors.torch import load_file, save_file

    teacher, student = pair(masked_lm=True)
    loss_fn = MLMKDLoss(teacher, student)
    state = loss_fn.state_dict()
    assert "student.cls.predictions.decoder.weight" not in state and "student.bert.embeddings.word_embeddings.weight" in state
    save_file(state, tmp_path / "m.safetensors")  # raises on shared tensors
    _, fresh_student = pair(masked_lm=True)
    fresh = MLMKDLoss(teacher, fresh_student)
    result = fresh.load_state_dict(load_file(tmp_path / "m.safetensors"), strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    for (name, a), b in zip(student.state_dict().items(), fresh_student.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=lambda m: name)
    assert fresh_student.cls.predictions.decoder.weight is fresh_student.bert.embeddings.word_embeddings.weight


def test_bad_arguments_are_clear_errors():
    teacher, student = pair(s_heads=2)
    for cls in (ValueMSELoss, TinyBERTLoss):
        with pytest.raises(ValueError, match="teacher has 4 heads and the student 2: give the student shape heads: 4"):
            cls(teacher, student)
    teacher, student = pair()
    with pytest.raises(ValueError, match="out of range"):
        TinyBERTLoss(teacher, student, layer_map=[(4, 0)])
    with pytest.raises(ValueError, match="out of range"):
        ValueMSELoss(teacher, student, student_layer=2)
    with pytest.raises(ValueError, match="needs \\*ForMaskedLM models"):
        MLMKDLoss(teacher, student)
    t_mlm, s_mlm = pair(masked_lm=True)
    with pytest.raises(ValueError, match="temperature must be positive"):
        MLMKDLoss(t_mlm, s_mlm, 0.0)
    ids, mask = batch()
    with pytest.raises(ValueError, match="mlm_kd needs `labels`"):
        MLMKDLoss(t_mlm, s_mlm)(ids, mask)
    with pytest.raises(ValueError, match="attention_mask is required"):
        TinyBERTLoss(teacher, student)(ids, mask[:, :3])
    with pytest.raises(ValueError, match="student layers <= teacher layers"):
        TinyBERTLoss(*pair(t_layers=2, s_layers=3))


def test_uniform_layer_map():
    # 1-based teacher layer m*L/M for student layer m, as 0-based (teacher, student) pairs
    assert uniform_layer_map(12, 6) == [(1, 0), (3, 1), (5, 2), (7, 3), (9, 4), (11, 5)]
    assert uniform_layer_map(12, 4) == [(2, 0), (5, 1), (8, 2), (11, 3)]
    assert uniform_layer_map(12, 3) == [(3, 0), (7, 1), (11, 2)]
    assert uniform_layer_map(3, 2) == [(0, 0), (2, 1)]  # 1.5 rounds down; last to last
    assert uniform_layer_map(4, 4) == [(0, 0), (1, 1), (2, 2), (3, 3)]


# ---------------------------------------------------------------- config

OPTIM = {"steps": 1, "batch_size": 2, "lr": 1e-4}
SHAPE = {"layers": 2, "hidden": 32}


@pytest.mark.parametrize("bad, match", [
    ({"method": "tinybert", "relation_heads": 4}, "relation_heads do.*not apply to method 'tinybert'"),
    ({"method": "tinybert", "teacher_layer": 2}, "teacher_layer do.*not apply"),
    ({"method": "value_mse", "layer_map": [[1, 0]]}, "layer_map do.*not apply to method 'value_mse'"),
    ({"method": "mlm_kd", "relations": ["attention"]}, "relations do.*not apply to method 'mlm_kd'"),
    ({"method": "minilm", "temperature": 2.0}, "temperature do.*not apply to method 'minilm'"),
    ({"method": "mlm_kd", "temperature": 0}, "temperature must be a positive number"),
    ({"method": "mlm_kd", "mlm_probability": 1.0}, r"mlm_probability must be in \(0, 1\)"),
    ({"method": "distilbert"}, "method must be one of"),
])
def test_config_rejects_keys_of_other_methods(bad, match):
    with pytest.raises(ConfigError, match=match):
        DistillConfig(optim=OPTIM, shape=SHAPE, **bad)


def test_schema_admits_the_new_methods(tmp_path):
    schema = REPO / "workflow" / "schemas" / "config.schema.yaml"
    cfg = yaml.safe_load((REPO / "workflow" / "config" / "smoke.yaml").read_text())
    path = tmp_path / "c.yaml"
    student = cfg["tracks"]["mono"]["students"]["student"]
    for extra in ({"method": "value_mse"}, {"method": "tinybert", "layer_map": [[1, 0]]},
                  {"method": "mlm_kd", "temperature": 2.0, "mlm_probability": 0.2}):
        student.update(extra)
        validate_workflow_config(cfg, schema, [path])
        for key in ("method", "layer_map", "temperature", "mlm_probability"):
            student.pop(key, None)
    student.update(method="mlm_kd", temperature=0)
    with pytest.raises(ConfigError, match="temperature"):
        validate_workflow_config(cfg, schema, [path])


# ---------------------------------------------------------------- the factory and the stage end to end

@pytest.fixture(scope="module")
def teacher_and_corpus(tmp_path_factory, wordpiece_dir, toy_corpus):
    from transformers import AutoConfig

    root = tmp_path_factory.mktemp("baselines")
    tok = save_tiny_teacher(root, wordpiece_dir, toy_corpus, max_seq_len=24)
    BertModel(AutoConfig.from_pretrained(root / "teacher"), add_pooling_layer=False).save_pretrained(
        root / "encoder_teacher")  # no MLM head
    tok.save_pretrained(root / "encoder_teacher")
    return root, tok


def test_build_method_keeps_the_minilm_stage_as_it_was(teacher_and_corpus):
    root, tok = teacher_and_corpus
    for method, kw in (("minilm", {}), ("minilmv2", {"relation_heads": 8})):
        cfg = DistillConfig(optim=OPTIM, shape=SHAPE, method=method, **kw)
        setup = build_method(cfg, root / "teacher", tok, seed=3)
        assert type(setup.loss) is DistillationLoss and setup.loss.student is setup.student and setup.card == {}
        assert type(setup.collator) is DataCollatorWithPadding and not setup.teacher.training
        torch.manual_seed(3)
        expected = AutoModel.from_config(student_config(setup.teacher.config, **SHAPE))
        for (name, a), b in zip(expected.state_dict().items(), setup.student.state_dict().values()):
            torch.testing.assert_close(b, a, rtol=0, atol=0, msg=lambda m: name)
        assert all(not p.requires_grad for p in setup.teacher.parameters())


def test_build_method_mlm_kd(teacher_and_corpus):
    root, tok = teacher_and_corpus
    cfg = DistillConfig(optim=OPTIM, shape=SHAPE, method="mlm_kd", mlm_probability=0.3)
    setup = build_method(cfg, root / "teacher", tok, seed=3)
    assert type(setup.teacher) is BertForMaskedLM and type(setup.student) is BertForMaskedLM
    assert isinstance(setup.collator, DataCollatorForLanguageModeling) and setup.collator.mlm_probability == 0.3
    assert setup.collator.seed == 3
    assert setup.card == {"temperature": 1.0, "mlm_probability": 0.3}
    saved = BertForMaskedLM.from_pretrained(root / "teacher")
    torch.testing.assert_close(setup.teacher.cls.predictions.transform.dense.weight,
                               saved.cls.predictions.transform.dense.weight, rtol=0, atol=0)
    features = [{"input_ids": tok(" ".join(["anna lives in rome"] * k))["input_ids"]} for k in (1, 3)]
    collated = setup.collator(features)
    loss, _ = setup.loss(**collated)
    assert set(collated) >= {"input_ids", "attention_mask", "labels"} and float(loss.detach()) > 0


def test_batch_seeded_collator_masks_depend_on_seed_and_batch_only(teacher_and_corpus):
    from minilm_repro.data.corpus import load_corpus
    from minilm_repro.distill.collators import BatchSeededMLMCollator

    root, tok = teacher_and_corpus
    corpus = load_corpus(root / "corpus")
    features = [{"input_ids": corpus[i]["input_ids"]} for i in range(16)]
    first = BatchSeededMLMCollator(tok, mlm_probability=0.3, seed=5)
    a = first(features[:8])
    first(features[8:])  # another batch in between changes nothing for the next one
    again = first(features[:8])
    fresh = BatchSeededMLMCollator(tok, mlm_probability=0.3, seed=5)(features[:8])  # e.g. after a resume
    for out in (again, fresh):
        assert torch.equal(out["labels"], a["labels"]) and torch.equal(out["input_ids"], a["input_ids"])
    other_seed = BatchSeededMLMCollator(tok, mlm_probability=0.3, seed=6)(features[:8])
    other_batch = first(features[1:9])
    assert not torch.equal(other_seed["labels"], a["labels"])
    assert not torch.equal(other_batch["labels"][:7], a["labels"][1:])
    # the parent's masking: rate, labels only at masked real non-special tokens, [MASK] in most of them
    big = first(features * 8)
    masked = big["labels"] != -100
    special = torch.isin(big["labels"][masked], torch.tensor(tok.all_special_ids))
    assert not bool((masked & (big["attention_mask"] == 0)).any()) and not bool(special.any())
    rate = float(masked.sum()) / float(big["attention_mask"].sum())
    assert 0.2 < rate < 0.32, rate  # 0.3 of the non-special tokens
    assert float((big["input_ids"][masked] == tok.mask_token_id).float().mean()) > 0.7
    with pytest.raises(ValueError, match="needs a seed"):
        BatchSeededMLMCollator(tok)(features[:2])


def test_mlm_kd_teacher_without_head_is_a_one_line_error(teacher_and_corpus, tmp_path):
    root, _ = teacher_and_corpus
    cfg = DistillConfig(optim=OPTIM, shape=SHAPE, method="mlm_kd")
    with pytest.raises(ConfigError) as err:
        distill(cfg, str(root / "encoder_teacher"), str(root / "corpus"), str(tmp_path / "out"), str(tmp_path / "w"))
    msg = str(err.value)
    assert "\n" not in msg and str(root / "encoder_teacher") in msg
    assert "lacks BertForMaskedLM weights (cls.predictions." in msg and "mlm_kd needs a masked-LM teacher" in msg
    assert not (tmp_path / "out").exists()


E2E_PARTS = {"value_mse": {"attention", "value_mse"}, "tinybert": {"attention", "hidden", "embedding"},
             "mlm_kd": {"kd"}}
PROJECTIONS = {"value_mse": {"value_proj.weight", "value_proj.bias"},
               "tinybert": {"hidden_proj.weight", "hidden_proj.bias", "embedding_proj.weight", "embedding_proj.bias"},
               "mlm_kd": set()}


@pytest.mark.parametrize("method", sorted(E2E_PARTS))
def test_distill_stage_end_to_end_and_resume(method, teacher_and_corpus, tmp_path):
    """A few steps write a loadable student without projections; checkpoints hold them and resume exactly."""
    import shutil

    from safetensors.torch import load_file

    root, _ = teacher_and_corpus
    cfg = DistillConfig(optim={"steps": 4, "batch_size": 4, "lr": 5e-4, "save_steps": 2, "logging_steps": 1,
                               "seed": 7}, shape=SHAPE, method=method)
    out, work = tmp_path / "model", tmp_path / "work"
    metrics = distill(cfg, str(root / "teacher"), str(root / "corpus"), str(out), str(work))
    assert metrics["steps"] == 4 and not metrics["resumed"] and metrics["train_loss"] > 0
    assert {k[len("final_loss_"):] for k in metrics if k.startswith("final_loss_")} == E2E_PARTS[method]
    student = AutoModel.from_pretrained(out)
    assert student.config.num_hidden_layers == 2 and student.config.hidden_size == 32
    card = json.loads((out / "minilm_repro.json").read_text())
    assert card["method"] == method
    weights = load_file(out / "model.safetensors")
    assert not any("proj" in k for k in weights), sorted(weights)
    checkpoint = load_file(work / "checkpoint-4" / "model.safetensors")
    assert PROJECTIONS[method] <= set(checkpoint) and all(k.startswith("student.") for k in set(checkpoint) -
                                                          PROJECTIONS[method])
    # resume from step 2: the student and the projections come back, so the end is the same
    shutil.rmtree(work / "checkpoint-4")
    shutil.rmtree(out)
    again = distill(cfg, str(root / "teacher"), str(root / "corpus"), str(out), str(work))
    assert again["resumed"] is True and again["steps"] == 4
    resumed = load_file(out / "model.safetensors")
    assert resumed.keys() == weights.keys()
    diff = max(float((resumed[k] - weights[k]).abs().max()) for k in weights)
    assert diff < 1e-6, diff
    final = load_file(work / "checkpoint-4" / "model.safetensors")
    for k in PROJECTIONS[method]:
        torch.testing.assert_close(final[k], checkpoint[k], rtol=0, atol=1e-6)
