"""ParaRel suites (Elazar et al. 2021): every paraphrase pattern of a relation x its T-REx tuples.

Data layout (``yanaiela/pararel``): ``graphs_json/<Pid>.jsonl`` (one pattern per line, key
``pattern`` with one ``[X]`` for the subject and one ``[Y]`` for the object) and
``trex_lms_vocab/<Pid>.jsonl`` (keys ``sub_label``, ``obj_label``). One relation ``<Pid>``
per file; each pattern becomes one template, so every fact is scored once per paraphrase
and the ``paraphrase`` report block measures robustness across them.

The patterns were written for masked LMs; ``[Y]`` is not always last. ``mode``:

* ``cut``: the pattern up to ``[Y]`` (``"The capital of [X] is [Y] ."`` -> ``"The capital of
  {subject} is"``); patterns with ``[X]`` after ``[Y]`` are dropped.
* ``wrap``: every pattern becomes the fill-in-the-blank instruction of 003 appendix A.2,
  ``Based on your knowledge, complete the following sentence by filling in the blank:
  '{cloze}' The missing word is:`` with ``[Y]`` shown as ``___``.
* ``auto`` (default): ``cut`` where ``[Y]`` is last (only punctuation after it), else ``wrap``.

Whitespace before punctuation is normalized (``[Y] .`` -> ``[Y].``). A subject listed with
several objects becomes one fact whose first object is the answer and the others aliases.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

from ..errors import SuiteError
from .schema import Fact, Relation, Suite, evenly_spaced

MODES = ("auto", "wrap", "cut")
BLANK = "___"
WRAPPER = ("Based on your knowledge, complete the following sentence by filling in the blank: "
           "'{cloze}' The missing word is:")
_Y_LAST = re.compile(r".*\[Y\][\s.?!,;:]*")


def normalize_pattern(pattern: str) -> str:
    """Collapse whitespace and drop spaces before punctuation."""
    return re.sub(r"\s+([.?!,;:])", r"\1", " ".join(pattern.split()))


def pattern_template(pattern: str, mode: str = "auto") -> str | None:
    """The qfacts template (with ``{subject}``) of one ParaRel pattern, or None when ``cut`` cannot use it."""
    if mode not in MODES:
        raise ValueError(f"unknown ParaRel mode {mode!r}; accepted: {', '.join(MODES)}")
    p = normalize_pattern(pattern)
    if mode == "cut" or (mode == "auto" and _Y_LAST.fullmatch(p)):
        head = p[:p.index("[Y]")].rstrip()
        return head.replace("[X]", "{subject}") if "[X]" in head else None
    return WRAPPER.format(cloze=p.replace("[Y]", BLANK).replace("[X]", "{subject}"))


def _jsonl(path: Path, keys: tuple[str, ...]) -> list[tuple[int, dict]]:
    if not path.is_file():
        raise SuiteError("ParaRel file not found", path=str(path))
    rows = []
    text = path.read_bytes().decode("utf-8-sig")
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SuiteError(f"not valid JSON: {exc.msg}; each line must be one JSON object", path=str(path),
                             line=number) from None
        for key in keys:
            if not isinstance(row, dict) or not isinstance(row.get(key), str) or not row[key].strip():
                raise SuiteError(f"expected a JSON object with a non-empty string '{key}' (keys: {', '.join(keys)})",
                                 path=str(path), line=number, field=key)
        rows.append((number, row))
    return rows


def _patterns(path: Path, mode: str) -> tuple[str, ...]:
    templates: list[str] = []
    for number, row in _jsonl(path, ("pattern",)):
        pattern = row["pattern"]
        if pattern.count("[X]") != 1 or pattern.count("[Y]") != 1 or "{" in pattern or "}" in pattern:
            raise SuiteError(f"pattern {pattern!r} must hold exactly one [X] and one [Y] and no braces",
                             path=str(path), line=number, field="pattern")
        template = pattern_template(pattern, mode)
        if template is not None and template not in templates:
            templates.append(template)
    if not templates:
        raise SuiteError(f"no usable pattern in mode '{mode}' (cut needs [X] before [Y]); try mode 'wrap'", path=str(path))
    return tuple(templates)


def _facts(path: Path, max_facts: int | None) -> tuple[Fact, ...]:
    objects: dict[str, list[str]] = {}
    for _, row in _jsonl(path, ("sub_label", "obj_label")):
        answers = objects.setdefault(row["sub_label"].strip(), [])
        if row["obj_label"].strip() not in answers:
            answers.append(row["obj_label"].strip())
    facts = [Fact(answers[0], subject, None, tuple(answers[1:])) for subject, answers in objects.items()]
    if not facts:
        raise SuiteError("no tuples", path=str(path))
    return tuple(evenly_spaced(facts, max_facts))  # evenly spaced, deterministic


def load_pararel(relation: str, data_dir: str | Path, mode: str = "auto", max_facts: int | None = None) -> Suite:
    """Suite ``pararel-<relation>`` from ``data_dir/graphs_json/<relation>.jsonl`` and
    ``data_dir/trex_lms_vocab/<relation>.jsonl``."""
    if mode not in MODES:
        raise SuiteError(f"unknown ParaRel mode {mode!r}; accepted: {', '.join(MODES)}", field="mode")
    data_dir = Path(data_dir)
    templates = _patterns(data_dir / "graphs_json" / f"{relation}.jsonl", mode)
    facts = _facts(data_dir / "trex_lms_vocab" / f"{relation}.jsonl", max_facts)
    desc = (f"ParaRel relation {relation}: {len(templates)} paraphrase templates (mode {mode}) x T-REx tuples, "
            "from yanaiela/pararel (Elazar et al., 2021)")
    return Suite(f"pararel-{relation}", (Relation(relation, templates, facts),), {}, str(data_dir), 1, desc)
