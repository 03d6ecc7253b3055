"""Writing tables: Markdown, CSV, LaTeX (booktabs) and HTML (the Snakemake report's view).

Each table's notes (its caption) say what its cells are: the profile, the reporting protocol of
its columns and the intervals of its Δ rows (the table's own notes, :mod:`layouts`), daggers and
Δ against the paper."""

from __future__ import annotations

import html
from pathlib import Path

from minilm_repro.report.assemble import Table

TABLE_SUFFIXES = (".md", ".csv", ".tex")
# characters pdflatex's utf8 input does not know -> LaTeX
LATEX_SYMBOLS = {"±": r"$\pm$", "†": r"$^\dagger$", "Δ": r"$\Delta$", "−": r"$-$", "·": r"$\cdot$", "–": "--"}
CSS = ("body{font-family:sans-serif;font-size:13px} table{border-collapse:collapse} "
       "th,td{border:1px solid #bbb;padding:2px 6px;text-align:right} th{background:#eee} "
       "td:first-child,th:first-child{text-align:left}")


def notes_of(table: Table, profile: str) -> list[str]:
    """The caption lines of ``table``."""
    notes = [f"Profile `{profile}`; Source: the profile and hardware each row came from."] + list(table.notes)
    if table.text.astype(str).apply(lambda c: c.str.contains("†")).any().any():
        notes.append("† recalled from the paper, not verified against the authors' release.")
    labels = [str(i) for i in table.text.index]
    if any(i.startswith("Δ") and "paper: " in i for i in labels):
        notes.append("Δ … − paper: ours minus the figure of the paper row that model reproduces (same teacher, "
                     "student shape and protocol), where both exist and measure the same columns.")
    if any(i.startswith("released: ") for i in labels):
        notes.append("released: the authors' released checkpoints (other teacher or fine-tuning settings), shown "
                     "for context, never a Δ target of a model distilled here.")
    return notes


def latex(table: Table, notes: list[str]) -> str:
    body = table.text.to_latex(escape=True, caption=table.title, label=f"tab:{table.name}", position="t")
    body = "% needs \\usepackage{booktabs}\n" + body + "".join(f"% {n}\n" for n in notes)
    for char, tex in LATEX_SYMBOLS.items():
        body = body.replace(char, tex)
    return body


def html_page(title: str, body: str) -> str:
    return (f"<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head>\n<body><h3>{html.escape(title)}</h3>\n{body}\n</body></html>\n")


def write_table(table: Table, out_dir: Path, profile: str) -> list[Path]:
    """``<name>.md|csv|tex`` in ``out_dir`` and ``html/<name>.html``."""
    notes = notes_of(table, profile)
    paths = [out_dir / f"{table.name}{s}" for s in TABLE_SUFFIXES] + [out_dir / "html" / f"{table.name}.html"]
    table.text.to_csv(paths[1])
    paths[0].write_text(f"# {table.title}\n\n{table.text.to_markdown()}\n\n" + "\n".join(notes) + "\n")
    paths[2].write_text(latex(table, notes))
    paths[3].write_text(html_page(table.title, table.text.to_html(escape=True)
                                  + "".join(f"<p>{html.escape(n)}</p>" for n in notes)))
    return paths


def write_not_written(missing: dict[str, str], out_dir: Path) -> Path:
    """``html/not_written.html`` and ``not_written.md``: the tables this profile has no inputs for, and why."""
    rows = "".join(f"<tr><td>{html.escape(n)}</td><td>{html.escape(r)}</td></tr>" for n, r in sorted(missing.items()))
    (out_dir / "not_written.md").write_text(
        "# Tables not written\n\n" + "".join(f"- `{n}`: {r}\n" for n, r in sorted(missing.items())))
    path = out_dir / "html" / "not_written.html"
    path.write_text(html_page("Tables not written (their inputs are not in this profile)",
                              f"<table><tr><th>table</th><th>why</th></tr>{rows}</table>"))
    return path


def clear_previous(out_dir: Path) -> None:
    """Remove tables a previous build wrote here (a table the config no longer yields must not linger)."""
    for path in list(out_dir.glob("*")) + list((out_dir / "html").glob("*.html")):
        if path.is_file() and (path.suffix in TABLE_SUFFIXES or path.suffix == ".html"):
            path.unlink()
