# Task data: the generated benchmark (smoke) or hub downloads into the canonical layout.


if "benchmark" in config:

    rule generate_benchmark:
        output:
            directory(BENCHMARK_DIR),
        params:
            cfg=as_json(config["benchmark"]),
        log:
            f"{RESULTS}/logs/generate_benchmark.log",
        benchmark:
            f"{RESULTS}/benchmarks/generate_benchmark.tsv"
        shell:
            "minilm-repro generate --out {output} --config {params.cfg:q} > {log} 2>&1"


for _task, _src in config.get("task_sources", {}).items():

    # downloads are local rules (the submit host has the network; compute nodes run offline)
    rule:
        name:
            f"download_{_task}"
        localrule: True
        output:
            f"{tasks_root()}/.{_task}.downloaded",
        params:
            task=f"glue/{_task}" if _task in ("cola", "sst2", "mrpc", "stsb", "qqp", "mnli", "qnli", "rte") else _task,
            hub_id=_src["hub_id"],
            revision=_src["revision"],
            root=tasks_root(),
        log:
            f"{RESULTS}/logs/download_{_task}.log",
        shell:
            "minilm-repro tasks download {params.task} --hub-id {params.hub_id} --revision {params.revision}"
            " --out {params.root} > {log} 2>&1 && touch {output}"


def task_data_input(wildcards):
    """What a tokenize-task job needs: the generated benchmark or the task's download marker."""
    if config["tasks_root"] == "generated":
        return [BENCHMARK_DIR]
    needed = {"mlqa": ["mlqa", "squad"]}.get(wildcards.task, [wildcards.task])
    return [f"{tasks_root()}/.{t}.downloaded" for t in needed if t in config.get("task_sources", {})]
