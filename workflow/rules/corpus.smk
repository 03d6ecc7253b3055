# Tokenizer and pretraining corpus per track: text -> tokenised, packed blocks.


def corpus_text(wildcards):
    """(text files, inputs that produce them) for a track's corpus."""
    text = track(wildcards)["corpus"]["text"]
    if "generated" in text:
        kind = text["generated"]
        langs = [config["train_language"]] if kind == "mono" else config["languages"]
        return [f"{BENCHMARK_DIR}/corpus/{kind}/{l}.txt" for l in langs], [BENCHMARK_DIR]
    if "files" in text:
        return text["files"], text["files"]
    files = [f"resources/corpus/{wildcards.track}/{l}.txt" for l in text["hub"]["languages"]]
    return files, files


def corpus_text_files(wildcards):
    return corpus_text(wildcards)[0]


def corpus_text_inputs(wildcards):
    return corpus_text(wildcards)[1]


def tokenizer_inputs(wildcards):
    if "train" in track(wildcards)["tokenizer"]:
        return corpus_text_inputs(wildcards)
    return [model_dir(wildcards.track, "teacher")]


def tokenizer_command(wildcards, output):
    spec = track(wildcards)["tokenizer"]
    if "train" in spec:
        files = " ".join(corpus_text_files(wildcards))
        return f"minilm-repro train-tokenizer --text {files} --out {output} --config '{as_json(spec['train'])}'"
    return f"minilm-repro export-tokenizer --model {model_dir(wildcards.track, 'teacher')} --out {output}"


rule tokenizer:
    input:
        tokenizer_inputs,
    output:
        directory(f"{RESULTS}/{{track}}/tokenizer"),
    params:
        cmd=tokenizer_command,
    log:
        f"{RESULTS}/logs/{{track}}/tokenizer.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/tokenizer.tsv"
    shell:
        "{params.cmd} > {log} 2>&1"


def corpus_config(wildcards):
    c = {k: v for k, v in track(wildcards)["corpus"].items() if k != "text"}
    return as_json(c)


def corpus_hub_json(wildcards):
    return as_json(track(wildcards)["corpus"]["text"]["hub"])


def corpus_files_arg(wildcards):
    return " ".join(corpus_text_files(wildcards))


rule fetch_corpus:
    localrule: True
    output:
        "resources/corpus/{track}/{lang}.txt",
    params:
        cfg=corpus_hub_json,
    log:
        f"{RESULTS}/logs/{{track}}/fetch_corpus_{{lang}}.log",
    shell:
        "minilm-repro fetch-corpus --lang {wildcards.lang} --out {output} --config {params.cfg:q} > {log} 2>&1"


rule prepare_corpus:
    input:
        text=corpus_text_inputs,
        tokenizer=f"{RESULTS}/{{track}}/tokenizer",
    output:
        directory(f"{RESULTS}/{{track}}/corpus"),
    params:
        files=corpus_files_arg,
        cfg=corpus_config,
    threads: THREADS
    log:
        f"{RESULTS}/logs/{{track}}/prepare_corpus.log",
    benchmark:
        f"{RESULTS}/benchmarks/{{track}}/prepare_corpus.tsv"
    shell:
        "minilm-repro prepare-corpus --text {params.files} --tokenizer {input.tokenizer} --out {output}"
        " --config {params.cfg:q} --threads {threads} > {log} 2>&1"
