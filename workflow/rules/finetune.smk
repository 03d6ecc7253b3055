# Fine-tuning: each (tokenizer, task, max length) tokenised once; each model x grid point x seed
# is its own job, so a failed one reruns alone.


def features_config(wildcards):
    s = ft_settings(wildcards.task)
    if int(wildcards.maxlen) != s["max_length"]:
        raise ValueError(f"features for {wildcards.task} requested at length {wildcards.maxlen}, config says {s['max_length']}")
    return as_json({
        "task": wildcards.task, "languages": s.get("languages", config["languages"]), "train_language": config["train_language"],
        "max_length": s["max_length"], "doc_stride": s["doc_stride"],
        "cross_language": config["finetune"].get("cross_language", False),
    })


def features_tokenizer(wildcards):
    return tokenizer_dir(wildcards.track, wildcards.tok)


rule tokenize_task:
    input:
        tokenizer=features_tokenizer,
        data=task_data_input,
    output:
        directory(f"{RESULTS}/{{track}}/features/{{tok}}/{{task}}_L{{maxlen}}"),
    params:
        cfg=features_config,
        root=tasks_root(),
    threads: THREADS
    log:
        f"{RESULTS}/logs/{{track}}/tokenize_{{tok}}_{{task}}_L{{maxlen}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/tokenize_{{tok}}_{{task}}_L{{maxlen}}.tsv"
    shell:
        "minilm-repro tokenize-task --tokenizer {input.tokenizer} --tasks-root {params.root} --out {output}"
        " --config {params.cfg:q} --threads {threads} > {log} 2>&1"


FT_STAGE_KEYS = ("batch_size", "warmup_ratio", "warmup_steps", "weight_decay", "max_device_batch", "n_best",
                 "max_answer_length", "bf16", "save_steps", "logging_steps", "answer_languages",
                 "checkpoint", "freeze_embeddings")


def finetune_config(wildcards):
    s = ft_settings(wildcards.task)
    lr, epochs = parse_grid_point(wildcards.gp)
    cfg = {k: s[k] for k in FT_STAGE_KEYS if k in s}
    cfg.update(task=wildcards.task, lr=lr, epochs=epochs, seed=int(wildcards.seed))
    return as_json(cfg)


def finetune_features(wildcards):
    return ft_features_dir(wildcards.track, wildcards.task, wildcards.model)


def finetune_model(wildcards):
    return model_dir(wildcards.track, wildcards.model)


rule finetune:
    input:
        model=finetune_model,
        features=finetune_features,
        tracking=TRACKING,
    output:
        f"{RESULTS}/{{track}}/finetune/{{model}}/{{task}}/{{gp}}/seed{{seed}}.json",
    params:
        cfg=finetune_config,
        root=tasks_root(),
        workdir=f"{WORK}/{{track}}/finetune/{{model}}/{{task}}/{{gp}}/seed{{seed}}",
        tags=job_tags,
        run_name="{track}/{model}/{task}/{gp}/seed{seed}",
    threads: THREADS
    resources:
        gpu=0,
        nodes=1,
    log:
        f"{RESULTS}/logs/{{track}}/finetune/{{model}}/{{task}}/{{gp}}/seed{{seed}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/finetune/{{model}}/{{task}}/{{gp}}/seed{{seed}}.tsv"
    shell:
        "minilm-repro launch --nproc {resources.gpu} --nodes {resources.nodes} -- finetune --model {input.model} --features {input.features} --tasks-root {params.root}"
        " --workdir {params.workdir} --metrics {output} --run-name {params.run_name} --config {params.cfg:q}"
        " --profile {PROFILE} --tags {params.tags:q} --threads {threads} > {log} 2>&1"
