"""Built-in suites and ``load_suite`` for names and paths."""
from __future__ import annotations

import ast
import json
import shutil

import pytest

from pytest_qfacts.errors import SuiteError
from pytest_qfacts.suites import builtin, list_builtin_suites, load_suite
from pytest_qfacts.suites.builtin import DATA_DIR, LRE_DIR

EXPECTED_LRE = 26


@pytest.fixture
def fresh_cache():
    builtin._load_builtin.cache_clear()
    yield
    builtin._load_builtin.cache_clear()


def test_list_builtin_suites():
    names = list_builtin_suites()
    assert names[0] == "capitals"
    lre = [n for n in names if n.startswith("lre-") and n != "lre-twohop"]  # lre-twohop: composed (test_suites_twohop.py)
    assert len(lre) == EXPECTED_LRE and "lre-country_capital_city" in lre
    for name in ("tiny-facts-onehop", "tiny-facts-twohop"):
        present = (builtin.TINY_FACTS_DIR / builtin.TINY_FACTS[name]).is_file()
        assert (name in names) == present


@pytest.mark.parametrize("name", list_builtin_suites())
def test_every_builtin_loads_and_is_not_empty(name):
    suite = load_suite(name)
    assert suite.n_facts > 0 and len(suite.items()) >= suite.n_facts
    assert all(item.prompt and item.object for item in suite.items())
    assert load_suite(name) is suite  # cached


def test_capitals():
    suite = load_suite("capitals")
    assert suite.name == "capitals" and suite.gate == {"max_drop": 0.05}
    assert 25 <= suite.n_facts <= 35 and len(suite.items()) == suite.n_facts
    pairs = {f.subject: f.object for f in suite.relations[0].facts}
    assert pairs["France"] == "Paris" and pairs["Japan"] == "Tokyo"
    assert suite.items()[0].prompt == "The capital of France is"


def test_packaged_data_is_the_lre_release():
    assert (LRE_DIR / "LICENSE").read_text().startswith("MIT License")
    attribution = (LRE_DIR / "ATTRIBUTION.md").read_text()
    assert "evandez/relations" in attribution and "1b9ec3cf2b8368e42bde7e80fcef384312a6ec07" in attribution
    assert (DATA_DIR / "capitals.qfacts.yaml").is_file()


def test_suites_package_does_not_import_torch():
    for path in builtin.Path(builtin.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(n.split(".")[0] in ("torch", "transformers") for n in names), path.name


def test_unknown_name_lists_builtins_and_suggests():
    with pytest.raises(SuiteError) as info:
        load_suite("capitols")
    msg = str(info.value)
    assert "unknown suite 'capitols'; did you mean 'capitals'?" in msg
    assert "built-in suites: capitals, lre-city_in_country" in msg
    assert "a path to a .qfacts.yaml file" in msg.lower()


def test_missing_path_named(tmp_path):
    for missing in (tmp_path / "nope.qfacts.yaml", str(tmp_path / "nope.json"), "sub/dir/suite"):
        with pytest.raises(SuiteError, match="suite file not found") as info:
            load_suite(missing)
        assert str(info.value).startswith(str(missing))


def test_loads_yaml_and_json_paths(tmp_path):
    yaml_path = tmp_path / "mine.qfacts.yml"
    yaml_path.write_text("qfacts: 1\nname: mine\nrelations:\n  - name: r\n    templates: ['{subject} is']\n"
                         "    facts: [{subject: a, object: b}]\n")
    assert load_suite(str(yaml_path)).name == "mine"
    assert load_suite(yaml_path).name == "mine"
    json_path = tmp_path / "tiny_rel.json"
    json_path.write_text(json.dumps({"prompt_templates": ["{} is"], "samples": [{"subject": "a", "object": "b"}]}))
    assert load_suite(json_path).name == "lre-tiny_rel"


def test_unsupported_extension(tmp_path):
    path = tmp_path / "suite.txt"
    path.write_text("x")
    with pytest.raises(SuiteError, match=r"suite\.txt: unsupported suite file type '\.txt'"):
        load_suite(path)


def test_tiny_facts_resolved_lazily(tmp_path, monkeypatch, fresh_cache):
    monkeypatch.setattr(builtin, "TINY_FACTS_DIR", tmp_path / "absent")
    assert not any(n.startswith("tiny-facts") for n in list_builtin_suites())
    with pytest.raises(SuiteError, match="built-in suite 'tiny-facts-onehop' is not installed"):
        load_suite("tiny-facts-onehop")
    builtin._load_builtin.cache_clear()
    monkeypatch.setattr(builtin, "TINY_FACTS_DIR", tmp_path)
    shutil.copy(DATA_DIR / "capitals.qfacts.yaml", tmp_path / "onehop.qfacts.yaml")
    assert "tiny-facts-onehop" in list_builtin_suites() and "tiny-facts-twohop" not in list_builtin_suites()
    assert load_suite("tiny-facts-onehop").n_facts == load_suite("capitals").n_facts


def test_content_hash_differs_between_builtins():
    hashes = {load_suite(n).content_hash() for n in ("capitals", "lre-country_capital_city", "lre-company_ceo")}
    assert len(hashes) == 3


def test_smoke_sample_is_stratified_deterministic_and_bounded():
    from pytest_qfacts.suites import load_suite

    suite = load_suite("lre-company_hq")
    sample = suite.sample(5)
    facts = suite.relations[0].facts
    n = len(facts)
    assert [f.subject for f in sample.relations[0].facts] == [facts[round(i * (n - 1) / 4)].subject for i in range(5)]
    assert sample.content_hash() == suite.sample(5).content_hash() != suite.content_hash()
    small = load_suite("capitals").sample(100)  # fewer facts than asked: all of them
    assert small.n_facts == load_suite("capitals").n_facts
    assert load_suite("capitals").sample(1).n_facts == 1
