"""Train a tokenizer on a text corpus: WordPiece (BERT layout) or sentencepiece unigram (XLM-R layout).

Used by the smoke profile, which pretrains its own tiny teachers; the paper profiles take the
teacher's tokenizer from its checkpoint instead.
"""

from __future__ import annotations

import dataclasses
import shutil
import tempfile
from pathlib import Path

from minilm_repro.config import ConfigError


@dataclasses.dataclass
class TokenizerConfig:
    kind: str  # "wordpiece" (BertTokenizerFast) | "sentencepiece" (XLMRobertaTokenizer)
    vocab_size: int
    lowercase: bool = True
    min_frequency: int = 2
    max_position: int = 512

    def __post_init__(self):
        if self.kind not in ("wordpiece", "sentencepiece"):
            raise ConfigError(f"tokenizer.kind must be 'wordpiece' or 'sentencepiece', got {self.kind!r}")


def _check_files(files: list[str]) -> list[str]:
    """The files as strings, once each is known to exist and to hold UTF-8 text (not only blank lines).

    A full decoding pass: the trainers would stop on a bad byte without naming the file, and a
    file of blank lines would train a vocabulary of the special tokens alone."""
    from minilm_repro.data.corpus import read_documents

    if not files:
        raise FileNotFoundError("no corpus text files given to train the tokenizer on")
    for f in files:
        if not Path(f).is_file():
            raise FileNotFoundError(f"corpus file {f} is missing or empty")
        if not sum(1 for _ in read_documents(f)):
            raise ValueError(f"corpus file {f} holds no text (it is empty or only blank lines); remove it or fill it")
    return [str(f) for f in files]


def _continuing_pieces(files: list[str], normalizer, pre_tokenizer, prefix: str = "##") -> list[str]:
    """``##c`` for every character that follows another inside a word, sorted.

    Works on the distinct whitespace-separated chunks of the files (the normaliser and the
    pre-tokeniser act within them), so it costs one pass of ``str.split`` over the text."""
    chunks: set[str] = set()
    for path in files:
        with open(path, encoding="utf-8") as f:
            for line in f:
                chunks.update(line.split())
    chars: set[str] = set()
    for chunk in chunks:
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(chunk)):
            chars.update(word[1:])
    return sorted(prefix + c for c in chars)


def train_wordpiece(files: list[str], cfg: TokenizerConfig):
    """WordPiece in BERT's layout, the same vocabulary and ids for the same files in every run.

    The ``tokenizers`` trainer creates the ``##c`` pieces in hash-map order, which changes from
    process to process, and breaks ties between equally frequent merges by those ids: the same
    corpus gives other ids and even other tokens (huggingface/tokenizers#1794, open). Handing it
    the sorted ``##c`` pieces up front as reserved tokens fixes every id; they are made plain
    vocabulary entries again afterwards."""
    from tokenizers import (
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import BertTokenizerFast

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    normalizer = normalizers.BertNormalizer(lowercase=cfg.lowercase, clean_text=True, handle_chinese_chars=True)
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    pieces = _continuing_pieces(files, normalizer, pre_tokenizer)
    trained = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    trained.normalizer, trained.pre_tokenizer = normalizer, pre_tokenizer
    trainer = trainers.WordPieceTrainer(
        vocab_size=cfg.vocab_size, min_frequency=cfg.min_frequency, special_tokens=specials + pieces
    )
    trained.train(files, trainer)
    vocab = trained.get_vocab(with_added_tokens=False)
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]", continuing_subword_prefix="##"))
    tok.normalizer, tok.pre_tokenizer, tok.decoder = normalizer, pre_tokenizer, decoders.WordPiece()
    tok.add_special_tokens(specials)
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    return BertTokenizerFast(
        tokenizer_object=tok, do_lower_case=cfg.lowercase, model_max_length=cfg.max_position,
        unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]", cls_token="[CLS]", mask_token="[MASK]",
    )


def train_sentencepiece(files: list[str], cfg: TokenizerConfig, keep_model_in: Path | None = None):
    """Unigram sentencepiece, laid out as XLM-R does (<s> <pad> </s> <unk>, pieces, <mask>)."""
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2
    from transformers import XLMRobertaTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "spm"
        spm.SentencePieceTrainer.train(
            input=",".join(files), model_prefix=str(prefix), model_type="unigram",
            vocab_size=cfg.vocab_size - 2,  # + <pad> and <mask> added below
            character_coverage=1.0, num_threads=1, minloglevel=2,
            unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
            hard_vocab_limit=False,  # vocab_size is an upper bound on small corpora
        )
        proto = sentencepiece_model_pb2.ModelProto()
        proto.ParseFromString(prefix.with_suffix(".model").read_bytes())
        if keep_model_in is not None:
            proto.trainer_spec.model_prefix = "sentencepiece.bpe"  # not the temporary path: same bytes every run
            keep_model_in.mkdir(parents=True, exist_ok=True)
            (keep_model_in / "sentencepiece.bpe.model").write_bytes(proto.SerializeToString())
    # spm ids 0..2 are unk/bos/eos; XLM-R puts <s> <pad> </s> <unk> first (fairseq order)
    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [(p.piece, p.score) for p in proto.pieces[3:]]
    vocab += [("<mask>", 0.0)]
    return XLMRobertaTokenizer(
        vocab=vocab, _spm_precompiled_charsmap=proto.normalizer_spec.precompiled_charsmap,
        model_max_length=cfg.max_position,
    )


def train_tokenizer(files: list[str], cfg: TokenizerConfig, out_dir: str | Path):
    """Train and save to ``out_dir`` (loads with ``AutoTokenizer.from_pretrained``).

    The directory is built beside it (``<out_dir>.partial``) and renamed when complete: a failed or
    killed run leaves no ``out_dir`` that a rerun would take as done."""
    from minilm_repro.jobs.atomic import partial_dir, replace_dir
    from minilm_repro.jobs.workdir import check_writable

    files = _check_files(files)
    out_dir = Path(out_dir)
    check_writable(out_dir, "tokenizer directory")
    tmp = partial_dir(out_dir)
    try:
        if cfg.kind == "wordpiece":
            tok = train_wordpiece(files, cfg)
        else:
            tok = train_sentencepiece(files, cfg, keep_model_in=tmp)
        tok.save_pretrained(str(tmp))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    replace_dir(tmp, out_dir)
    return tok
