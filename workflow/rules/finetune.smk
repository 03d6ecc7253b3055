# Fine-tuning: each (tokenizer, task, max length) tokenised once; each model x grid point x seed
# is its own job, so a failed one reruns alone.


rule tokenize_task:
    input:
        unpack(PLAN.inputs_of("tokenize_task")),
    output:
        directory(f"{RESULTS}/{{track}}/features/{{tok}}/{{task}}_L{{maxlen}}"),
    params:
        spec=PLAN.spec_of("tokenize_task"),
    threads: THREADS
    log:
        f"{RESULTS}/logs/{{track}}/tokenize_{{tok}}_{{task}}_L{{maxlen}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/tokenize_{{tok}}_{{task}}_L{{maxlen}}.tsv"
    shell:
        "minilm-repro tokenize-task --spec {params.spec:q} --threads {threads} > {log} 2>&1"


rule finetune:
    input:
        unpack(PLAN.inputs_of("finetune")),
    output:
        metrics=f"{RESULTS}/{{track}}/finetune/{{model}}/{{task}}/{{gp}}/seed{{seed}}.json",
        predictions=f"{RESULTS}/{{track}}/finetune/{{model}}/{{task}}/{{gp}}/seed{{seed}}.predictions.json",
    params:
        spec=PLAN.spec_of("finetune"),
    threads: THREADS
    resources:
        gpu=0,
        nodes=1,
    log:
        f"{RESULTS}/logs/{{track}}/finetune/{{model}}/{{task}}/{{gp}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/finetune/{{model}}/{{task}}/{{gp}}/seed{{seed}}.tsv"
    shell:
        "minilm-repro launch --nproc {resources.gpu} --nodes {resources.nodes} --"
        " finetune --spec {params.spec:q} --threads {threads} > {log} 2>&1"
