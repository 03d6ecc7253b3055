# Tokenizer and pretraining corpus per track: text -> tokenised, packed blocks.


rule tokenizer:
    input:
        unpack(PLAN.inputs_of("tokenizer")),
    output:
        directory(f"{RESULTS}/{{track}}/tokenizer"),
    params:
        stage=PLAN.stage_of("tokenizer"),
        spec=PLAN.spec_of("tokenizer"),
    log:
        f"{RESULTS}/logs/{{track}}/tokenizer.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/tokenizer.tsv"
    shell:
        "minilm-repro {params.stage} --spec {params.spec:q} > {log} 2>&1"


rule fetch_corpus:
    localrule: True
    output:
        "resources/corpus/{track}/{lang}.txt",
    wildcard_constraints:
        track=PLAN.wildcard_values("fetch_corpus", "track"),
    params:
        spec=PLAN.spec_of("fetch_corpus"),
    log:
        f"{RESULTS}/logs/{{track}}/fetch_corpus_{{lang}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/fetch_corpus_{{lang}}.tsv"
    shell:
        "minilm-repro fetch-corpus --spec {params.spec:q} > {log} 2>&1"


rule fetch_corpus_source:
    localrule: True
    output:
        "resources/corpus/{track}/{source}/{lang}.txt",
    wildcard_constraints:
        track=PLAN.wildcard_values("fetch_corpus_source", "track"),
    params:
        spec=PLAN.spec_of("fetch_corpus_source"),
    log:
        f"{RESULTS}/logs/{{track}}/fetch_corpus_{{source}}_{{lang}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/fetch_corpus_{{source}}_{{lang}}.tsv"
    shell:
        "minilm-repro fetch-corpus --spec {params.spec:q} > {log} 2>&1"


# English text from the imported tasks' train splits, every evaluation text excluded (real-cpu profile)
rule build_corpus:
    localrule: True
    input:
        unpack(PLAN.inputs_of("build_corpus")),
    output:
        text="resources/corpus/{track}/en.txt",
    wildcard_constraints:
        track=PLAN.wildcard_values("build_corpus", "track"),
    params:
        root=PLAN.path_of("build_corpus", "tasks_root"),
        out=folder_of("text"),
        max_words=PLAN.option_of("build_corpus", "max_words", "--max-words"),
    log:
        f"{RESULTS}/logs/{{track}}/build_corpus.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/build_corpus.tsv"
    shell:
        "minilm-repro tasks build-corpus --tasks-root {params.root} --out {params.out} {params.max_words} > {log} 2>&1"


# a corpus source's raw files (Gutenberg, WikiText) cleaned, the imported tasks' evaluation text excluded
rule clean_text:
    input:
        unpack(PLAN.inputs_of("clean_text")),
    output:
        text="resources/cleaned/{track}/{source}/{lang}.txt",
        report="resources/cleaned/{track}/{source}/{lang}.clean.json",
    params:
        spec=PLAN.spec_of("clean_text"),
    log:
        f"{RESULTS}/logs/{{track}}/clean_text_{{source}}_{{lang}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/clean_text_{{source}}_{{lang}}.tsv"
    shell:
        "minilm-repro clean-text --spec {params.spec:q} > {log} 2>&1"


rule prepare_corpus:
    input:
        unpack(PLAN.inputs_of("prepare_corpus")),
    output:
        directory(f"{RESULTS}/{{track}}/corpus"),
    params:
        spec=PLAN.spec_of("prepare_corpus"),
    threads: THREADS
    log:
        f"{RESULTS}/logs/{{track}}/prepare_corpus.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/prepare_corpus.tsv"
    shell:
        "minilm-repro prepare-corpus --spec {params.spec:q} --threads {threads} > {log} 2>&1"
