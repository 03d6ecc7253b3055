# Distillation: any chain the config names (teacher -> assistant -> student, ...).


rule distill:
    input:
        unpack(PLAN.inputs_of("distill")),
    output:
        model=directory(f"{RESULTS}/{{track}}/models/{{model}}"),
        metrics=f"{RESULTS}/{{track}}/models/{{model}}.metrics.json",
    wildcard_constraints:
        model=PLAN.wildcard_values("distill", "model"),
    params:
        spec=PLAN.spec_of("distill"),
    threads: THREADS
    resources:
        gpu=0,
        nodes=1,
    log:
        f"{RESULTS}/logs/{{track}}/distill_{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/distill_{{model}}.tsv"
    shell:
        "minilm-repro launch --nproc {resources.gpu} --nodes {resources.nodes} --"
        " distill --spec {params.spec:q} --threads {threads} > {log} 2>&1"
