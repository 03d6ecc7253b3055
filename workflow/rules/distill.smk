# Distillation: any chain the config names (teacher -> assistant -> student, ...).


def distill_teacher_dir(wildcards):
    return model_dir(wildcards.track, students(wildcards.track)[wildcards.model]["teacher"])


def distill_config(wildcards):
    spec = dict(students(wildcards.track)[wildcards.model])
    spec.pop("teacher")
    return as_json(spec)


def distill_teacher_name(wildcards):
    return students(wildcards.track)[wildcards.model]["teacher"]


rule distill:
    input:
        teacher=distill_teacher_dir,
        corpus=f"{RESULTS}/{{track}}/corpus",
        tracking=TRACKING,
    output:
        model=directory(f"{RESULTS}/{{track}}/models/{{model}}"),
        metrics=f"{RESULTS}/{{track}}/models/{{model}}.metrics.json",
    wildcard_constraints:
        model=alternatives(STUDENT_NAMES),
    params:
        cfg=distill_config,
        teacher_name=distill_teacher_name,
        workdir=f"{WORK}/{{track}}/distill/{{model}}",
        tags=job_tags,
    threads: THREADS
    resources:
        gpu=0,
        nodes=1,
    log:
        f"{RESULTS}/logs/{{track}}/distill_{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/distill_{{model}}.tsv"
    shell:
        "minilm-repro launch --nproc {resources.gpu} --nodes {resources.nodes} -- distill --teacher {input.teacher} --teacher-name {params.teacher_name} --corpus {input.corpus}"
        " --out {output.model} --workdir {params.workdir} --metrics {output.metrics} --name {wildcards.model}"
        " --config {params.cfg:q} --profile {PROFILE} --tags {params.tags:q} --threads {threads} > {log} 2>&1"
