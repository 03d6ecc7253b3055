"""FLOPs of BERT-style encoders and of a MiniLM distillation step; model FLOPs utilisation (MFU).

Counted: matrix multiplications only, 2 FLOPs per multiply-add (the MFU convention of Kaplan et
al. 2020 and Chowdhery et al. 2022, appendix B). Left out: embedding look-ups, layer norms,
softmax, GELU, biases, dropout (about 1 % at BERT sizes). Backward = 2 x forward: every matmul
has two gradient matmuls (w.r.t. its input and its weight, or its two inputs) of its own size.
``torch.utils.flop_counter.FlopCounterMode`` counts the same (tests/test_gpu_flops.py).

Shapes: L layers, hidden H, intermediate F (4H by default), sequence length S, batch B, vocab V.
Every count is for a whole batch of B sequences of S positions (padding included: it is computed).
"""

from __future__ import annotations

import re


def qkv_flops(hidden: int, seq_len: int) -> int:
    """Q, K, V projections of one layer on one sequence: 3 x (S, H) @ (H, H)."""
    return 3 * 2 * seq_len * hidden * hidden


def relation_flops(hidden: int, seq_len: int) -> int:
    """One S x S score matrix over all heads of one sequence: X1_h @ X2_hᵀ per head, summed over
    heads of width H / heads, whatever their count (self-attention's Q Kᵀ and weights @ V each cost
    this much; so does each MiniLM relation)."""
    return 2 * seq_len * seq_len * hidden


def layer_flops(hidden: int, seq_len: int, intermediate: int | None = None) -> int:
    """Forward FLOPs of one encoder layer on one sequence: Q, K, V; Q Kᵀ; weights @ V; output
    projection; the two feed-forward matmuls (H -> F -> H)."""
    f = 4 * hidden if intermediate is None else intermediate
    return (qkv_flops(hidden, seq_len) + 2 * relation_flops(hidden, seq_len) + 2 * seq_len * hidden * hidden
            + 2 * 2 * seq_len * hidden * f)


def linear_flops(positions: float, n_in: int, n_out: int) -> float:
    """A dense layer (n_in -> n_out) applied at ``positions`` positions: (positions, n_in) @ (n_in, n_out)."""
    return 2 * positions * n_in * n_out


def mlm_head_flops(hidden: int, vocab: int, positions: float) -> float:
    """BERT's masked-LM head at ``positions`` positions: the dense H -> H transform, the decoder H -> V."""
    return linear_flops(positions, hidden, hidden) + linear_flops(positions, hidden, vocab)


def capture_flops(layer: int, hidden: int, seq_len: int, intermediate: int | None = None) -> int:
    """Forward FLOPs of one sequence up to the Q, K, V projections of layer ``layer`` (1-based), where
    minilm_repro.models.capture stops the forward: ``layer - 1`` whole layers, then Q, K, V."""
    return (layer - 1) * layer_flops(hidden, seq_len, intermediate) + qkv_flops(hidden, seq_len)


def encoder_flops(layers: int, hidden: int, seq_len: int, batch: int, vocab: int = 0,
                  intermediate: int | None = None) -> int:
    """Forward FLOPs of an encoder on ``batch`` sequences; ``vocab`` > 0 adds BERT's MLM head at
    every position (dense H -> H transform, decoder H -> V), as ``*ForMaskedLM`` computes it."""
    head = mlm_head_flops(hidden, vocab, seq_len) if vocab else 0
    return batch * (layers * layer_flops(hidden, seq_len, intermediate) + head)


def training_flops(forward: int) -> int:
    """One training step (forward + backward) of a model whose forward costs ``forward`` FLOPs."""
    return 3 * forward


def distill_step_flops(teacher_layers: int, teacher_hidden: int, student_layers: int, student_hidden: int,
                       seq_len: int, batch: int, relations: int = 2, teacher_intermediate: int | None = None,
                       student_intermediate: int | None = None) -> int:
    """FLOPs of one MiniLM step (minilm_repro.distill.DistillationLoss) on ``batch`` sequences.

    Layers are counted up to the captured one (the paper's setting, the last: ``*_layers`` = the
    layer count; layer i: i + 1): both forwards stop right after its Q, K, V projections
    (minilm_repro.models.capture), so it costs Q, K, V only. ``relations``: relation matrices per
    model and sequence, 2 for MiniLM (attention Q-K, value V-V), 3 for MiniLMv2 (Q-Q, K-K, V-V),
    times the layer pairs of a ``layer_map``. The teacher runs forward only; the student trains:
    its layers and relations cost 3 x their forward (the relations' gradients are the two matmuls
    of (softmax(S) - P) with the student's projections).
    """
    def until_capture(layers, hidden, intermediate):
        return capture_flops(layers, hidden, seq_len, intermediate) + relations * relation_flops(hidden, seq_len)

    teacher = until_capture(teacher_layers, teacher_hidden, teacher_intermediate)
    student = training_flops(until_capture(student_layers, student_hidden, student_intermediate))
    return batch * (teacher + student)


# Dense (no sparsity) tensor-core peak of one GPU in TFLOP/s, bf16, or fp16 where the GPU has no
# bf16 (V100, T4). Source: NVIDIA's datasheets (their "with sparsity" figures are twice these):
# V100 (SXM2 125, PCIe 112, V100S 130; fp16 tensor), T4 (65; fp16), A100 (312, SXM4 and PCIe),
# A10 (125), L4 (121), H100 (SXM 989, PCIe 756, NVL 835), H200 (SXM 989, NVL 835).
# First match wins: variants before the family.
PEAK_TFLOPS: tuple[tuple[str, float, str], ...] = (
    (r"V100S", 130.0, "V100S PCIe, fp16"),
    (r"V100.*PCIE", 112.0, "V100 PCIe, fp16"),
    (r"V100", 125.0, "V100 SXM2, fp16"),
    (r"\bT4\b", 65.0, "T4, fp16"),
    (r"A100", 312.0, "A100, bf16"),
    (r"\bA10\b", 125.0, "A10, bf16"),
    (r"\bL4\b", 121.0, "L4, bf16"),
    (r"H100.*PCIE", 756.0, "H100 PCIe, bf16"),
    (r"H100.*NVL", 835.0, "H100 NVL, bf16"),
    (r"H100", 989.0, "H100 SXM, bf16"),
    (r"H200.*NVL", 835.0, "H200 NVL, bf16"),
    (r"H200", 989.0, "H200 SXM, bf16"),
)


def known_devices() -> list[str]:
    """The devices of :data:`PEAK_TFLOPS`, as its rows name them (e.g. ``H100 SXM``)."""
    return [row.split(",")[0] for _, _, row in PEAK_TFLOPS]


def peak_tflops(device_name: str) -> tuple[float | None, str]:
    """(dense bf16/fp16 peak TFLOP/s of the device named e.g. ``NVIDIA H100 80GB HBM3``, the table
    row used), or (None, why) for a device not in :data:`PEAK_TFLOPS`."""
    for pattern, peak, row in PEAK_TFLOPS:
        if re.search(pattern, device_name, re.IGNORECASE):
            return peak, row
    return None, f"no peak FLOP/s known for {device_name!r} (minilm_repro.plan.flops.PEAK_TFLOPS)"


def mfu(flops_per_step: float, step_seconds: float, device_name: str, devices: int = 1) -> dict:
    """Model FLOPs utilisation of a step of ``flops_per_step`` FLOPs taking ``step_seconds`` s on
    ``devices`` devices named ``device_name``: achieved TFLOP/s over the dense bf16/fp16 peak
    (whatever precision the step ran in). ``mfu`` is None, with the reason in ``mfu_note``, for a
    device without a known peak (CPUs included)."""
    achieved = flops_per_step / step_seconds / 1e12
    peak, row = peak_tflops(device_name)
    return {"achieved_tflops": achieved, "peak_tflops": peak and peak * devices,
            "mfu": achieved / (peak * devices) if peak else None,
            "mfu_note": f"against {devices} x {peak} TFLOP/s ({row}, dense)" if peak else row}
