# Task data: the generated benchmark (smoke) or hub downloads into the canonical layout.


if "benchmark" in config:

    rule generate_benchmark:
        output:
            directory(BENCHMARK_DIR),
        params:
            spec=PLAN.spec_of("generate_benchmark"),
        log:
            f"{RESULTS}/logs/generate_benchmark.log",
        benchmark:
            f"{RESULTS}/benchmarks/generate_benchmark.tsv"
        shell:
            "minilm-repro generate --spec {params.spec:q} > {log} 2>&1"


for _job in PLAN.jobs.values():
    if _job.stage == "fetch-release":

        rule:
            name:
                _job.rule
            localrule: True
            output:
                release=_job.paths["done"],
            params:
                spec=PLAN.spec_of(_job.rule),
            log:
                f"{RESULTS}/logs/{_job.rule}.log",
            benchmark:
                f"{RESULTS}/benchmarks/{_job.rule}.tsv"
            shell:
                "minilm-repro fetch-release --spec {params.spec:q} > {log} 2>&1"

    if _job.stage not in ("tasks-download", "tasks-import"):
        continue

    if _job.stage == "tasks-download":

        # downloads are local rules (the submit host has the network; compute nodes run offline)
        rule:
            name:
                _job.rule
            localrule: True
            output:
                done=_job.paths["done"],
            params:
                task=PLAN.setting_of(_job.rule, "task"),
                hub_id=PLAN.setting_of(_job.rule, "hub_id"),
                revision=PLAN.setting_of(_job.rule, "revision"),
                root=folder_of("done"),
            log:
                f"{RESULTS}/logs/{_job.rule}.log",
            benchmark:
                f"{RESULTS}/benchmarks/{_job.rule}.tsv"
            shell:
                "minilm-repro tasks download {params.task} --hub-id {params.hub_id} --revision {params.revision}"
                " --out {params.root} > {log} 2>&1 && touch {output.done}"

    else:

        # local task files in their distributed format; their files are inputs (replacing one reimports)
        rule:
            name:
                _job.rule
            localrule: True
            input:
                unpack(PLAN.inputs_of(_job.rule)),
            output:
                done=_job.paths["done"],
            params:
                task=PLAN.setting_of(_job.rule, "task"),
                source=PLAN.setting_of(_job.rule, "path"),
                split=PLAN.split_option_of(_job.rule),
                root=folder_of("done"),
            log:
                f"{RESULTS}/logs/{_job.rule}.log",
            benchmark:
                f"{RESULTS}/benchmarks/{_job.rule}.tsv"
            shell:
                "minilm-repro tasks import {params.task} --source {params.source:q} --out {params.root}"
                " {params.split} > {log} 2>&1 && touch {output.done}"
