"""The LRE JSON reader: templates, escapes, multi-object subjects, and clear errors."""
from __future__ import annotations

import json

import pytest

from pytest_qfacts.errors import SuiteError
from pytest_qfacts.suites import load_lre_file
from pytest_qfacts.suites.builtin import LRE_DIR
from pytest_qfacts.suites.lre import decode_escapes


def lre(**over):
    data = {
        "name": "country capital city",
        "prompt_templates": ["The capital city of {} is", "The capital of {} is"],
        "prompt_templates_zs": ["What is the capital of {}? It is the city of"],
        "properties": {"relation_type": "factual", "domain_name": "country", "range_name": "city", "symmetric": False},
        "samples": [
            {"subject": "Brazil", "object": "Bras\\u00edlia"},
            {"subject": "Colombia", "object": "Bogot\\u00e1"},
            {"subject": "Apple", "object": "iPhone"},
            {"subject": "Apple", "object": "iPad"},
            {"subject": "Apple", "object": "iPhone"},
            {"subject": "Apple", "object": "Mac"},
            {"subject": "Canada", "object": "Ottawa"},
        ],
    }
    data.update(over)
    return data


def write(tmp_path, data, name="country_capital_city.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, indent=4), encoding="utf-8")
    return path


def test_suite_and_relation_names_from_stem(tmp_path):
    suite = load_lre_file(write(tmp_path, lre()))
    assert suite.name == "lre-country_capital_city"
    assert [r.name for r in suite.relations] == ["country_capital_city"]
    assert suite.source == str(tmp_path / "country_capital_city.json")
    assert "country capital city" in suite.description and suite.gate == {}


def test_templates_converted(tmp_path):
    rel = load_lre_file(write(tmp_path, lre())).relations[0]
    assert rel.templates == ("The capital city of {subject} is", "The capital of {subject} is")
    rel_zs = load_lre_file(write(tmp_path, lre()), templates="prompt_templates_zs").relations[0]
    assert rel_zs.templates == ("What is the capital of {subject}? It is the city of",)


def test_double_escaped_unicode_decoded(tmp_path):
    objects = {f.subject: f.object for f in load_lre_file(write(tmp_path, lre())).relations[0].facts}
    assert objects["Brazil"] == "Brasília" and objects["Colombia"] == "Bogotá"


def test_decode_escapes_general():
    assert decode_escapes("Bras\\u00edlia") == "Brasília"
    assert decode_escapes("Nidoran\u2640") == "Nidoran♀"  # plain UTF-8 untouched
    assert decode_escapes("\\ud83d\\ude00") == "\U0001F600"  # surrogate pair joined
    assert decode_escapes("\\U0001F600") == "\U0001F600"
    assert decode_escapes("back\\slash") == "back\\slash"


def test_multi_object_subject_merged_into_aliases(tmp_path):
    suite = load_lre_file(write(tmp_path, lre()))
    facts = suite.relations[0].facts
    assert [f.subject for f in facts] == ["Brazil", "Colombia", "Apple", "Canada"]
    apple = facts[2]
    assert apple.object == "iPhone" and apple.aliases == ("iPad", "Mac")
    assert suite.n_facts == 4 and len(suite.items()) == 8  # 4 facts x 2 templates
    item = next(i for i in suite.items() if i.subject == "Apple")
    assert item.answers == ("iPhone", "iPad", "Mac")
    assert item.prompt[slice(*item.subject_span)] == "Apple"


@pytest.mark.parametrize("data, field, expected", [
    (lre(samples=None), "samples", "expected a list"),
    ({k: v for k, v in lre().items() if k != "samples"}, "samples", "missing key 'samples'"),
    ({k: v for k, v in lre().items() if k != "prompt_templates"}, "prompt_templates", "missing key 'prompt_templates'"),
    (lre(prompt_templates=["no placeholder"]), "prompt_templates[0]", "exactly one {}"),
    (lre(prompt_templates=[]), "prompt_templates", "non-empty list"),
    (lre(samples=[{"subject": "a"}]), "samples[0].object", "missing key 'object'"),
    (lre(samples=[{"subject": "a", "object": ["b"]}]), "samples[0].object", "expected a non-empty string"),
    (lre(samples=["a"]), "samples[0]", "expected an object with keys subject, object"),
    (lre(samples=[]), "samples", "has no facts"),
])
def test_bad_lre(tmp_path, data, field, expected):
    path = write(tmp_path, data)
    with pytest.raises(SuiteError) as info:
        load_lre_file(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}: field '{field}': ") and expected in msg, msg


def test_not_json_or_not_object(tmp_path):
    with pytest.raises(SuiteError, match=r"bad\.json:2: not valid JSON: .*line 2"):
        load_lre_file(write(tmp_path, '{\n "name": oops}', "bad.json"))
    with pytest.raises(SuiteError, match=r"not an LRE relation file: expected a JSON object"):
        load_lre_file(write(tmp_path, "[1, 2]", "list.json"))
    with pytest.raises(SuiteError, match=r"missing\.json: LRE file not found"):
        load_lre_file(tmp_path / "missing.json")


def test_unknown_template_set(tmp_path):
    with pytest.raises(SuiteError, match=r"field 'templates'.*accepted: prompt_templates, prompt_templates_zs"):
        load_lre_file(write(tmp_path, lre()), templates="zs")


def test_integer_object_becomes_string(tmp_path):
    suite = load_lre_file(write(tmp_path, lre(samples=[{"subject": "Lincoln", "object": 1809}])))
    assert suite.relations[0].facts[0].object == "1809"


def test_shipped_capital_file_decodes_brasilia():
    facts = {f.subject: f for f in load_lre_file(LRE_DIR / "country_capital_city.json").relations[0].facts}
    assert facts["Brazil"].object == "Brasília" and facts["Colombia"].object == "Bogotá"
    assert not any("\\u" in f.object for f in facts.values())


def test_shipped_files_match_sample_counts():
    """Every shipped LRE file loads; facts = distinct subjects; objects kept as answers."""
    files = sorted(LRE_DIR.glob("*.json"))
    assert len(files) == 26
    for path in files:
        raw = json.loads(path.read_text(encoding="utf-8"))
        suite = load_lre_file(path)
        assert suite.n_facts == len({s["subject"] for s in raw["samples"]}), path.name
        answers = {(f.subject, a) for f in suite.relations[0].facts for a in (f.object, *f.aliases)}
        assert answers == {(s["subject"], decode_escapes(s["object"])) for s in raw["samples"]}, path.name
