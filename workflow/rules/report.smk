# Tracking set-up (before any job logs) and the results tables.


rule track_init:
    localrule: True
    output:
        TRACKING,
    log:
        f"{RESULTS}/logs/track_init.log",
    shell:
        "minilm-repro track init --profile {PROFILE} --out {output} > {log} 2>&1"


rule tables:
    input:
        finetune=finetune_metrics_files(),
        models=model_metrics_files(),
    output:
        f"{RESULTS}/tables/checks.json",
    params:
        out=f"{RESULTS}/tables",
    log:
        f"{RESULTS}/logs/tables.log",
    shell:
        "minilm-repro report --finetune {input.finetune} --models {input.models} --out {params.out}"
        " --profile {PROFILE} > {log} 2>&1"
