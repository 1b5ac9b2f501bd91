"""ParaRel suites (suites/pararel.py): patterns x T-REx tuples, the cut / wrap handling of [Y]."""
from __future__ import annotations

import json

import pytest

from pytest_qfacts.errors import SuiteError
from pytest_qfacts.suites import list_builtin_suites, load_suite
from pytest_qfacts.suites.builtin import PARAREL_DIR
from pytest_qfacts.suites.pararel import WRAPPER, load_pararel, normalize_pattern, pattern_template

WRAP = WRAPPER.split("'")[0]  # "Based on your knowledge, ... filling in the blank: "


@pytest.mark.parametrize("pattern, mode, expected", [
    ("The capital of [X] is [Y] .", "auto", "The capital of {subject} is"),
    ("[X]'s capital, [Y].", "auto", "{subject}'s capital,"),
    ("[X] is [Y] citizen.", "cut", "{subject} is"),
    ("[Y] is the capital of [X].", "cut", None),  # nothing of the subject before [Y]
    ("The capital of [X] is [Y] .", "wrap",
     WRAP + "'The capital of {subject} is ___.' The missing word is:"),
    ("[Y] is the capital of [X].", "auto", WRAP + "'___ is the capital of {subject}.' The missing word is:"),
    ("[X] is [Y] citizen.", "auto", WRAP + "'{subject} is ___ citizen.' The missing word is:"),
])
def test_pattern_template(pattern, mode, expected):
    assert pattern_template(pattern, mode) == expected


def test_normalize_pattern_and_bad_mode():
    assert normalize_pattern("[X]  is located in [Y] .") == "[X] is located in [Y]."
    with pytest.raises(ValueError, match="accepted: auto, wrap, cut"):
        pattern_template("[X] is [Y].", "guess")


def test_builtin_pararel_suites():
    names = [n for n in list_builtin_suites() if n.startswith("pararel-")]
    assert names == ["pararel-P103", "pararel-P36", "pararel-P37"]
    suite = load_suite("pararel-P36")
    rel = suite.relations[0]
    assert rel.name == "P36" and len(rel.templates) == 14  # all 14 capital paraphrases stay distinct
    assert rel.templates[0] == "The capital of {subject} is"
    assert sum(t.startswith(WRAP) for t in rel.templates) == 6  # [Y] first or mid-sentence: wrapped
    tuples = [json.loads(line) for line in (PARAREL_DIR / "trex_lms_vocab" / "P36.jsonl").read_text().splitlines()]
    assert suite.n_facts == len({t["sub_label"] for t in tuples})
    assert len(suite.items()) == suite.n_facts * 14
    by_subject = {f.subject: f for f in rel.facts}
    assert by_subject["Cook County"].object == "Chicago"
    # a subject listed with several objects: one fact, the others are aliases
    repeated = next(f for f in rel.facts if f.aliases)
    objects = [t["obj_label"] for t in tuples if t["sub_label"] == repeated.subject]
    assert [repeated.object, *repeated.aliases] == list(dict.fromkeys(objects))


def test_modes_and_sampling():
    cut = load_pararel("P37", PARAREL_DIR, mode="cut")
    assert all(not t.startswith(WRAP) for t in cut.relations[0].templates) and len(cut.relations[0].templates) == 6
    wrap = load_pararel("P37", PARAREL_DIR, mode="wrap", max_facts=5)
    assert all(t.startswith(WRAP) for t in wrap.relations[0].templates) and wrap.n_facts == 5
    with pytest.raises(SuiteError, match="unknown ParaRel mode 'x'"):
        load_pararel("P37", PARAREL_DIR, mode="x")


def _write(tmp_path, patterns: list[str], tuples: list[str]):
    (tmp_path / "graphs_json").mkdir()
    (tmp_path / "trex_lms_vocab").mkdir()
    (tmp_path / "graphs_json" / "P9.jsonl").write_text("\n".join(patterns) + "\n")
    (tmp_path / "trex_lms_vocab" / "P9.jsonl").write_text("\n".join(tuples) + "\n")


def test_bad_files_name_file_and_line(tmp_path):
    _write(tmp_path, ['{"pattern": "[X] is in [Y]."}', '{"pattern": "[X] is in."}'], ['{"sub_label": "a", "obj_label": "b"}'])
    with pytest.raises(SuiteError) as info:
        load_pararel("P9", tmp_path)
    assert str(info.value).startswith(f"{tmp_path / 'graphs_json' / 'P9.jsonl'}:2: field 'pattern': ")
    assert "exactly one [X] and one [Y]" in str(info.value)


def test_bad_tuple_line(tmp_path):
    _write(tmp_path, ['{"pattern": "[X] is in [Y]."}'], ['{"sub_label": "a", "obj_label": "b"}', '{"sub_label": "c"}'])
    with pytest.raises(SuiteError, match=r"P9.jsonl:2: field 'obj_label': expected a JSON object with a non-empty string"):
        load_pararel("P9", tmp_path)
    with pytest.raises(SuiteError, match="ParaRel file not found"):
        load_pararel("P10", tmp_path)
