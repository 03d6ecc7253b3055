"""The real-cpu profile, reduced, through Snakemake on the real checkpoint and GLUE's own training sets: the MiniLM
student above the same-shape scratch MLM model on SST-2.

Reduced from ``workflow/config/real-cpu.yaml`` by :func:`reduced_profile`, everything else being the
profile's own (teacher all-MiniLM-L6-v2, the L4xH192 shape, pretraining peak lr, block length, the
fine-tuning settings): the Wikipedia source only (WikiText-2 valid + test, cleaned as the profile cleans
it), the MiniLM student and the scratch model only, STEPS x BATCH blocks, SST-2 fine-tuned on TRAIN_EXAMPLES
of its training set at lr LR for EPOCHS and evaluated on its full dev set, one seed (pretraining and
fine-tuning). A few minutes on 2 CPU cores.

MEASURED: this config at seeds 1, 2 and 3 on a 2-core AMD EPYC, with STS-B fine-tuned beside SST-2: SST-2
MiniLM 67.8 / 65.3 / 65.5 against scratch 50.9 (the majority class) at every seed, Δ +16.9 / +14.3 / +14.6;
STS-B Pearson Δ +0.9 / +0.7 / +0.1 (6.2 vs 5.4, 6.9 vs 6.2, 4.4 vs 4.4), and at 8 epochs scratch ahead
(11.5 vs 10.0, seed 1): at this budget only SST-2 separates the two, so only SST-2 is asserted. MARGIN is
half the smallest SST-2 Δ, the rest slack for other machines' float order.
"""

import json
import subprocess

import pytest
import yaml
from conftest import REPO, SHARED

pytestmark = pytest.mark.slow
REAL_BERT = SHARED / "models" / "all-MiniLM-L6-v2"
STEPS, BATCH, TRAIN_EXAMPLES, LR, EPOCHS = 150, 16, 1000, 5.0e-4, 3
TASKS = ("sst2",)
METRIC = {"sst2": "accuracy"}
# seed: {task: (MiniLM, scratch)} dev scores (percent) of this config with STS-B beside SST-2
MEASURED = {1: {"sst2": (67.78, 50.92), "stsb": (6.23, 5.37)}, 2: {"sst2": (65.25, 50.92), "stsb": (6.89, 6.17)},
            3: {"sst2": (65.48, 50.92), "stsb": (4.42, 4.35)}}
MARGIN = {"sst2": 7.0}


def reduced_profile(seed: int) -> dict:
    """real-cpu.yaml with fewer steps, examples, models and tasks; absolute paths to ../shared."""
    cfg = yaml.safe_load((REPO / "workflow/config/real-cpu.yaml").read_text())
    cfg["profile"] = "real-ci"
    cfg["task_sources"] = {"sst2": {"path": str(SHARED / "realdata/glue_data/SST-2")}}
    mono = cfg["tracks"]["mono"]
    wiki = mono["corpus"]["text"]["sources"]["wikipedia"]
    wiki["files"] = [str(SHARED / "realdata" / f.removeprefix("../shared/realdata/")) for f in wiki["files"]]
    mono["corpus"]["text"]["sources"] = {"wikipedia": wiki}
    mono["teacher"] = {"path": str(REAL_BERT)}
    student = mono["students"]["L4xH192"]
    optim = {**student["optim"], "steps": STEPS, "batch_size": BATCH, "warmup_steps": STEPS // 10,
             "save_steps": STEPS, "logging_steps": 25, "seed": seed}
    mono["students"] = {"L4xH192": {**student, "optim": optim}}
    mono["scratch"] = {"like": "L4xH192", "optim": optim}
    mono.pop("speed")
    mono["finetune"] = {"models": ["L4xH192", "scratch"], "tasks": list(TASKS)}
    cfg["finetune"]["tasks"] = {t: {**cfg["finetune"]["tasks"][t], "max_train_examples": TRAIN_EXAMPLES, "lr": [LR],
                                    "epochs": [EPOCHS], "seeds": [seed]} for t in TASKS}
    return cfg


def run_reduced(tmp_path, seed: int) -> dict:
    """Run the reduced profile at ``seed`` in ``tmp_path``; {task: {model: dev score}} and the results dir."""
    path = tmp_path / "real-ci.yaml"
    path.write_text(yaml.safe_dump(reduced_profile(seed)))
    work = tmp_path / "wd"
    res = subprocess.run(["snakemake", "-s", str(REPO / "Snakefile"), "--configfile", str(path), "--directory",
                          str(work), "--cores", "2"], check=False, capture_output=True, text=True, timeout=1800)
    assert res.returncode == 0, res.stderr[-4000:]
    scores = {}
    for task in TASKS:
        for model in ("L4xH192", "scratch"):
            (rec,) = (json.loads(p.read_text()) for p in (work / f"results/mono/finetune/{model}/{task}").glob("*/seed*.json")
                      if not p.name.endswith(".predictions.json"))
            scores.setdefault(task, {})[model] = rec["evals"]["default__validation"]["scores"][METRIC[task]]
    return {"scores": scores, "results": work / "results"}


def test_minilm_beats_scratch_on_real_sst2(tmp_path):
    got = run_reduced(tmp_path, 1)
    results = got["results"]
    records = {m: json.loads((results / f"mono/models/{m}.metrics.json").read_text()) for m in ("L4xH192", "scratch")}
    for rec in records.values():  # the same budget, the same shape
        assert (rec["steps"], rec["config"]["optim"]["batch_size"], rec["layers"], rec["hidden"]) == (STEPS, BATCH, 4, 192)
    for task in TASKS:
        s = got["scores"][task]
        assert s["L4xH192"] - s["scratch"] >= MARGIN[task], (task, s, MEASURED)
    stats = json.loads((results / "mono/corpus/stats.json").read_text())
    cleaning = stats["sources"]["wikipedia/en"]["cleaning"]
    assert cleaning["kind"] == "wikitext" and cleaning["removed"]["headings"]["lines"] > 0
    page = (results / "results-page.md").read_text()
    assert "| glue/sst2" in page and "as distributed" in page and "the paper's findings, measured" in page
