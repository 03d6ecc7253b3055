# Teachers: pretrained here (smoke: tiny MLM teachers) or fetched from the hub (paper profiles);
# plus the from-scratch baseline student (MLM on the same corpus, the student's shape).


def pretrain_teacher_config(wildcards):
    return as_json(track(wildcards)["teacher"]["pretrain"])


rule pretrain_teacher:
    input:
        tokenizer=f"{RESULTS}/{{track}}/tokenizer",
        corpus=f"{RESULTS}/{{track}}/corpus",
        tracking=TRACKING,
    output:
        model=directory(f"{RESULTS}/{{track}}/models/teacher"),
        metrics=f"{RESULTS}/{{track}}/models/teacher.metrics.json",
    wildcard_constraints:
        track=alternatives(PRETRAIN_TRACKS),
    params:
        cfg=pretrain_teacher_config,
        workdir=f"{WORK}/{{track}}/pretrain/teacher",
        tags=teacher_tags,
    threads: THREADS
    resources:
        gpu=0,
        nodes=1,
    log:
        f"{RESULTS}/logs/{{track}}/pretrain_teacher.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/pretrain_teacher.tsv"
    shell:
        "minilm-repro launch --nproc {resources.gpu} --nodes {resources.nodes} -- pretrain --tokenizer {input.tokenizer} --corpus {input.corpus} --out {output.model}"
        " --workdir {params.workdir} --metrics {output.metrics} --name teacher --config {params.cfg:q}"
        " --profile {PROFILE} --tags {params.tags:q} --threads {threads} > {log} 2>&1"


def hub_teacher_id(wildcards):
    return track(wildcards)["teacher"]["hub"]["id"]


def hub_teacher_revision(wildcards):
    return track(wildcards)["teacher"]["hub"]["revision"]


rule fetch_teacher:
    localrule: True
    input:
        tracking=TRACKING,
    output:
        model=directory(f"{RESULTS}/{{track}}/models/teacher"),
        metrics=f"{RESULTS}/{{track}}/models/teacher.metrics.json",
    wildcard_constraints:
        track=alternatives(HUB_TRACKS),
    params:
        hub_id=hub_teacher_id,
        revision=hub_teacher_revision,
        tags=teacher_tags,
    log:
        f"{RESULTS}/logs/{{track}}/fetch_teacher.log",
    shell:
        "minilm-repro fetch-model --hub-id {params.hub_id} --revision {params.revision} --out {output.model}"
        " --metrics {output.metrics} --tags {params.tags:q} --profile {PROFILE} > {log} 2>&1"


def scratch_config(wildcards):
    spec = track(wildcards)["scratch"]
    like = students(wildcards.track).get(spec["like"])
    if like is None:
        raise ValueError(f"tracks.{wildcards.track}.scratch.like = {spec['like']!r}: not a student of this track")
    return as_json({"shape": like["shape"], "optim": spec["optim"]})


rule pretrain_scratch:
    input:
        teacher=f"{RESULTS}/{{track}}/models/teacher",
        corpus=f"{RESULTS}/{{track}}/corpus",
        tracking=TRACKING,
    output:
        model=directory(f"{RESULTS}/{{track}}/models/scratch"),
        metrics=f"{RESULTS}/{{track}}/models/scratch.metrics.json",
    params:
        cfg=scratch_config,
        workdir=f"{WORK}/{{track}}/pretrain/scratch",
        tags=scratch_tags,
    threads: THREADS
    resources:
        gpu=0,
        nodes=1,
    log:
        f"{RESULTS}/logs/{{track}}/pretrain_scratch.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/pretrain_scratch.tsv"
    shell:
        "minilm-repro launch --nproc {resources.gpu} --nodes {resources.nodes} -- pretrain --tokenizer {input.teacher} --like {input.teacher} --corpus {input.corpus}"
        " --out {output.model} --workdir {params.workdir} --metrics {output.metrics} --name scratch"
        " --config {params.cfg:q} --profile {PROFILE} --tags {params.tags:q} --threads {threads} > {log} 2>&1"


# ---- external checkpoints compared beside ours (hub ids or local directories) -----------------


def external_hub_id(wildcards):
    return externals(wildcards.track)[wildcards.model]["hub"]["id"]


def external_hub_revision(wildcards):
    return externals(wildcards.track)[wildcards.model]["hub"]["revision"]


rule fetch_external:
    localrule: True
    output:
        directory("resources/models/{track}/{model}"),
    wildcard_constraints:
        model=alternatives(EXTERNAL_NAMES),
    params:
        hub_id=external_hub_id,
        revision=external_hub_revision,
    log:
        f"{RESULTS}/logs/{{track}}/fetch_{{model}}.log",
    shell:
        "minilm-repro fetch-model --hub-id {params.hub_id} --revision {params.revision} --out {output}"
        " --metrics /dev/null > {log} 2>&1"


def external_dir(wildcards):
    return model_dir(wildcards.track, wildcards.model)


rule describe_external:
    input:
        model=external_dir,
        tracking=TRACKING,
    output:
        f"{RESULTS}/{{track}}/models/{{model}}.metrics.json",
    wildcard_constraints:
        model=alternatives(EXTERNAL_NAMES),
    params:
        tags=job_tags,
    log:
        f"{RESULTS}/logs/{{track}}/describe_{{model}}.log",
    shell:
        "minilm-repro describe-model --model {input.model} --out {output} --tags {params.tags:q} --profile {PROFILE}"
        " > {log} 2>&1"
