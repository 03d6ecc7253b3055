# Teachers: pretrained here (smoke: tiny MLM teachers) or fetched from the hub (paper profiles);
# the from-scratch baseline student (MLM on the same corpus, the student's shape); external
# checkpoints compared beside ours (hub ids or local directories).


rule pretrain_teacher:
    input:
        unpack(PLAN.inputs_of("pretrain_teacher")),
    output:
        model=directory(f"{RESULTS}/{{track}}/models/teacher"),
        metrics=f"{RESULTS}/{{track}}/models/teacher.metrics.json",
    wildcard_constraints:
        track=PLAN.wildcard_values("pretrain_teacher", "track"),
    params:
        spec=PLAN.spec_of("pretrain_teacher"),
    threads: THREADS
    resources:
        gpu=0,
        nodes=1,
    log:
        f"{RESULTS}/logs/{{track}}/pretrain_teacher.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/pretrain_teacher.tsv"
    shell:
        "minilm-repro launch --nproc {resources.gpu} --nodes {resources.nodes} --"
        " pretrain --spec {params.spec:q} --threads {threads} > {log} 2>&1"


rule fetch_teacher:
    localrule: True
    input:
        unpack(PLAN.inputs_of("fetch_teacher")),
    output:
        model=directory(f"{RESULTS}/{{track}}/models/teacher"),
        metrics=f"{RESULTS}/{{track}}/models/teacher.metrics.json",
    wildcard_constraints:
        track=PLAN.wildcard_values("fetch_teacher", "track"),
    params:
        spec=PLAN.spec_of("fetch_teacher"),
    log:
        f"{RESULTS}/logs/{{track}}/fetch_teacher.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/fetch_teacher.tsv"
    shell:
        "minilm-repro fetch-model --spec {params.spec:q} > {log} 2>&1"


rule import_teacher:
    localrule: True
    input:
        unpack(PLAN.inputs_of("import_teacher")),
    output:
        model=directory(f"{RESULTS}/{{track}}/models/teacher"),
        metrics=f"{RESULTS}/{{track}}/models/teacher.metrics.json",
    wildcard_constraints:
        track=PLAN.wildcard_values("import_teacher", "track"),
    params:
        spec=PLAN.spec_of("import_teacher"),
    log:
        f"{RESULTS}/logs/{{track}}/import_teacher.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/import_teacher.tsv"
    shell:
        "minilm-repro import-model --spec {params.spec:q} > {log} 2>&1"


rule pretrain_scratch:
    input:
        unpack(PLAN.inputs_of("pretrain_scratch")),
    output:
        model=directory(f"{RESULTS}/{{track}}/models/scratch"),
        metrics=f"{RESULTS}/{{track}}/models/scratch.metrics.json",
    params:
        spec=PLAN.spec_of("pretrain_scratch"),
    threads: THREADS
    resources:
        gpu=0,
        nodes=1,
    log:
        f"{RESULTS}/logs/{{track}}/pretrain_scratch.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/pretrain_scratch.tsv"
    shell:
        "minilm-repro launch --nproc {resources.gpu} --nodes {resources.nodes} --"
        " pretrain --spec {params.spec:q} --threads {threads} > {log} 2>&1"


rule fetch_external:
    localrule: True
    output:
        directory("resources/models/{track}/{model}"),
    wildcard_constraints:
        model=PLAN.wildcard_values("fetch_external", "model"),
    params:
        spec=PLAN.spec_of("fetch_external"),
    log:
        f"{RESULTS}/logs/{{track}}/fetch_{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/fetch_{{model}}.tsv"
    shell:
        "minilm-repro fetch-model --spec {params.spec:q} > {log} 2>&1"


rule import_external:
    localrule: True
    input:
        unpack(PLAN.inputs_of("import_external")),
    output:
        directory("resources/models/{track}/{model}"),
    wildcard_constraints:
        model=PLAN.wildcard_values("import_external", "model"),
    params:
        spec=PLAN.spec_of("import_external"),
    log:
        f"{RESULTS}/logs/{{track}}/import_{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/import_{{model}}.tsv"
    shell:
        "minilm-repro import-model --spec {params.spec:q} > {log} 2>&1"


rule describe_external:
    input:
        unpack(PLAN.inputs_of("describe_external")),
    output:
        f"{RESULTS}/{{track}}/models/{{model}}.metrics.json",
    wildcard_constraints:
        model=PLAN.wildcard_values("describe_external", "model"),
    params:
        spec=PLAN.spec_of("describe_external"),
    log:
        f"{RESULTS}/logs/{{track}}/describe_{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/describe_{{model}}.tsv"
    shell:
        "minilm-repro describe-model --spec {params.spec:q} > {log} 2>&1"
