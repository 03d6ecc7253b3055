"""Cleaning raw corpus sources (minilm_repro.data.textclean), one test per rule, on lines of the real files in
../shared/realdata/text (a Gutenberg novel, WikiText-2), and the evaluation text of imported tasks cut out."""

import json

import pytest
from conftest import SHARED

from minilm_repro.config import ConfigError
from minilm_repro.data.textclean import CleanConfig, clean_text

TEXT = SHARED / "realdata" / "text"


def _lines(path, start, stop) -> list[str]:
    return path.read_text(encoding="utf-8-sig").splitlines()[start:stop]


def _clean(tmp_path, kind, lines, **kw):
    src = tmp_path / "raw.txt"
    src.write_text("\r\n".join(lines) + "\r\n", encoding="utf-8")  # as Gutenberg ships them: CRLF
    out = tmp_path / "out" / "en.txt"
    rec = clean_text([src], CleanConfig(kind, **kw), out)
    docs = [d.splitlines() for d in out.read_text().strip("\n").split("\n\n")]
    return docs, rec, json.loads(out.with_suffix(".clean.json").read_text())


@pytest.fixture(scope="module")
def frankenstein():
    lines = (TEXT / "gutenberg" / "frankenstein.txt").read_text(encoding="utf-8-sig").splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith("*** START OF"))
    end = next(i for i, x in enumerate(lines) if x.startswith("*** END OF"))
    return lines, start, end


def test_gutenberg_header_and_licence_outside_the_markers_are_dropped(tmp_path, frankenstein):
    lines, start, end = frankenstein
    # the header, 60 lines of the book, and the licence's first 40 lines
    docs, rec, written = _clean(tmp_path, "gutenberg", lines[: start + 60] + lines[end: end + 40])
    text = " ".join(s for d in docs for s in d)
    assert "Project Gutenberg" not in text and "ebook" not in text.lower() and "Release date" not in text
    assert "*** START OF" not in text and "*** END OF" not in text
    header_words = sum(len(x.split()) for x in lines[: start + 1])
    licence_words = sum(len(x.split()) for x in lines[end: end + 40])
    assert rec["removed"]["outside_markers"]["words"] == header_words + licence_words
    assert written == rec


def test_gutenberg_paragraphs_are_unwrapped_and_cut_into_sentences(tmp_path, frankenstein):
    lines, start, end = frankenstein
    letter = next(i for i in range(start, end) if lines[i].startswith("You will rejoice to hear"))
    body = lines[letter: letter + 30]
    docs, rec, _ = _clean(tmp_path, "gutenberg", [lines[start], *body, lines[end]], group_words=10_000)
    sentences = docs[0]
    assert sentences[0].startswith("You will rejoice to hear that no disaster has accompanied")  # the first sentence
    # a sentence wrapped over several lines in the file is one line here
    assert any("commencement of an enterprise" in s and "evil forebodings" in s for s in sentences)
    assert all("  " not in s for s in sentences)


def test_gutenberg_headings_and_contents_lists_are_dropped(tmp_path, frankenstein):
    lines, start, end = frankenstein
    contents = lines[start: start + 40]  # title, author, "CONTENTS", "Letter 1", "Chapter 1", ...
    docs, rec, _ = _clean(tmp_path, "gutenberg", [*contents, lines[end]], min_paragraph_words=4)
    text = "\n".join(s for d in docs for s in d)
    assert "Chapter 1" not in text and "CONTENTS" not in text
    assert rec["removed"]["headings_and_lists"]["lines"] >= 28  # "Letter 1" ... "Chapter 24" among them


def test_a_file_without_gutenberg_markers_is_an_error_naming_the_fix(tmp_path):
    with pytest.raises(ConfigError, match=r"no '\*\*\* START OF' .* kind: plain"):
        _clean(tmp_path, "gutenberg", _lines(TEXT / "wikitext-2" / "wiki.valid.tokens", 0, 20))


def test_wikitext_titles_start_articles_and_headings_are_dropped(tmp_path):
    lines = _lines(TEXT / "wikitext-2" / "wiki.valid.tokens", 0, 40)
    titles = [x for x in lines if x.strip().startswith("= ") and not x.strip().startswith("= =")]
    docs, rec, _ = _clean(tmp_path, "wikitext", lines)
    assert len(docs) == len(titles) >= 1
    text = "\n".join(s for d in docs for s in d)
    assert " = " not in text and "= = Description = =" not in text and "Homarus gammarus" in text
    assert rec["removed"]["headings"]["lines"] == sum(1 for x in lines if x.strip().startswith("="))


def test_wikitext_at_tokens_are_joined_and_unk_removed(tmp_path):
    lines = _lines(TEXT / "wikitext-2" / "wiki.valid.tokens", 0, 40)
    docs, rec, _ = _clean(tmp_path, "wikitext", lines)
    text = "\n".join(s for d in docs for s in d)
    assert "@-@" not in text and "@,@" not in text and "@.@" not in text and "<unk>" not in text
    assert "0.7 – 2.2 kg (1.5 – 4.9 lb)." in text  # "0 @.@ 7 – 2 @.@ 2 kg ( 1 @.@ 5 – 4 @.@ 9 lb ) ." in the file
    raw = "\n".join(x for x in lines if not x.strip().startswith("="))  # headings are dropped whole
    assert rec["removed"]["unk"]["words"] == raw.split().count("<unk>") > 0
    joins = sum(raw.count(t) for t in (" @-@ ", " @,@ ", " @.@ "))
    assert rec["removed"]["joined_tokens"]["words"] == 2 * joins > 0
    assert "lobster , H. americanus" not in text and "lobster, H. americanus" in text  # punctuation spacing undone
    assert rec["removed"]["punctuation_spacing"]["words"] > 0


def test_evaluation_text_of_imported_tasks_is_cut_out(tmp_path):
    from minilm_repro.data.importing import import_task

    lines = _lines(TEXT / "wikitext-2" / "wiki.valid.tokens", 0, 12)
    sentence = "Homarus gammarus is a highly esteemed food, and is widely caught using lobster pots"
    dev = tmp_path / "SST-2"
    dev.mkdir()
    (dev / "train.tsv").write_text("sentence\tlabel\na fine film\t1\n")
    (dev / "dev.tsv").write_text(f"sentence\tlabel\n{sentence}\t1\n")
    import_task("glue/sst2", str(dev), tmp_path / "tasks")
    src = tmp_path / "raw.txt"
    src.write_text("\n".join(lines) + "\n")
    rec = clean_text([src], CleanConfig("wikitext"), tmp_path / "out" / "en.txt", tmp_path / "tasks")
    text = (tmp_path / "out" / "en.txt").read_text()
    assert "esteemed food" not in text and "Homarus gammarus, known as the European lobster" in text
    assert rec["evaluation_text"]["texts_found_in_corpus"] == 1 and rec["evaluation_text"]["sentences_removed"] == 1
