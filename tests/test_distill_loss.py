"""DistillationLoss against a direct reference: eager attention maps, explicit per-example loops.

The reference never touches the capture hooks or the fused KL: attention distributions come from
``output_attentions=True`` (eager, eval mode), Q/K/V from the attention modules applied to
``output_hidden_states``, each example is cut to its true length (no masking), and the KL is
written out and also taken from ``torch.nn.functional.kl_div``. Tiny random models, with padding.
"""

import copy

import pytest
import torch
import torch.nn.functional as F
from transformers import (
    BertConfig,
    BertForMaskedLM,
    BertModel,
    GPT2Config,
    GPT2Model,
    RobertaConfig,
    RobertaModel,
    XLMRobertaConfig,
    XLMRobertaForMaskedLM,
    XLMRobertaModel,
)

from minilm_repro.distill import DistillationLoss
from minilm_repro.distill.losses import default_relation_heads

FAMILIES = {"bert": (BertConfig, BertModel), "roberta": (RobertaConfig, RobertaModel),
            "xlmr": (XLMRobertaConfig, XLMRobertaModel)}
VOCAB, SEQ = 40, 11
LENGTHS = [SEQ, 6, 1]  # true lengths: full, padded, a single token


@pytest.fixture(autouse=True)
def _threads(torch_threads):
    torch.manual_seed(0)


def config(family, hidden, layers, heads, **kw):
    cfg_cls, _ = FAMILIES[family]
    # a wide initialiser makes relations far from uniform, so the KL is not trivially ~0
    base = dict(vocab_size=VOCAB, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                intermediate_size=2 * hidden, max_position_embeddings=SEQ + 4, initializer_range=0.15,
                hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, pad_token_id=1 if family != "bert" else 0)
    return cfg_cls(**{**base, **kw})


def pair(family="bert", s_heads=4, t_layers=3, s_layers=2, **kw):
    """Teacher 64 wide x t_layers, 4 heads; student 32 wide x s_layers, s_heads heads; eval mode."""
    model_cls = FAMILIES[family][1]
    teacher = model_cls(config(family, 64, t_layers, 4, **kw), add_pooling_layer=False).eval()
    student = model_cls(config(family, 32, s_layers, s_heads, **kw), add_pooling_layer=False).eval()
    return teacher, student


def batch(family="bert"):
    pad = 0 if family == "bert" else 1
    ids = torch.randint(3, VOCAB, (len(LENGTHS), SEQ))
    mask = (torch.arange(SEQ)[None] < torch.tensor(LENGTHS)[:, None]).long()
    return ids.masked_fill(mask == 0, pad), mask


# ---------------------------------------------------------------- reference

def reference(teacher, student, ids, mask, method, t_layer=-1, s_layer=-1, relation_heads=None, token_type_ids=None):
    """Parts of the loss from eager maps and per-example loops: {part: (explicit KL, F.kl_div)}."""
    outs = []
    for model, layer in ((teacher, t_layer), (student, s_layer)):
        eager = copy.deepcopy(model)  # same weights, eager attention (the only one that returns maps)
        eager.set_attn_implementation("eager")
        with torch.set_grad_enabled(model is student):
            out = eager(ids, attention_mask=mask, token_type_ids=token_type_ids, output_attentions=True,
                        output_hidden_states=True)
            base = eager.base_model
            layer = layer % len(base.encoder.layer)
            attn = base.encoder.layer[layer].attention.self
            hidden = out.hidden_states[layer]  # input of that layer
            outs.append(dict(model=eager, maps=out.attentions[layer], heads=base.config.num_attention_heads,
                             q=attn.query(hidden), k=attn.key(hidden), v=attn.value(hidden)))
    t, s = outs

    def relation(x, heads, n):  # (n, H) -> (heads, n, n)
        d = x.shape[-1] // heads
        x = x[:n].reshape(n, heads, d).transpose(0, 1)
        return torch.softmax(x @ x.transpose(-1, -2) / d ** 0.5, dim=-1)

    if method == "minilm":
        names = {"attention": None, "value": "v"}
    else:
        names = {"query": "q", "key": "k", "value": "v"}
    parts = {}
    for part, key in names.items():
        explicit, via_kl_div = [], []
        for b, n in enumerate(mask.sum(1).tolist()):
            if key is None:
                p, q = t["maps"][b, :, :n, :n], s["maps"][b, :, :n, :n]
                heads = t["heads"]
            else:
                heads = relation_heads or t["heads"]
                p, q = relation(t[key][b], heads, n), relation(s[key][b], heads, n)
            explicit.append(sum((p[h, i] * (p[h, i].log() - q[h, i].log())).sum()
                                for h in range(heads) for i in range(n)) / (heads * n))
            via_kl_div.append(F.kl_div(q.log(), p, reduction="sum") / (heads * n))
        parts[part] = (torch.stack(explicit).mean(), torch.stack(via_kl_div).mean())
    return parts, s["model"]


def grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def check_against_reference(teacher, student, ids, mask, method, **kw):
    t_layer, s_layer = kw.get("teacher_layer", -1), kw.get("student_layer", -1)
    loss_fn = DistillationLoss(teacher, student, method=method, **kw)
    loss, parts = loss_fn(ids, mask)
    ref, ref_student = reference(teacher, student, ids, mask, method, t_layer, s_layer, kw.get("relation_heads"))
    assert set(parts) == set(ref)
    for name, (explicit, via_kl_div) in ref.items():
        assert parts[name].dtype == torch.float32 and parts[name].dim() == 0
        assert float(explicit.detach()) > 1e-3, f"{name}: reference KL too small to be a meaningful test"
        torch.testing.assert_close(parts[name], explicit.detach(), rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(parts[name], via_kl_div.detach(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(loss, sum(parts.values()))
    # gradients: ours on the SDPA student vs autograd through the eager reference copy
    loss.backward()
    ours = grads(student)
    sum(e for e, _ in ref.values()).backward()
    theirs = grads(ref_student)
    assert ours, "no gradient reached the student"
    scale = max(float(g.abs().max()) for g in theirs.values())
    for name, g in ours.items():
        torch.testing.assert_close(g, theirs[name], rtol=0, atol=2e-5 * scale, msg=lambda m: f"{name}: {m}")
    for name in set(theirs) - set(ours):  # parameters above the captured projections
        assert float(theirs[name].abs().max()) <= 1e-7 * scale, name
    assert all(p.grad is None for p in teacher.parameters()), "the teacher received gradients"
    return loss_fn


# ---------------------------------------------------------------- agreement with the reference

@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_minilm_matches_reference(family):
    teacher, student = pair(family)
    ids, mask = batch(family)
    check_against_reference(teacher, student, ids, mask, "minilm")


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_minilmv2_relation_heads_resplit_matches_reference(family):
    teacher, student = pair(family, s_heads=2)  # 4 teacher heads, 2 student heads, 8 relation heads
    ids, mask = batch(family)
    check_against_reference(teacher, student, ids, mask, "minilmv2", relation_heads=8)


@pytest.mark.parametrize("method,kw", [("minilm", {}), ("minilmv2", {"relation_heads": 4})])
def test_inner_layers_match_reference(method, kw):
    teacher, student = pair(t_layers=3, s_layers=3)
    ids, mask = batch()
    check_against_reference(teacher, student, ids, mask, method, teacher_layer=1, student_layer=0, **kw)
    teacher.zero_grad(), student.zero_grad()
    check_against_reference(teacher, student, ids, mask, method, teacher_layer=-2, student_layer=1, **kw)


def test_token_type_ids_reach_both_models():
    teacher, student = pair()
    ids, mask = batch()
    tt = torch.zeros_like(ids)
    tt[:, 4:] = 1
    loss_fn = DistillationLoss(teacher, student)
    _, parts = loss_fn(ids, mask, tt)
    ref, _ = reference(teacher, student, ids, mask, "minilm", token_type_ids=tt)
    for name, (explicit, _) in ref.items():
        torch.testing.assert_close(parts[name], explicit.detach(), rtol=1e-5, atol=1e-7)
    _, plain = loss_fn(ids, mask)
    assert abs(float(plain["attention"].detach()) - float(parts["attention"].detach())) > 1e-6


def test_masked_lm_wrappers_give_the_encoder_loss():
    for family, wrapper in (("bert", BertForMaskedLM), ("xlmr", XLMRobertaForMaskedLM)):
        teacher, student = pair(family)
        ids, mask = batch(family)
        t_mlm, s_mlm = wrapper(teacher.config).eval(), wrapper(student.config).eval()
        t_mlm.base_model.load_state_dict(teacher.state_dict()), s_mlm.base_model.load_state_dict(student.state_dict())
        for method, kw in (("minilm", {}), ("minilmv2", {"relation_heads": 8})):
            loss, parts = DistillationLoss(teacher, student, method, **kw)(ids, mask)
            loss_w, parts_w = DistillationLoss(t_mlm, s_mlm, method, **kw)(ids, mask)
            torch.testing.assert_close(loss_w, loss, rtol=1e-6, atol=1e-8)
            assert parts_w.keys() == parts.keys()


# ---------------------------------------------------------------- ablation options

def test_relations_subset_and_layer_map_sum():
    teacher, student = pair(t_layers=3, s_layers=3)
    ids, mask = batch()
    _, full = DistillationLoss(teacher, student)(ids, mask)
    for only in ("attention", "value"):
        loss, parts = DistillationLoss(teacher, student, relations=(only,))(ids, mask)
        assert list(parts) == [only]
        torch.testing.assert_close(loss, full[only])
    pairs = [(0, 0), (1, 1), (2, 2)]
    loss, parts = DistillationLoss(teacher, student, layer_map=pairs)(ids, mask)
    singles = [DistillationLoss(teacher, student, teacher_layer=t, student_layer=s)(ids, mask) for t, s in pairs]
    torch.testing.assert_close(loss, sum(x[0] for x in singles))
    for name in parts:
        torch.testing.assert_close(parts[name], sum(x[1][name] for x in singles))


def test_head_chunking_does_not_change_the_result():
    teacher, student = pair(s_heads=2)
    ids, mask = batch()
    results = []
    for chunk in (1, 3, None):
        student.zero_grad()
        loss, _ = DistillationLoss(teacher, student, "minilmv2", relation_heads=8, head_chunk=chunk)(ids, mask)
        loss.backward()
        results.append((loss.detach(), grads(student)))
    for loss, g in results[1:]:
        torch.testing.assert_close(loss, results[0][0])
        for name in g:
            torch.testing.assert_close(g[name], results[0][1][name])


# ---------------------------------------------------------------- modes, dtypes, outputs

def test_attention_dropout_in_train_mode_does_not_change_relations():
    """Q/K/V are captured before attention dropout: train mode gives the eval-mode (clean) loss."""
    teacher, student = pair(attention_probs_dropout_prob=0.9)  # hidden dropout 0: nothing else random
    ids, mask = batch()
    loss_fn = DistillationLoss(teacher, student, teacher_layer=0, student_layer=0)
    clean, _ = loss_fn(ids, mask)
    teacher.train(), student.train()
    noisy_maps = copy.deepcopy(teacher)
    noisy_maps.set_attn_implementation("eager")
    with torch.no_grad():
        train_maps = noisy_maps(ids, attention_mask=mask, output_attentions=True).attentions[0]
    assert (train_maps == 0).float().mean() > 0.5, "dropout was expected to zero output_attentions maps"
    torch.testing.assert_close(loss_fn(ids, mask)[0], clean)


def test_no_grad_and_student_output():
    teacher, student = pair()
    ids, mask = batch()
    with torch.no_grad():
        loss, _ = DistillationLoss(teacher, student)(ids, mask)
    assert not loss.requires_grad
    keep = DistillationLoss(teacher, student, keep_student_output=True)
    loss_keep, _ = keep(ids, mask)
    torch.testing.assert_close(loss_keep, loss)
    expected = student(ids, attention_mask=mask).last_hidden_state
    torch.testing.assert_close(keep.last_student_output.last_hidden_state, expected)
    default = DistillationLoss(teacher, student)
    default(ids, mask)
    assert default.last_student_output is None


def test_bf16_autocast_keeps_float32_relations():
    teacher, student = pair()
    ids, mask = batch()
    loss_fn = DistillationLoss(teacher, student)
    ref, _ = loss_fn(ids, mask)
    seen = []
    for model in (teacher, student):
        model.encoder.layer[-1].attention.self.query.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss, parts = loss_fn(ids, mask)
    assert seen[-2:] == [torch.bfloat16] * 2, "the caller's autocast must reach both forwards"
    assert loss.dtype == torch.float32 and all(p.dtype == torch.float32 for p in parts.values())
    torch.testing.assert_close(loss, ref, rtol=0.05, atol=0)
    loss.backward()
    assert all(p.grad is None or p.grad.dtype == torch.float32 for p in student.parameters())
    loss_t, _ = DistillationLoss(teacher, student, teacher_autocast=torch.bfloat16)(ids, mask)
    torch.testing.assert_close(loss_t, ref, rtol=0.05, atol=0)
    assert float(loss_t.detach()) != float(ref.detach())  # the teacher really ran in bf16


# ---------------------------------------------------------------- errors and defaults

def test_head_mismatch_for_minilm_suggests_minilmv2():
    teacher, student = pair(s_heads=2)
    with pytest.raises(ValueError, match="minilmv2"):
        DistillationLoss(teacher, student, "minilm")


def test_bad_arguments_are_clear_errors():
    teacher, student = pair(s_heads=2)
    with pytest.raises(ValueError, match="relation_heads=5 does not divide the teacher hidden size 64"):
        DistillationLoss(teacher, student, "minilmv2", relation_heads=5)
    with pytest.raises(ValueError, match="relation_heads=64 does not divide the student hidden size 32"):
        DistillationLoss(teacher, student, "minilmv2", relation_heads=64)
    with pytest.raises(ValueError, match="positive integer"):
        DistillationLoss(teacher, student, "minilmv2", relation_heads=0)
    with pytest.raises(ValueError, match="method must be"):
        DistillationLoss(teacher, student, "tinybert")
    with pytest.raises(ValueError, match="out of range"):
        DistillationLoss(teacher, student, "minilmv2", relation_heads=8, student_layer=2)
    with pytest.raises(ValueError, match="either layer_map or teacher_layer/student_layer"):
        DistillationLoss(teacher, student, "minilmv2", relation_heads=8, teacher_layer=0, layer_map=[(1, 1)])
    with pytest.raises(ValueError, match="relations for method='minilmv2'"):
        DistillationLoss(teacher, student, "minilmv2", relation_heads=8, relations=("attention",))
    gpt2 = GPT2Model(GPT2Config(n_embd=16, n_layer=1, n_head=2, vocab_size=VOCAB, bos_token_id=0, eos_token_id=0))
    with pytest.raises(ValueError, match=r"GPT2Model: expected an encoder .*`query`, `key` and `value` nn.Linear"):
        DistillationLoss(teacher, gpt2, "minilmv2", relation_heads=8)
    ids, mask = batch()
    with pytest.raises(ValueError, match="attention_mask is required"):
        DistillationLoss(teacher, student, "minilmv2", relation_heads=8)(ids, mask[:, :4])


def test_default_relation_heads():
    assert default_relation_heads(768, 12) == 48
    assert default_relation_heads(1024, 16) == 64
    assert default_relation_heads(64, 4) == 4
    cfg = dict(vocab_size=VOCAB, num_hidden_layers=1, intermediate_size=8, max_position_embeddings=SEQ)
    teacher = BertModel(BertConfig(hidden_size=768, num_attention_heads=12, **cfg), add_pooling_layer=False)
    student = BertModel(BertConfig(hidden_size=384, num_attention_heads=12, **cfg), add_pooling_layer=False)
    assert DistillationLoss(teacher, student, "minilmv2").heads == 48
    small_t, small_s = pair(s_heads=2)
    assert DistillationLoss(small_t, small_s, "minilmv2").heads == 4
