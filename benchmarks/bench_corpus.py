"""Corpus-preparation throughput against a naive per-example loop, and peak memory as the corpus grows 10x.

Prints, on the same text in the same run:

* ``naive``: a per-example Python loop (one ``tokenizer(sentence)`` call per sentence, greedy
  packing of Python lists, blocks kept in memory, nothing written);
* ``prepare_corpus``: :func:`minilm_repro.data.corpus.prepare_corpus` end to end (batched fast
  tokenizer, ``--num-proc`` processes, Arrow parts, output shards and stats written to disk), with
  its default ``word_cache`` (on for this WordPiece: each worker tokenises every distinct
  space-separated chunk once and assembles sentences from the cached ids; the mode is printed);

in tokens/s per round and the ratio of the medians, after checking that both produce the same
blocks. Then it runs ``prepare_corpus`` in a fresh subprocess on the corpus and on the corpus
repeated 10x, and prints each run's peak RSS (the main process and its largest worker).

Text: ``--text wiki`` is English Wikipedia paragraphs (the SQuAD 2.0 contexts of the shared
real-data sample), one sentence per line, a paragraph per document; ``--text synthetic`` is
the embedded benchmark's language-0 corpus (short sentences). Either is repeated ``--repeat``
times; the tokenizer is a WordPiece trained on it (BERT layout).

The word cache gains from repetition (a repeated sentence costs dictionary look-ups, not
tokenisation), so the default ``--repeat 20`` flatters it; ``--repeat 1 --rounds 5`` measures the
distinct text only (where the cache still saves the words that recur within it). Quote
both. The "tokenizer alone" line is the floor of any pipeline that tokenises every sentence.

    python benchmarks/bench_corpus.py --out /tmp/bench_corpus --text wiki --num-proc 2
    python benchmarks/bench_corpus.py --out /tmp/bench_corpus --text wiki --num-proc 2 --repeat 1 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- inputs


def wiki_documents(realdata: Path) -> list[list[str]]:
    squad = realdata / "squad2" / "cs224n-dev-v2.0.json"
    if not squad.is_file():
        raise SystemExit(f"--text wiki needs {squad} (the shared real-data sample); pass --realdata or use --text synthetic")
    data = json.loads(squad.read_text(encoding="utf-8"))["data"]
    return [[s for s in re.split(r"(?<=[.!?])\s+", p["context"].strip()) if s]
            for article in data for p in article["paragraphs"]]


def synthetic_documents(out: Path) -> list[list[str]]:
    from minilm_repro.data.corpus import read_documents
    from minilm_repro.data.synthetic import SyntheticConfig, generate_benchmark

    bench = out / "synthetic"
    if not (bench / "benchmark.json").is_file():
        generate_benchmark(bench, SyntheticConfig(seed=13, tasks=["sst2"], scale=0.01, mono_documents=8000,
                                                  multi_documents=10))
    return list(read_documents(bench / "corpus" / "mono" / "l0.txt"))


def write_text(path: Path, documents: list[list[str]], repeat: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = "".join("\n".join(doc) + "\n\n" for doc in documents)
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(repeat):
            fh.write(body)
    return path


# --------------------------------------------------------------------------- the two implementations


def _cpu_with_children() -> float:
    """CPU seconds of this process and of its finished children (the tokenising workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def naive_blocks(path: Path, tokenizer, max_seq_len: int) -> list[list[int]]:
    """The per-example baseline: one tokenizer call per sentence, packing with Python lists."""
    budget, cls, sep = max_seq_len - 2, tokenizer.cls_token_id, tokenizer.sep_token_id
    blocks: list[list[int]] = []
    current: list[int] = []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line:  # end of a document: close its last block
                if current:
                    blocks.append([cls] + current + [sep])
                current = []
                continue
            ids = tokenizer(line, add_special_tokens=False)["input_ids"]
            if current and len(current) + len(ids) > budget:
                blocks.append([cls] + current + [sep])
                current = []
            while len(current) + len(ids) > budget:
                blocks.append([cls] + ids[:budget] + [sep])
                ids = ids[budget:]
            current.extend(ids)
    if current:
        blocks.append([cls] + current + [sep])
    return blocks


def peak_rss_mib(pid: int | str = "self") -> float:
    """VmHWM of a process (Linux): its own peak resident set. Unlike ``ru_maxrss`` it does not
    inherit the parent's size at fork, which a spawned worker's ``ru_maxrss`` does."""
    with open(f"/proc/{pid}/status") as fh:
        return int(re.search(r"VmHWM:\s+(\d+) kB", fh.read()).group(1)) / 1024


def _worker_peaks(peaks: dict, stop: threading.Event) -> None:
    """Poll the peak RSS of this process's children (the tokenising workers) until ``stop``."""
    import psutil

    me = psutil.Process()
    while not stop.wait(0.05):
        for child in me.children(recursive=True):
            try:
                peaks[child.pid] = peak_rss_mib(child.pid)
            except (FileNotFoundError, ProcessLookupError):
                pass  # exited between listing and reading


def tokenizer_floor(path: Path, tokenizer_dir: str) -> float:
    """CPU seconds the Rust tokenizer alone needs for every sentence of ``path`` (one thread, batched,
    ids only): the work no pipeline avoids. Runs in a fresh process with TOKENIZERS_PARALLELISM=false."""
    code = ("import sys, time\nfrom tokenizers import Tokenizer\n"
            "tok = Tokenizer.from_file(sys.argv[1])\n"
            "lines = [l.strip() for l in open(sys.argv[2], encoding='utf-8') if l.strip()]\n"
            "start = time.process_time()\ntok.encode_batch_fast(lines, add_special_tokens=False)\n"
            "print(time.process_time() - start)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(Path(tokenizer_dir) / "tokenizer.json"), str(path)],
                          capture_output=True, text=True, check=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    return float(proc.stdout.strip().splitlines()[-1])


def measure_child(args) -> None:
    """Subprocess entry: prepare one corpus, print its figures and peak RSS (main, largest worker) as JSON."""
    from transformers import AutoTokenizer

    from minilm_repro.data.corpus import CorpusConfig, prepare_corpus

    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    peaks: dict = {}
    stop = threading.Event()
    poller = threading.Thread(target=_worker_peaks, args=(peaks, stop), daemon=True)
    poller.start()
    start = time.perf_counter()
    stats = prepare_corpus([args.measure], tokenizer, CorpusConfig(max_seq_len=args.max_seq_len, num_proc=args.num_proc,
                                                                   num_shards=4), args.result)
    seconds = time.perf_counter() - start
    stop.set()
    poller.join()
    print(json.dumps({"tokens": stats["tokens"], "blocks": stats["blocks"], "seconds": seconds,
                      "peak_rss_mib": peak_rss_mib(), "worker_peak_rss_mib": max(peaks.values(), default=0.0)}))


# --------------------------------------------------------------------------- main


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True, help="scratch directory (text, tokenizer, outputs)")
    p.add_argument("--text", choices=("wiki", "synthetic"), default="wiki")
    p.add_argument("--realdata", default=str(REPO.parent / "shared" / "realdata"))
    p.add_argument("--repeat", type=int, default=20, help="copies of the text in the 1x corpus")
    p.add_argument("--num-proc", type=int, default=2)
    p.add_argument("--max-seq-len", type=int, default=512)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--measure", help=argparse.SUPPRESS)  # internal: subprocess mode
    p.add_argument("--tokenizer", help=argparse.SUPPRESS)
    p.add_argument("--result", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.measure:
        measure_child(args)
        return

    from transformers import AutoTokenizer

    from minilm_repro.data.corpus import CorpusConfig, load_corpus, prepare_corpus
    from minilm_repro.data.tokenizer import TokenizerConfig, train_tokenizer

    out = Path(args.out)
    documents = wiki_documents(Path(args.realdata)) if args.text == "wiki" else synthetic_documents(out)
    base = write_text(out / args.text / "1x" / "en.txt", documents, 1)
    tok_dir = out / args.text / "tokenizer"
    train_tokenizer([str(base)], TokenizerConfig(kind="wordpiece", vocab_size=8000, max_position=args.max_seq_len), tok_dir)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    text = write_text(out / args.text / f"{args.repeat}x" / "en.txt", documents, args.repeat)
    sentences = sum(len(d) for d in documents) * args.repeat
    print(f"text: {args.text}, {len(documents) * args.repeat} documents, {sentences} sentences, "
          f"{text.stat().st_size / 2**20:.1f} MiB; max_seq_len {args.max_seq_len}; num_proc {args.num_proc}", flush=True)

    cfg = CorpusConfig(max_seq_len=args.max_seq_len, num_proc=args.num_proc, num_shards=4)
    naive_rates, fast_rates, naive_cpu = [], [], []
    for r in range(args.rounds):
        start, cpu = time.perf_counter(), time.process_time()
        naive = naive_blocks(text, tokenizer, args.max_seq_len)
        naive_s = time.perf_counter() - start
        naive_cpu.append(time.process_time() - cpu)
        tokens = sum(len(b) for b in naive)
        start, cpu = time.perf_counter(), _cpu_with_children()
        stats = prepare_corpus([text], tokenizer, cfg, out / args.text / "prepared")
        fast_s = time.perf_counter() - start
        fast_cpu = _cpu_with_children() - cpu
        if r == 0:  # one language, natural proportions: the same blocks in the same order
            prepared = load_corpus(out / args.text / "prepared")["input_ids"]
            if prepared != naive:
                raise SystemExit("prepare_corpus and the naive loop disagree on the blocks")
            print(f"same blocks: {len(naive)} blocks, {tokens} tokens (incl. [CLS]/[SEP]); prepare_corpus "
                  f"word_cache={stats['word_cache']}", flush=True)
        assert stats["tokens"] == tokens
        naive_rates.append(tokens / naive_s)
        fast_rates.append(tokens / fast_s)
        print(f"round {r}: naive {naive_s:6.2f} s ({naive_cpu[-1]:5.2f} CPU s) {tokens / naive_s:10,.0f} tok/s | "
              f"prepare_corpus {fast_s:6.2f} s ({fast_cpu:5.2f} CPU s, workers included) {tokens / fast_s:10,.0f} tok/s"
              f" | x{naive_s / fast_s:.2f}", flush=True)
    ratio = statistics.median(fast_rates) / statistics.median(naive_rates)
    print(f"throughput (median of {args.rounds}): naive {statistics.median(naive_rates):,.0f} tok/s, "
          f"prepare_corpus {statistics.median(fast_rates):,.0f} tok/s, ratio x{ratio:.2f} (text repeated "
          f"{args.repeat}x{'; the word cache gains from repetition: --repeat 1 measures distinct text' if args.repeat > 1 else ''})",
          flush=True)
    floor = tokenizer_floor(text, tok_dir)
    print(f"tokenizer alone (one batched encode of every sentence, one thread): {floor:.2f} CPU s; the naive loop "
          f"{statistics.median(naive_cpu):.2f} CPU s, so with {args.num_proc} free cores no pipeline that tokenises "
          f"every sentence beats it by more than x{args.num_proc * statistics.median(naive_cpu) / floor:.2f} on this "
          f"text (the word cache tokenises each distinct chunk once per worker instead)", flush=True)

    big = write_text(out / args.text / f"{10 * args.repeat}x" / "en.txt", documents, 10 * args.repeat)
    for label, path in (("1x", text), ("10x", big)):
        proc = subprocess.run(
            [sys.executable, __file__, "--out", args.out, "--measure", str(path), "--tokenizer", str(tok_dir),
             "--result", str(out / args.text / f"prepared-{label}"), "--num-proc", str(args.num_proc),
             "--max-seq-len", str(args.max_seq_len)],
            capture_output=True, text=True, check=False)
        if proc.returncode:
            raise SystemExit(f"memory run {label} failed:\n{proc.stderr[-3000:]}")
        m = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"memory {label:>3}: {path.stat().st_size / 2**20:7.1f} MiB text, {m['tokens']:>11,} tokens, "
              f"{m['seconds']:6.1f} s, peak RSS main {m['peak_rss_mib']:6.0f} MiB, "
              + (f"largest worker {m['worker_peak_rss_mib']:6.0f} MiB" if m["worker_peak_rss_mib"]
                 else "no workers (one part: tokenised in the main process)"), flush=True)


if __name__ == "__main__":
    main()
