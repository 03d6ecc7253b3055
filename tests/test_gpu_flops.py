"""minilm_repro.plan.flops: counts by hand, the same counts from torch's FLOP counter, and MFU."""

import pytest
import torch

from minilm_repro.plan.flops import (
    distill_step_flops,
    encoder_flops,
    mfu,
    peak_tflops,
    training_flops,
)

L, H, F, S, B, V = 2, 8, 32, 4, 3, 10


def test_encoder_forward_by_hand():
    # one layer, one sequence of S = 4 positions, H = 8, F = 32; a matmul (m, k) @ (k, n) is 2 m k n FLOPs
    qkv = 3 * (2 * 4 * 8 * 8)          # Q, K, V: 3 x (S, H) @ (H, H)           = 1536
    scores = 2 * 4 * 8 * 4             # Q Kᵀ over all heads: (S, H) @ (H, S)    =  256
    mix = 2 * 4 * 4 * 8                # weights @ V: (S, S) @ (S, H)            =  256
    out = 2 * 4 * 8 * 8                # output projection (S, H) @ (H, H)       =  512
    ffn = 2 * 4 * 8 * 32 + 2 * 4 * 32 * 8  # (S, H) @ (H, F), (S, F) @ (F, H)    = 4096
    layer = qkv + scores + mix + out + ffn
    assert layer == 6656
    head = 2 * 4 * 8 * 8 + 2 * 4 * 8 * 10  # MLM transform (H, H), decoder (H, V)  = 1152
    forward = 3 * (2 * layer + head)   # batch of 3
    assert forward == 43392
    assert encoder_flops(L, H, S, B, vocab=V, intermediate=F) == forward
    assert training_flops(encoder_flops(L, H, S, B, vocab=V, intermediate=F)) == 3 * 43392
    assert encoder_flops(L, H, S, B, intermediate=F) == 3 * 2 * layer  # bare encoder: no head


def test_distill_step_by_hand():
    # teacher 2 x 8 (F 32) -> student 1 x 4 (F 16), S = 4, batch 3, MiniLM's 2 relations, last layers
    teacher_layer = 6656                       # from the test above
    teacher = teacher_layer + 3 * (2 * 4 * 8 * 8) + 2 * (2 * 4 * 8 * 4)  # layer 1; Q, K, V of layer 2; 2 relations
    student_forward = 3 * (2 * 4 * 4 * 4) + 2 * (2 * 4 * 4 * 4)          # Q, K, V of its only layer; 2 relations
    assert (teacher, student_forward) == (8704, 640)
    expected = 3 * (teacher + 3 * student_forward)                        # the student trains: 3 x forward
    assert expected == 31872
    assert distill_step_flops(2, 8, 1, 4, S, B, relations=2, teacher_intermediate=32, student_intermediate=16) \
        == expected


def _bert(layers, hidden, heads, intermediate, vocab=V, mlm=True):
    from transformers import BertConfig, BertForMaskedLM, BertModel

    cfg = BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                     intermediate_size=intermediate, max_position_embeddings=16, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, attn_implementation="eager")
    torch.manual_seed(0)
    return BertForMaskedLM(cfg) if mlm else BertModel(cfg, add_pooling_layer=False)


def _counted(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def test_counts_equal_torchs_flop_counter():
    model = _bert(L, H, 2, F)
    ids = torch.randint(0, V, (B, S))
    assert _counted(lambda: model(ids)) == encoder_flops(L, H, S, B, vocab=V, intermediate=F)
    assert _counted(lambda: model(ids).logits.sum().backward()) == training_flops(
        encoder_flops(L, H, S, B, vocab=V, intermediate=F))


@pytest.mark.parametrize("method,relations", [("minilm", 2), ("minilmv2", 3)])
def test_distill_step_equals_torchs_flop_counter(method, relations):
    from minilm_repro.distill import DistillationLoss

    teacher = _bert(3, 16, 4, 64, mlm=False).eval()
    student = _bert(2, 8, 4, 24, mlm=False).train()
    kw = {"relation_heads": 4} if method == "minilmv2" else {}
    loss = DistillationLoss(teacher, student, method=method, **kw)
    ids = torch.randint(0, V, (B, S))
    mask = torch.ones(B, S, dtype=torch.long)
    counted = _counted(lambda: loss(ids, mask)[0].backward())
    assert counted == distill_step_flops(3, 16, 2, 8, S, B, relations=relations, teacher_intermediate=64,
                                         student_intermediate=24)


def test_mfu_against_the_device_peak():
    rec = mfu(2e15, 4.0, "NVIDIA H100 80GB HBM3")  # 500 TFLOP/s achieved
    assert rec["achieved_tflops"] == pytest.approx(500.0)
    assert rec["peak_tflops"] == 989.0 and rec["mfu"] == pytest.approx(500 / 989)
    assert peak_tflops("NVIDIA H100 PCIe")[0] == 756.0
    assert peak_tflops("Tesla V100-SXM2-16GB")[0] == 125.0 and peak_tflops("Tesla V100-PCIE-32GB")[0] == 112.0
    assert peak_tflops("NVIDIA A100-SXM4-80GB")[0] == peak_tflops("NVIDIA A100 80GB PCIe")[0] == 312.0
    assert peak_tflops("NVIDIA A10")[0] == 125.0 and peak_tflops("NVIDIA L4")[0] == 121.0
    assert peak_tflops("NVIDIA H200")[0] == 989.0 and peak_tflops("Tesla T4")[0] == 65.0
    for unknown in ("NVIDIA A10G", "NVIDIA L40S", "cpu:x86_64"):
        rec = mfu(1e12, 1.0, unknown)
        assert rec["mfu"] is None and rec["peak_tflops"] is None and unknown in rec["mfu_note"]
