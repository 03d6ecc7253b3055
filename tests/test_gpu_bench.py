"""benchmarks/bench_distill_step.py's JSON records: the fields, tokens/s and MFU from a step time."""

import argparse
import importlib.util
from pathlib import Path

import pytest

from minilm_repro.plan.flops import distill_step_flops

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_distill_step.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_distill_step", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_records_of_a_gpu_run():
    bench = _bench()
    args = argparse.Namespace(batch=32, seq_len=512, dtype="bf16", student_dtype="bf16", threads=8, device="cuda")
    results = {"baseline": {"step_s": 0.5, "step_times": [0.5, 0.6], "peak_memory_mb": 9000.0},
               "ours": {"step_s": 0.25, "step_times": [0.25], "peak_memory_mb": 3000.0}}
    base, ours = bench.records(args, results, "NVIDIA H100 80GB HBM3")
    # 12x768 teacher (intermediate 3072) -> 6x384 student (1536), MiniLM's 2 relations, last layers
    flops = distill_step_flops(12, 768, 6, 384, 512, 32, relations=2, teacher_intermediate=3072,
                               student_intermediate=1536)
    for rec, step_s in ((base, 0.5), (ours, 0.25)):
        assert rec["device"] == "NVIDIA H100 80GB HBM3" and (rec["batch"], rec["seq_len"]) == (32, 512)
        assert rec["flops_per_step"] == flops and rec["step_s"] == step_s
        assert rec["tokens_per_s"] == pytest.approx(32 * 512 / step_s)
        assert rec["mfu"] == pytest.approx(flops / step_s / 989e12)
        assert rec["peak_memory"] == "cuda max allocated"
    assert base["precision"] == {"teacher": "fp32", "student": "fp32"}
    assert ours["precision"] == {"teacher": "bf16", "student": "bf16"} and ours["peak_memory_mb"] == 3000.0


def test_records_of_a_cpu_run_have_no_mfu():
    bench = _bench()
    args = argparse.Namespace(batch=2, seq_len=128, dtype="bf16", student_dtype="fp32", threads=2, device="cpu")
    results = {"ours": {"step_s": 2.0, "step_times": [2.0], "peak_memory_mb": 1200.0}}
    (rec,) = bench.records(args, results, "cpu:x86_64")
    assert rec["mfu"] is None and rec["peak_tflops"] is None and "cpu:x86_64" in rec["mfu_note"]
    assert rec["achieved_tflops"] == pytest.approx(rec["flops_per_step"] / 2.0 / 1e12)
    assert rec["peak_memory"] == "process RSS" and rec["precision"] == {"teacher": "bf16", "student": "fp32"}
