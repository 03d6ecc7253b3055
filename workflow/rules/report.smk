# Tracking set-up (before any job logs), inference timing, the results tables and figures.
# `snakemake --report results/report.html` collects the outputs flagged report() below.
import os


report: "../report/workflow.rst"


rule track_init:
    localrule: True
    output:
        TRACKING,
    params:
        profile=PROFILE,
    log:
        f"{RESULTS}/logs/track_init.log",
    benchmark:
        f"{RESULTS}/benchmarks/track_init.tsv"
    shell:
        "minilm-repro track init --profile {params.profile} --out {output} > {log} 2>&1"


# One job per track times all its models side by side (minilm_repro.report.speed): the speed-up
# ratios then compare models measured in the same process, and the job starts Python once.
rule speed:
    input:
        unpack(PLAN.inputs_of("speed")),
    output:
        f"{RESULTS}/{{track}}/speed.json",
    params:
        spec=PLAN.spec_of("speed"),
    # alone on the machine, so timings are not disturbed by other jobs (Snakemake caps threads at
    # --cores; unlike workflow.cores this also holds in --report mode, where no core count is set)
    threads: os.cpu_count() or 1
    log:
        f"{RESULTS}/logs/{{track}}/speed.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/speed.tsv"
    shell:
        "minilm-repro launch --nproc 1 -- speed --spec {params.spec:q} > {log} 2>&1"


rule tables:
    input:
        unpack(PLAN.inputs_of("tables")),
    output:
        checks=f"{RESULTS}/tables/checks.json",
        html=report(
            directory(f"{RESULTS}/tables/html"),
            patterns=["{name}.html"],
            caption="../report/tables.rst",
            category="Tables",
            labels={"table": "{name}"},
        ),
    params:
        out=folder_of("checks"),
        references=as_json(PLAN.job("tables", {}).settings["references"]),
        profile=PROFILE,
    log:
        f"{RESULTS}/logs/tables.log",
    benchmark:
        f"{RESULTS}/benchmarks/tables.tsv"
    shell:
        "minilm-repro report --finetune {input.finetune} --models {input.models} --speed {input.speed}"
        " --out {params.out} --references {params.references:q} --profile {params.profile} > {log} 2>&1"


# The dated results page (tables, checks, hardware and commit of every row), for docs/results/.
rule results_page:
    localrule: True
    input:
        unpack(PLAN.inputs_of("results_page")),
    output:
        page=f"{RESULTS}/results-page.md",
    params:
        results=folder_of("page"),
        tasks_root=PLAN.path_of("results_page", "tasks_root"),
    log:
        f"{RESULTS}/logs/results_page.log",
    benchmark:
        f"{RESULTS}/benchmarks/results_page.tsv"
    shell:
        "minilm-repro results-page --results {params.results} --tasks-root {params.tasks_root:q} --out {output.page} > {log} 2>&1"


FIGURE_CAPTIONS = {"pareto": "pareto.rst", "loss_curves": "loss_curves.rst"}


rule figures:
    input:
        unpack(PLAN.inputs_of("figures")),
    output:
        pareto=report(f"{RESULTS}/figures/pareto.png", caption="../report/pareto.rst", category="Figures",
                      labels={"figure": "pareto"}),
        figures=[
            report(
                f"{RESULTS}/figures/{name}.png",
                caption=f"../report/{FIGURE_CAPTIONS.get(name, 'per_language.rst')}",
                category="Figures",
                labels={"figure": name},
            )
            for name in PLAN.figure_names()
            if name != "pareto"
        ],
        pdfs=[f"{RESULTS}/figures/{name}.pdf" for name in PLAN.figure_names()],
    params:
        out=folder_of("pareto"),
        expect=PLAN.figure_names(),
    log:
        f"{RESULTS}/logs/figures.log",
    benchmark:
        f"{RESULTS}/benchmarks/figures.tsv"
    shell:
        "minilm-repro figures --finetune {input.finetune} --models {input.models} --speed {input.speed}"
        " --out {params.out} --expect {params.expect} > {log} 2>&1"
