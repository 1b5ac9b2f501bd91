"""The .qfacts.yaml loader: the example loads, and every error names file, line, field, accepted values."""
from __future__ import annotations

import textwrap

import pytest

from pytest_qfacts.errors import SuiteError
from pytest_qfacts.suites import load_suite_file, load_suite_text
from pytest_qfacts.suites.schema import Fact, Relation, Suite

EXAMPLE = """\
qfacts: 1                 # required, format version
name: capitals
description: "A few capitals"
relations:
  - name: country_capital
    templates: ["The capital of {subject} is", "{subject}'s capital is"]
    facts:
      - {subject: France, object: Paris}
      - {subject: the Philippines, object: Manila, aliases: [Manila City]}
      - {prompt: "Big Ben stands in the city of", object: London}
gate: {max_drop: 0.05, relative: true, per_relation: false, min_accuracy: 0.5}
"""

HEAD = "qfacts: 1\nname: s\nrelations:\n  - name: r\n    templates: ['The capital of {subject} is']\n    facts:\n"


def write(tmp_path, text, name="suite.qfacts.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(tmp_path, text, name="suite.qfacts.yaml") -> str:
    path = write(tmp_path, text, name)
    with pytest.raises(SuiteError) as info:
        load_suite_file(path)
    message = str(info.value)
    assert message.startswith(str(path)), message  # every error names the file
    return message


def facts(*lines: str) -> str:
    """HEAD plus fact lines; the first fact is on line 7."""
    return HEAD + "".join(f"      - {line}\n" for line in lines)


# --- loading ---------------------------------------------------------------------------

def test_example_loads(tmp_path):
    suite = load_suite_file(write(tmp_path, EXAMPLE))
    assert isinstance(suite, Suite)
    assert (suite.name, suite.version, suite.description) == ("capitals", 1, "A few capitals")
    assert suite.source == str(tmp_path / "suite.qfacts.yaml")
    assert suite.gate == {"max_drop": 0.05, "relative": True, "per_relation": False, "min_accuracy": 0.5}
    (rel,) = suite.relations
    assert isinstance(rel, Relation) and rel.name == "country_capital" and rel.line == 5
    assert rel.templates == ("The capital of {subject} is", "{subject}'s capital is")
    assert rel.facts[0] == Fact("Paris", "France", None, (), 8)
    assert rel.facts[1] == Fact("Manila", "the Philippines", None, ("Manila City",), 9)
    assert rel.facts[2] == Fact("London", None, "Big Ben stands in the city of", (), 10)
    assert suite.n_facts == 3


def test_example_expands_into_items(tmp_path):
    items = load_suite_file(write(tmp_path, EXAMPLE)).items()
    # 2 template facts x 2 templates + 1 own-prompt fact = 5 scored items
    assert [(i.prompt, i.template_index) for i in items] == [
        ("The capital of France is", 0),
        ("France's capital is", 1),
        ("The capital of the Philippines is", 0),
        ("the Philippines's capital is", 1),
        ("Big Ben stands in the city of", -1),
    ]
    for item in items[:4]:
        start, end = item.subject_span
        assert item.prompt[start:end] == item.subject
    assert items[2].answers == ("Manila", "Manila City")
    assert items[4].subject_span is None and items[4].answers == ("London",)
    assert {i.relation for i in items} == {"country_capital"}


def test_subject_and_prompt_prompt_wins_subject_gives_span():
    suite = load_suite_text(facts("{prompt: 'Big Ben stands in London, the capital of', subject: London, object: England}"))
    (item,) = suite.items()
    assert item.prompt == "Big Ben stands in London, the capital of"
    assert item.prompt[slice(*item.subject_span)] == "London"
    assert suite.source == "<string>"


def test_numbers_become_strings_as_written():
    suite = load_suite_text(facts("{subject: Einstein, object: 1879, aliases: [1879.0, '79']}", "{subject: 42, object: 007}"))
    f0, f1 = suite.relations[0].facts
    assert f0.object == "1879" and f0.aliases == ("1879.0", "79")
    assert (f1.subject, f1.object) == ("42", "007")


def test_templates_optional_when_every_fact_has_a_prompt():
    suite = load_suite_text("qfacts: 1\nname: s\nrelations:\n  - name: r\n    facts:\n      - {prompt: 'Two plus two is', object: four}\n")
    assert suite.relations[0].templates == () and len(suite.items()) == 1


def test_aliases_deduplicated_and_object_dropped():
    suite = load_suite_text(facts("{subject: a, object: b, aliases: [c, b, c, d]}"))
    assert suite.relations[0].facts[0].aliases == ("c", "d")


def test_content_hash_changes_when_a_fact_changes():
    base = load_suite_text(EXAMPLE).content_hash()
    assert load_suite_text(EXAMPLE).content_hash() == base
    assert load_suite_text(EXAMPLE.replace("Paris", "Lyon")).content_hash() != base
    assert load_suite_text(EXAMPLE.replace("[Manila City]", "[Manila City, MNL]")).content_hash() != base


def test_bom_and_yml_accepted(tmp_path):
    path = tmp_path / "s.yml"
    path.write_bytes("\ufeff".encode() + EXAMPLE.encode())
    assert load_suite_file(path).name == "capitals"


# --- file-level errors -----------------------------------------------------------------

def test_file_not_found(tmp_path):
    with pytest.raises(SuiteError, match=r"nope\.qfacts\.yaml: suite file not found"):
        load_suite_file(tmp_path / "nope.qfacts.yaml")


def test_yaml_syntax_error_reports_line_and_column(tmp_path):
    msg = error_of(tmp_path, "qfacts: 1\nname: [x\nrelations: 3\n")
    assert ":3: YAML syntax error at line 3, column 10" in msg and "started at line 2" in msg
    assert "Traceback" not in msg


def test_tab_indentation_is_a_syntax_error(tmp_path):
    assert "line 2, column 1" in error_of(tmp_path, "qfacts: 1\n\tname: x\n")


@pytest.mark.parametrize("text, expected", [
    ("", "file is empty; expected a mapping that starts with 'qfacts: 1'"),
    ("- a\n- b\n", ":1: the top level must be a mapping with keys qfacts, name, description, relations, gate; got a list"),
    ("just text\n", "got a string ('just text')"),
])
def test_not_a_mapping(tmp_path, text, expected):
    assert expected in error_of(tmp_path, text)


def test_two_documents(tmp_path):
    assert ":2: YAML syntax error" in error_of(tmp_path, "qfacts: 1\n---\nname: x\n")


def test_python_tags_are_rejected(tmp_path):
    msg = error_of(tmp_path, "qfacts: 1\nname: !!python/object/apply:os.system ['echo hi']\n")
    assert ":2: field 'name'" in msg and "python/object/apply" in msg


# --- version ---------------------------------------------------------------------------

@pytest.mark.parametrize("text, line, expected", [
    ("name: x\n", 1, "missing format version; add 'qfacts: 1'"),
    ("name: x\nqfacts: 2\n", 2, "unsupported format version 2; this pytest-qfacts reads qfacts: 1"),
    ("qfacts: '1'\n", 1, "expected the format version as an integer (1), got a string ('1')"),
    ("qfacts: [1]\n", 1, "got a list"),
])
def test_version(tmp_path, text, line, expected):
    msg = error_of(tmp_path, text)
    assert f":{line}: field 'qfacts': " in msg and expected in msg


# --- keys ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, line, field, suggestion, accepted", [
    ("qfacts: 1\nname: x\nrelation: []\n", 3, "relation", "relations", "qfacts, name, description, relations, gate"),
    (HEAD.replace("templates:", "template:"), 5, "relations[0].template", "templates", "name, templates, facts"),
    (facts("{subject: a, object: b}", "{subject: c, objcet: d}"), 8, "relations[0].facts[1].objcet", "object",
     "subject, object, prompt, aliases"),
    (facts("{subject: a, object: b}") + "gate: {maxdrop: 0.1}\n", 8, "gate.maxdrop", "max_drop",
     "max_drop, relative, per_relation, min_accuracy, min_reference_accuracy"),
])
def test_unknown_key(tmp_path, text, line, field, suggestion, accepted):
    msg = error_of(tmp_path, text)
    assert f":{line}: field '{field}': unknown key" in msg
    assert f"did you mean '{suggestion}'?" in msg and f"accepted keys: {accepted}" in msg


def test_unknown_key_without_close_match(tmp_path):
    msg = error_of(tmp_path, facts("{subject: a, object: b, zzz: 1}"))
    assert "unknown key 'zzz'; accepted keys: subject, object, prompt, aliases" in msg


def test_duplicate_key(tmp_path):
    msg = error_of(tmp_path, "qfacts: 1\nname: x\nname: y\n")
    assert ":3: field 'name': duplicate key 'name' (first given at line 2)" in msg


# --- required fields -------------------------------------------------------------------

@pytest.mark.parametrize("text, line, field, expected", [
    ("qfacts: 1\nrelations: []\n", 1, "name", "missing required field; expected a non-empty suite name"),
    ("qfacts: 1\nname: ''\n", 2, "name", "must not be empty"),
    ("qfacts: 1\nname: x\n", 1, "relations", "missing required field; the suite has no facts"),
    ("qfacts: 1\nname: x\nrelations:\n  - templates: ['{subject}']\n    facts: [{subject: a, object: b}]\n", 4,
     "relations[0].name", "missing required field; expected a relation name"),
    ("qfacts: 1\nname: x\nrelations:\n  - name: r\n    templates: ['{subject}']\n", 4,
     "relations[0].facts", "missing required field; expected a non-empty list of facts"),
    (facts("{subject: a}"), 7, "relations[0].facts[0].object", "missing required field; expected the expected answer"),
])
def test_missing_required(tmp_path, text, line, field, expected):
    msg = error_of(tmp_path, text)
    assert f":{line}: field '{field}': " in msg and expected in msg


def test_no_facts(tmp_path):
    msg = error_of(tmp_path, "qfacts: 1\nname: x\nrelations: []\n")
    assert ":3: field 'relations': suite 'x' has no facts" in msg
    msg = error_of(tmp_path, HEAD.replace("facts:\n", "facts: []\n"))
    assert ":6: field 'relations[0].facts': relation 'r' has no facts" in msg


def test_fact_with_neither_subject_nor_prompt(tmp_path):
    msg = error_of(tmp_path, facts("{subject: a, object: b}", "{object: c}"))
    assert ":8: field 'relations[0].facts[1]': a fact needs a 'subject'" in msg and "or its own 'prompt'" in msg


def test_templates_required_unless_every_fact_has_a_prompt(tmp_path):
    text = "qfacts: 1\nname: x\nrelations:\n  - name: r\n    facts:\n      - {prompt: 'p', object: o}\n      - {subject: a, object: b}\n"
    msg = error_of(tmp_path, text)
    assert ":4: field 'relations[0].templates': missing; the fact at line 7 (relations[0].facts[1])" in msg
    assert '["The capital of {subject} is"]' in msg


# --- templates -------------------------------------------------------------------------

@pytest.mark.parametrize("template, expected", [
    ("'The capital is'", "does not contain {subject}; expected exactly one {subject}"),
    ("'{subject} and {subject}'", "contains {subject} 2 times; expected exactly one {subject}"),
    ("'The capital of {subj} is'", "does not contain {subject}"),
    ("'{subject} is in {country}'", "unknown placeholder {country}; only {subject} is accepted"),
    ("[a, b]", "expected a template string containing {subject}, got a list"),
])
def test_bad_template(tmp_path, template, expected):
    msg = error_of(tmp_path, HEAD.replace("['The capital of {subject} is']", f"[{template}]") + "      - {subject: a, object: b}\n")
    assert ":5: field 'relations[0].templates[0]': " in msg and expected in msg


def test_templates_not_a_list(tmp_path):
    msg = error_of(tmp_path, HEAD.replace("['The capital of {subject} is']", "'The capital of {subject} is'") + "      - {subject: a, object: b}\n")
    assert ":5: field 'relations[0].templates': expected a list of templates such as" in msg


def test_duplicate_template(tmp_path):
    text = HEAD.replace("['The capital of {subject} is']", "['{subject} x', '{subject} x']") + "      - {subject: a, object: b}\n"
    assert "field 'relations[0].templates[1]': duplicate template" in error_of(tmp_path, text)


# --- fact values -----------------------------------------------------------------------

@pytest.mark.parametrize("fact, field, expected", [
    ("{subject: a, object: [b]}", "object", "expected a string (the expected answer), got a list"),
    ("{subject: a, object: {x: 1}}", "object", "got a mapping"),
    ("{subject: a, object: }", "object", "got null"),
    ("{subject: a, object: null}", "object", "got null"),
    ("{subject: a, object: NO}", "object", "got a boolean (NO); quote it to keep it as text: \"NO\""),
    ("{subject: a, object: ''}", "object", "must not be empty"),
    ("{subject: [a], object: b}", "subject", "expected a string, got a list"),
    ("{prompt: {p: 1}, object: b}", "prompt", "expected a string, got a mapping"),
    ("{subject: a, object: b, aliases: c}", "aliases", "expected a list of strings such as [Manila City], got a string"),
    ("{subject: a, object: b, aliases: [c, [d]]}", "aliases[1]", "expected a string (another accepted answer), got a list"),
    ("{subject: a, object: b, aliases: [c, null]}", "aliases[1]", "got null"),
    ("{prompt: 'The {subject} is', object: b}", "prompt", "must not contain {subject}"),
    ("{prompt: 'Big Ben is in', subject: Paris, object: b}", "subject", "subject 'Paris' does not occur in the prompt"),
])
def test_bad_fact_value(tmp_path, fact, field, expected):
    msg = error_of(tmp_path, facts("{subject: ok, object: ok}", fact))
    assert f":8: field 'relations[0].facts[1].{field}': " in msg and expected in msg


def test_fact_not_a_mapping(tmp_path):
    msg = error_of(tmp_path, facts("France -> Paris"))
    assert ":7: field 'relations[0].facts[0]': expected a fact (a mapping with keys subject, object, prompt, aliases)" in msg


def test_duplicate_subject_in_relation(tmp_path):
    msg = error_of(tmp_path, facts("{subject: a, object: b}", "{subject: a, object: c}"))
    assert ":8: field 'relations[0].facts[1]': duplicate fact: subject 'a' is already at line 7" in msg
    assert "aliases" in msg


def test_duplicate_relation_names(tmp_path):
    rel = "  - name: r\n    templates: ['{subject} x']\n    facts:\n      - {subject: a, object: b}\n"
    msg = error_of(tmp_path, "qfacts: 1\nname: s\nrelations:\n" + rel + rel)
    assert ":8: field 'relations[1].name': duplicate relation name 'r' (first defined at line 4)" in msg


# --- gate ------------------------------------------------------------------------------

@pytest.mark.parametrize("gate, field, expected", [
    ("{max_drop: 5}", "max_drop", "5 is out of range; expected a number between 0 and 1"),
    ("{max_drop: -0.1}", "max_drop", "out of range"),
    ("{max_drop: '0.05'}", "max_drop", "expected a number between 0 and 1, e.g. 0.05, got a string"),
    ("{min_accuracy: 1.5}", "min_accuracy", "out of range"),
    ("{relative: 1}", "relative", "expected true or false, got an integer (1)"),
    ("{per_relation: maybe}", "per_relation", "expected true or false"),
])
def test_bad_gate(tmp_path, gate, field, expected):
    msg = error_of(tmp_path, facts("{subject: a, object: b}") + f"gate: {gate}\n")
    assert f":8: field 'gate.{field}': " in msg and expected in msg


def test_gate_not_a_mapping(tmp_path):
    msg = error_of(tmp_path, facts("{subject: a, object: b}") + "gate: 0.05\n")
    assert ":8: field 'gate': expected gate settings (a mapping with keys max_drop, relative, per_relation, min_accuracy, min_reference_accuracy)" in msg


def test_gate_ints_become_floats_and_default_is_empty():
    assert load_suite_text(facts("{subject: a, object: b}") + "gate: {max_drop: 0}\n").gate == {"max_drop": 0.0}
    assert load_suite_text(facts("{subject: a, object: b}")).gate == {}


def test_anchors_and_merge_keys():
    text = ("qfacts: 1\nname: s\nrelations:\n  - name: r\n    templates: &t ['{subject} is']\n    facts:\n"
            "      - &base {subject: a, object: b, aliases: [z]}\n      - <<: *base\n        subject: c\n"
            "  - name: r2\n    templates: *t\n    facts: [{subject: x, object: y}]\n")
    suite = load_suite_text(text)
    f0, f1 = suite.relations[0].facts
    assert (f1.subject, f1.object, f1.aliases, f1.line) == ("c", "b", ("z",), 8)
    assert suite.relations[1].templates == ("{subject} is",)


def test_merge_key_of_a_scalar(tmp_path):
    msg = error_of(tmp_path, facts("{subject: a, object: b}", "{<<: 3, object: c}"))
    assert ":8: field 'relations[0].facts[1]': a '<<' merge key needs a mapping" in msg
