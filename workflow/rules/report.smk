# Tracking set-up (before any job logs) and the results tables.


rule track_init:
    localrule: True
    output:
        TRACKING,
    log:
        f"{RESULTS}/logs/track_init.log",
    shell:
        "minilm-repro track init --profile {PROFILE} --out {output} > {log} 2>&1"


def speed_features(wildcards):
    return ft_features_dir(wildcards.track, track(wildcards)["speed"]["task"], wildcards.model)


def speed_config(wildcards):
    return json.dumps({k: v for k, v in track(wildcards)["speed"].items() if k != "task"})


rule speed:
    input:
        model=finetune_model,
        features=speed_features,
    output:
        f"{RESULTS}/{{track}}/speed/{{model}}.json",
    params:
        cfg=speed_config,
        tags=job_tags,
    threads: workflow.cores  # alone on the machine: timings are not disturbed by other jobs
    log:
        f"{RESULTS}/logs/{{track}}/speed_{{model}}.log",
    shell:
        "minilm-repro speed --model {input.model} --features {input.features} --out {output}"
        " --config {params.cfg:q} --tags {params.tags:q} --threads {THREADS} > {log} 2>&1"


rule tables:
    input:
        finetune=finetune_metrics_files(),
        models=model_metrics_files(),
        speed=speed_files(),
    output:
        f"{RESULTS}/tables/checks.json",
    params:
        out=f"{RESULTS}/tables",
        references=json.dumps({t: config["tracks"][t].get("reference", {}) for t in TRACKS}),
    log:
        f"{RESULTS}/logs/tables.log",
    shell:
        "minilm-repro report --finetune {input.finetune} --models {input.models} --speed {input.speed}"
        " --out {params.out} --references {params.references:q} --profile {PROFILE} > {log} 2>&1"


rule figures:
    input:
        finetune=finetune_metrics_files(),
        models=model_metrics_files(),
        speed=speed_files(),
    output:
        f"{RESULTS}/figures/pareto.png",
    params:
        out=f"{RESULTS}/figures",
    log:
        f"{RESULTS}/logs/figures.log",
    shell:
        "minilm-repro figures --finetune {input.finetune} --models {input.models} --speed {input.speed}"
        " --out {params.out} > {log} 2>&1"
