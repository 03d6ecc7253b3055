"""The paper configs carry the papers' values: every entry of tests/paper_protocol.yaml, checked
against the resolved jobs of each config's plan (``Plan`` + ``plan.view.plan_records``, no
Snakemake), and the set of distilled students row by row of the paper's tables (footnote 5's
teachers: only the "w/ TA" rows through the assistant). A failing check prints the value found,
the one expected and where the paper says it.
"""

from __future__ import annotations

import copy
import functools
import itertools
import re
from collections import Counter

import pytest
import yaml
from conftest import REPO

from minilm_repro.distill.baselines import uniform_layer_map
from minilm_repro.distill.losses import V1_PARTS, V2_PARTS
from minilm_repro.plan.planner import Plan, load_config
from minilm_repro.plan.view import plan_records
from minilm_repro.report.reference import entries_of_tables, resolve

PROTOCOL_FILE = REPO / "tests" / "paper_protocol.yaml"
PROTOCOL = yaml.safe_load(PROTOCOL_FILE.read_text())
RECORD_ROOTS = ("paths", "inputs", "tags")  # key paths read from the job record; any other from its settings
TAG_FILTERS = ("track", "model", "task")
SELECT_KEYS = {"rule", "id", "where", *TAG_FILTERS}
ENTRY_KEYS = {"config", "select", "count", "per", "checks"}
EXPECTATIONS = ("value", "same_members", "values", "includes", "max", "distinct", "grid")
CHECK_KEYS = {"key", "per", "source", *EXPECTATIONS}
# what a student's `relations: null` means: the parts DistillationLoss then trains (the package's own default)
METHOD_RELATIONS = {"minilm": list(V1_PARTS), "minilmv2": list(V2_PARTS)}
# reference_results.csv task names -> our task names
CSV_TASKS = {"squad2": "squad_v2", "mnli-m": "mnli", "mnli-mm": "mnli"}
_MISSING = object()
_LAYER = re.compile(r"^\s*([0-9]+)\s+of\s+([0-9]+)\s*$")


# ---- the plans -----------------------------------------------------------------------------------
def build(config: dict) -> tuple[Plan, list[dict]]:
    plan = Plan(config)
    return plan, plan_records(plan)


@functools.cache
def _planned(name: str):
    try:
        return build(load_config([str(REPO / PROTOCOL["configs"][name])])), None
    except Exception as exc:  # noqa: BLE001 (kept, so a refused config fails every test at once, not rebuilt each time)
        return None, exc


def planned(name: str) -> tuple[Plan, list[dict]]:
    """(plan, resolved job records) of the named paper config, built once per session."""
    result, exc = _planned(name)
    if exc is not None:
        pytest.fail(f"{name}: the config does not plan: {type(exc).__name__}: {exc}")
    return result


# ---- values in one form ----------------------------------------------------------------------------
def canon_layer(ref):
    """-1, "last" and "N of N" -> "last"; "K of N" (K < N) as written; other ints (list indices) unchanged."""
    if ref == -1 or ref == "last":
        return "last"
    m = _LAYER.match(ref) if isinstance(ref, str) else None
    if m:
        k, n = int(m.group(1)), int(m.group(2))
        return "last" if k == n else f"{k} of {n}"
    return ref


def canon(key: str | None, value, settings: dict | None = None):
    """``value`` of ``key`` in the form both sides are compared in."""
    leaf = (key or "").rsplit(".", 1)[-1]
    if leaf in ("teacher_layer", "student_layer"):
        return canon_layer(value)
    if leaf == "relations" and value is None and settings is not None:
        return METHOD_RELATIONS.get(settings.get("method"))
    if leaf == "layer_map" and isinstance(value, list):
        return [[canon_layer(t), canon_layer(s)] for t, s in value]
    if isinstance(value, float):
        return float(f"{value:.12g}")
    if isinstance(value, list):
        return [canon(None, v) for v in value]
    if isinstance(value, dict):
        return {k: canon(k, v) for k, v in value.items()}
    return value


def frozen(value):
    """A hashable copy (sets of lists, dicts)."""
    if isinstance(value, list):
        return tuple(frozen(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, frozen(v)) for k, v in value.items()))
    return value


def lookup(record: dict, key: str):
    """The value at ``key`` (dotted) of a job record: under its settings unless the path starts with
    paths. / inputs. / tags.; _MISSING if absent."""
    parts = key.split(".")
    node = record if parts[0] in RECORD_ROOTS else record["settings"]
    for p in parts:
        if not isinstance(node, dict) or p not in node:
            return _MISSING
        node = node[p]
    return node


def found_value(record: dict, key: str):
    value = lookup(record, key)
    if value is _MISSING:
        pytest.fail(f"{record['id']}: no key {key!r} in its resolved settings / record")
    return canon(key, value, record["settings"])


def alternatives(want) -> list:
    return want if isinstance(want, list) else [want]


# ---- selection -----------------------------------------------------------------------------------
def select(records: list[dict], sel: dict) -> list[dict]:
    out = []
    for r in records:
        if "rule" in sel and r["rule"] not in alternatives(sel["rule"]):
            continue
        if "id" in sel and not re.fullmatch(sel["id"], r["id"]):
            continue
        if any(t in sel and r["tags"].get(t) not in alternatives(sel[t]) for t in TAG_FILTERS):
            continue
        ok = True
        for path, want in sel.get("where", {}).items():
            have = lookup(r, path)
            if have is _MISSING or frozen(canon(path, have, r["settings"])) not in \
                    {frozen(canon(path, a, r["settings"])) for a in alternatives(want)}:
                ok = False
                break
        if ok:
            out.append(r)
    return out


def describe(sel: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sel.items())


# ---- one check -----------------------------------------------------------------------------------
def check_failures(jobs: list[dict], check: dict, per: list[str] | None) -> list[str]:
    """What in ``jobs`` disagrees with ``check`` (empty: it holds)."""
    key = check.get("key")
    kind = next(k for k in EXPECTATIONS if k in check)
    want = check[kind]
    bad = []
    if kind in ("value", "same_members"):
        for r in jobs:
            have = found_value(r, key)
            if kind == "value":
                ok = frozen(have) == frozen(canon(key, want, r["settings"]))
            else:
                ok = isinstance(have, list) and \
                    Counter(map(frozen, have)) == Counter(frozen(canon(None, w)) for w in want)
            if not ok:
                bad.append(f"{r['id']}: found {have!r}")
        return bad
    groups: dict[tuple, list[dict]] = {}
    for r in jobs:
        groups.setdefault(tuple(r["tags"].get(t) for t in per or ()), []).append(r)
    for gkey, group in groups.items():
        where = f"group {dict(zip(per, gkey))}" if per else f"the {len(group)} selected jobs"
        if kind == "grid":
            points = [tuple(frozen(found_value(r, k)) for k in want) for r in group]
            axes = [sorted({p[i] for p in points}, key=repr) for i in range(len(want))]
            full = set(itertools.product(*axes))
            if len(points) != len(full) or set(points) != full:
                dup = [p for p, n in Counter(points).items() if n > 1]
                bad.append(f"{where}: {len(points)} jobs over {len(full)} combinations of {want} "
                           f"(missing {sorted(full - set(points), key=repr)[:3]}, repeated {dup[:3]})")
            continue
        values = [found_value(r, key) for r in group]
        have = {frozen(v) for v in values}
        if kind == "values":
            ok = have == {frozen(canon(key, w)) for w in want}
        elif kind == "includes":
            ok = {frozen(canon(key, w)) for w in want} <= have
        elif kind == "max":
            ok = max(values) == canon(key, want)
        else:  # distinct
            ok = len(have) == want
        if not ok:
            shown = sorted(have, key=repr)
            bad.append(f"{where}: found {'max ' + repr(max(values)) if kind == 'max' else shown}")
    return bad


# ---- the table's own shape (a typo must not make a check that cannot fail) -------------------------
ENTRIES = [(cfg, i, e) for i, e in enumerate(PROTOCOL["entries"]) for cfg in alternatives(e["config"])]
CHECKS = [(cfg, i, j, e, c) for cfg, i, e in ENTRIES for j, c in enumerate(e["checks"])]


def _check_id(item) -> str:
    cfg, i, j, e, c = item
    what = c.get("key") or f"grid{c.get('grid')}"
    return f"{cfg}:{i}.{j}:{describe(e['select'])}:{what}"


def test_the_table_is_well_formed():
    problems = []
    for i, e in enumerate(PROTOCOL["entries"]):
        if set(e) - ENTRY_KEYS or not {"config", "select", "checks"} <= set(e):
            problems.append(f"entry {i}: keys {sorted(e)}; allowed {sorted(ENTRY_KEYS)}")
        if set(e.get("select", {})) - SELECT_KEYS or not e.get("select"):
            problems.append(f"entry {i}: select keys {sorted(e.get('select', {}))}; allowed {sorted(SELECT_KEYS)}")
        for cfg in alternatives(e.get("config")):
            if cfg not in PROTOCOL["configs"]:
                problems.append(f"entry {i}: unknown config {cfg!r}")
        for j, c in enumerate(e.get("checks") or [None]):
            if not isinstance(c, dict):
                problems.append(f"entry {i}: no checks")
                continue
            kinds = [k for k in EXPECTATIONS if k in c]
            if set(c) - CHECK_KEYS or len(kinds) != 1:
                problems.append(f"entry {i} check {j}: keys {sorted(c)}; one expectation of {EXPECTATIONS} needed")
            elif (kinds[0] == "grid") == ("key" in c):
                problems.append(f"entry {i} check {j}: a grid check has no key, every other check one")
            if not str(c.get("source", "")).strip():
                problems.append(f"entry {i} check {j}: no source")
    for name, variant in PROTOCOL["variants"].items():
        if set(variant) != {"settings", "source"}:
            problems.append(f"variant {name}: needs settings and source")
    for block in PROTOCOL["students"]:
        for row in block["rows"]:
            if row["variant"] not in PROTOCOL["variants"] or row["via"] not in ("teacher", "assistant") \
                    or not row.get("source"):
                problems.append(f"{block['config']} {block['track']}: bad row {row}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("item", ENTRIES, ids=lambda it: f"{it[0]}:{it[1]}:{describe(it[2]['select'])}")
def test_each_entry_selects_its_jobs(item):
    cfg, _, entry = item
    jobs = select(planned(cfg)[1], entry["select"])
    assert jobs, f"{cfg}: no job matches select {entry['select']}"
    if "count" in entry:
        assert len(jobs) == entry["count"], (f"{cfg}: select {entry['select']} matches {len(jobs)} jobs, the paper "
                                             f"has {entry['count']}: {[r['id'] for r in jobs]}")


@pytest.mark.parametrize("item", CHECKS, ids=_check_id)
def test_paper_value(item):
    cfg, _, _, entry, check = item
    jobs = select(planned(cfg)[1], entry["select"])
    assert jobs, f"{cfg}: no job matches select {entry['select']}"
    bad = check_failures(jobs, check, check.get("per", entry.get("per")))
    kind = next(k for k in EXPECTATIONS if k in check)
    assert not bad, (f"{cfg} [{describe(entry['select'])}] {check.get('key') or ''}: expected {kind} "
                     f"{check[kind]!r} (source: {check['source']}); " + "; ".join(bad[:5])
                     + (f"; ... {len(bad) - 5} more" if len(bad) > 5 else ""))


# ---- the students, row by row --------------------------------------------------------------------
def shape_name(settings: dict) -> str:
    return f"L{settings['shape']['layers']}xH{settings['shape']['hidden']}"


def uniform_map(teacher_layers: int, student_layers: int) -> list[list[str]]:
    """The uniform layer map: student layer m <-> teacher layer m * L / M (1-based), as canonical references."""
    assert teacher_layers % student_layers == 0, f"no uniform map from {teacher_layers} to {student_layers} layers"
    step = teacher_layers // student_layers
    return [[canon_layer(f"{m * step} of {teacher_layers}"), canon_layer(f"{m} of {student_layers}")]
            for m in range(1, student_layers + 1)]


def variant_matches(settings: dict, expected: dict, teacher_layers: int) -> list[str]:
    """The settings of a distill job that differ from a variant's (empty: it is that variant)."""
    diff = []
    for key, want in expected.items():
        have = canon(key, settings.get(key), settings)
        if key == "layer_map" and want == "uniform":
            if have is None and settings.get("method") == "tinybert":  # the method's default map
                have = [[canon_layer(f"{t + 1} of {teacher_layers}"),
                         canon_layer(f"{s + 1} of {settings['shape']['layers']}")]
                        for t, s in uniform_layer_map(teacher_layers, settings["shape"]["layers"])]
            want = uniform_map(teacher_layers, settings["shape"]["layers"])
        else:
            want = canon(key, want, settings)
        if frozen(have) != frozen(want):
            diff.append(f"{key}={have!r} (variant: {want!r})")
    return diff


def task_of(csv_task: str) -> str:
    return CSV_TASKS.get(csv_task, csv_task.split("-")[0] if csv_task.startswith(("xnli-", "mlqa-")) else csv_task)


def student_problems(plan: Plan, records: list[dict], block: dict) -> list[str]:
    """Everything in the track's students that disagrees with the block's rows (empty: they match)."""
    track, problems = block["track"], []
    teachers = [r for r in records if r["rule"] == "fetch_teacher" and r["tags"].get("track") == track]
    if [r["settings"].get("id") for r in teachers] != [block["teacher"]]:
        problems.append(f"teacher of track {track}: {[r['settings'].get('id') for r in teachers]}, "
                        f"the paper's: {block['teacher']} ({block['source']})")
    distill = {r["tags"]["model"]: r for r in records if r["rule"] == "distill" and r["tags"].get("track") == track}
    variants = PROTOCOL["variants"]

    def via(name: str) -> str:
        t = distill[name]["paths"]["teacher_name"]
        if t == "teacher":
            return "teacher"
        a = distill.get(t)
        if a is not None and a["paths"]["teacher_name"] == "teacher" and \
                shape_name(a["settings"]) == block.get("assistant"):
            return "assistant"
        return f"student {t}"

    descriptors = {}
    for name, r in distill.items():
        diffs = {v: variant_matches(r["settings"], spec["settings"], block["teacher_layers"])
                 for v, spec in variants.items()}
        kinds = [v for v, d in diffs.items() if not d]
        if not kinds:
            same_method = {v: variants[v]["settings"]["method"] == r["settings"]["method"] for v in variants}
            closest = min(diffs, key=lambda v: (not same_method[v], len(diffs[v])))
            problems.append(f"{track}/{name} is no paper variant; closest {closest!r} ({variants[closest]['source']}) "
                            f"differs in {diffs[closest]}")
        elif len(kinds) > 1:
            problems.append(f"{track}/{name}: matches variants {kinds}, not exactly one")
        descriptors[name] = (shape_name(r["settings"]), kinds[0] if len(kinds) == 1 else None, via(name))
    rows = [(row["shape"], row["variant"], row["via"]) for row in block["rows"]]
    ours, paper = Counter(descriptors.values()), Counter(rows)
    if ours != paper:
        extra = [f"{n} {d}" for n, d in descriptors.items() if ours[d] > paper[d]]
        lacking = [f"{d} ({row['source']})" for d, row in zip(rows, block["rows"]) if paper[d] > ours[d]]
        problems.append(f"track {track}: students not in the paper's tables: {extra}; paper rows without a student: "
                        f"{lacking} (shape, variant, teacher path; {block['source']})")
    references = plan.track(track).get("reference", {})
    finetuned = {}
    for r in records:
        if r["rule"] == "finetune" and r["tags"].get("track") == track:
            finetuned.setdefault(r["tags"]["model"], set()).add(r["tags"]["task"])
    for row in block["rows"]:
        if row["row"] is None:
            continue
        desc = (row["shape"], row["variant"], row["via"])
        names = [n for n, d in descriptors.items() if d == desc]
        for key in alternatives(row["row"]):
            entry = resolve(key)
            if entry.teacher != block["paper_teacher"] or entry.shape != row["shape"] or \
                    entry.model.endswith("+TA") != (row["via"] == "assistant"):
                problems.append(f"table row {entry.key} (teacher {entry.teacher}, {entry.shape}) does not describe "
                                f"{desc} of track {track} from {block['paper_teacher']}")
            if row["reference"]:
                shape = (entry.layers, entry.hidden)
                names_ref = [n for n in names
                             if entry in {resolve(k, shape) for k in alternatives(references.get(n, []))}]
                if not names_ref:
                    problems.append(f"track {track}: no student {desc} has reference {key} "
                                    f"(students with that shape, variant and teacher: {names}; {row['source']})")
                names_for_tasks = names_ref
            else:
                names_for_tasks = names
            tasks = {task_of(t) for t, _, _ in entry.figures}
            for n in names_for_tasks:
                if not tasks <= finetuned.get(n, set()):
                    problems.append(f"track {track}/{n}: fine-tuned on {sorted(finetuned.get(n, set()))}, the paper's "
                                    f"row {entry.key} reports {sorted(tasks)}")
    return problems


BLOCKS = PROTOCOL["students"]


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: f"{b['config']}:{b['track']}")
def test_students_match_the_papers_rows_and_teachers(block):
    plan, records = planned(block["config"])
    problems = student_problems(plan, records, block)
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("config", sorted(PROTOCOL["complete_tables"]))
def test_every_entry_of_the_reproduced_tables_is_a_row(config):
    rows = {resolve(k).key for b in BLOCKS if b["config"] == config for row in b["rows"] if row["row"]
            for k in alternatives(row["row"])}
    missing = [e.key for e in entries_of_tables(PROTOCOL["complete_tables"][config]) if e.key not in rows]
    assert not missing, f"{config}: paper entries without a student row in paper_protocol.yaml: {missing}"


def test_every_paper_config_is_in_the_table():
    shipped = {p.name for p in (REPO / "workflow" / "config").glob("paper-*.yaml")}
    listed = {p.split("/")[-1] for p in PROTOCOL["configs"].values()}
    assert shipped == listed, f"paper configs {sorted(shipped)} vs those in paper_protocol.yaml {sorted(listed)}"
    checked = {cfg for cfg, _, _ in ENTRIES} | {b["config"] for b in BLOCKS}
    assert checked == set(PROTOCOL["configs"]), f"configs without any check: {set(PROTOCOL['configs']) - checked}"


# ---- the checks can fail: a changed value is caught, naming found, expected and source -------------
def test_a_changed_value_or_teacher_is_caught():
    config = copy.deepcopy(planned("paper-multilingual")[0].config)
    student = config["tracks"]["multi"]["students"]["L6xH384"]
    student["optim"]["lr"] = 5.0e-4
    student["teacher"] = "teacher"  # no longer through the assistant
    config["tracks"]["multi"]["reference"].pop("L6xH384")  # else the planner itself refuses the TA row
    plan, records = build(config)
    [(entry, check)] = [(e, c) for cfg, _, _, e, c in CHECKS
                        if cfg == "paper-multilingual" and c.get("key") == "optim.lr"
                        and e["select"].get("where", {}).get("shape.layers") == 6]
    bad = check_failures(select(records, entry["select"]), check, None)
    assert bad == ["distill/multi/L6xH384: found 0.0005"]
    [block] = [b for b in BLOCKS if b["config"] == "paper-multilingual"]
    problems = "\n".join(student_problems(plan, records, block))
    assert "paper rows without a student" in problems and "'assistant'" in problems
    assert "no student ('L6xH384', 'minilm', 'assistant') has reference" in problems
