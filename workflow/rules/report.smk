# Tracking set-up (before any job logs), inference timing, the results tables and figures.
# `snakemake --report results/report.html` collects the outputs flagged report() below.


report: "../report/workflow.rst"


rule track_init:
    localrule: True
    output:
        TRACKING,
    log:
        f"{RESULTS}/logs/track_init.log",
    shell:
        "minilm-repro track init --profile {PROFILE} --out {output} > {log} 2>&1"


def speed_models(wildcards):
    return [model_dir(wildcards.track, m) for m in finetuned_models(wildcards.track)]


def speed_features(wildcards):
    task = track(wildcards)["speed"]["task"]
    return [ft_features_dir(wildcards.track, task, m) for m in finetuned_models(wildcards.track)]


def speed_config(wildcards):
    return as_json({k: v for k, v in track(wildcards)["speed"].items() if k != "task"})


def speed_tags(wildcards):
    task = track(wildcards)["speed"]["task"]
    return as_json({m: {**json.loads(job_tags(wildcards, model=m)), "task": task}
                    for m in finetuned_models(wildcards.track)})


# One job per track times all its models side by side (minilm_repro.report.speed): the speed-up
# ratios then compare models measured in the same process, and the job starts Python once.
rule speed:
    input:
        models=speed_models,
        features=speed_features,
        tracking=TRACKING,
    output:
        f"{RESULTS}/{{track}}/speed.json",
    params:
        cfg=speed_config,
        tags=speed_tags,
        names=lambda w: finetuned_models(w.track),
        run_prefix="{track}/",
    # alone on the machine, so timings are not disturbed by other jobs (Snakemake caps threads at
    # --cores; unlike workflow.cores this also holds in --report mode, where no core count is set)
    threads: os.cpu_count() or 1
    log:
        f"{RESULTS}/logs/{{track}}/speed.log",
    shell:
        "minilm-repro speed --model {input.models} --features {input.features} --name {params.names}"
        " --out {output} --config {params.cfg:q} --profile {PROFILE} --tags {params.tags:q}"
        " --run-prefix {params.run_prefix} --threads {THREADS} > {log} 2>&1"


rule tables:
    input:
        finetune=finetune_metrics_files(),
        models=model_metrics_files(),
        speed=speed_files(),
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
        out=f"{RESULTS}/tables",
        references=as_json({t: config["tracks"][t].get("reference", {}) for t in TRACKS}),
    log:
        f"{RESULTS}/logs/tables.log",
    shell:
        "minilm-repro report --finetune {input.finetune} --models {input.models} --speed {input.speed}"
        " --out {params.out} --references {params.references:q} --profile {PROFILE} > {log} 2>&1"


def figure_names():
    """The figures this config yields (minilm_repro.report.plots): the Pareto view, per-language
    scores of tracks fine-tuned on XNLI / MLQA, loss curves when any model is trained here."""
    names = ["pareto"]
    for t in TRACKS:
        tasks = config["tracks"][t]["finetune"]["tasks"] if finetuned_models(t) else []
        names += [f"{t}_{task}_per_language" for task in ("xnli", "mlqa") if task in tasks]
    trained = any(students(t) or "pretrain" in config["tracks"][t]["teacher"] or "scratch" in config["tracks"][t]
                  for t in TRACKS)
    return names + (["loss_curves"] if trained else [])


FIGURE_CAPTIONS = {"pareto": "pareto.rst", "loss_curves": "loss_curves.rst"}


rule figures:
    input:
        finetune=finetune_metrics_files(),
        models=model_metrics_files(),
        speed=speed_files(),
    output:
        [
            report(
                f"{RESULTS}/figures/{name}.png",
                caption=f"../report/{FIGURE_CAPTIONS.get(name, 'per_language.rst')}",
                category="Figures",
                labels={"figure": name},
            )
            for name in figure_names()
        ],
        [f"{RESULTS}/figures/{name}.pdf" for name in figure_names()],
    params:
        out=f"{RESULTS}/figures",
        expect=figure_names(),
    log:
        f"{RESULTS}/logs/figures.log",
    shell:
        "minilm-repro figures --finetune {input.finetune} --models {input.models} --speed {input.speed}"
        " --out {params.out} --expect {params.expect} > {log} 2>&1"


def report_targets():
    """Every output of the tables and figures rules (the `all` rule requests them all)."""
    return [f"{RESULTS}/tables/checks.json", f"{RESULTS}/tables/html",
            *(f"{RESULTS}/figures/{name}.{ext}" for name in figure_names() for ext in ("png", "pdf"))]
