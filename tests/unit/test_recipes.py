"""Recipe parsing, the backend registry and split_recipes (pytest_qfacts.quant)."""
import os
import subprocess
import sys

import pytest

import pytest_qfacts.quant as quant
from pytest_qfacts.errors import RecipeError
from pytest_qfacts.quant import backend_for, parse_recipe, split_recipes
from pytest_qfacts.quant.base import QuantBackend, Recipe
from pytest_qfacts.quant.rtn import GRAMMAR, RTNBackend


@pytest.mark.parametrize("text, bits, group, sym", [
    ("rtn-w4g64", 4, 64, False),
    ("rtn-w4g64-sym", 4, 64, True),
    ("rtn-w2g1", 2, 1, False),
    ("rtn-w8g128", 8, 128, False),
    ("  RTN-W3G32-SYM ", 3, 32, True),
])
def test_parse_valid(text, bits, group, sym):
    r = parse_recipe(text)
    assert (r.backend, r.bits, r.group_size, dict(r.options)) == ("rtn", bits, group, {"sym": sym})
    assert r.text == f"rtn-w{bits}g{group}" + ("-sym" if sym else "")
    assert parse_recipe(r) is r
    assert r == parse_recipe(r.text) and hash(r) == hash(parse_recipe(r.text))
    assert isinstance(backend_for(r), RTNBackend) and isinstance(backend_for(text), RTNBackend)


def test_recipe_options_are_read_only():
    r = parse_recipe("rtn-w4g64")
    with pytest.raises(TypeError):
        r.options["sym"] = True


@pytest.mark.parametrize("text", ["rtn-w1g64", "rtn-w9g64", "rtn-w16g128"])
def test_invalid_bits(text):
    with pytest.raises(RecipeError) as err:
        parse_recipe(text)
    assert text in str(err.value) and "2..8" in str(err.value) and GRAMMAR in str(err.value)


@pytest.mark.parametrize("text", ["rtn", "rtn-w4", "rtn-4g64", "rtn-w4g64-asym", "rtn-w4g-1",
                                  "rtn-w4gx", "rtn-w4g0"])
def test_malformed_rtn(text):
    with pytest.raises(RecipeError) as err:
        parse_recipe(text)
    assert text in str(err.value) and GRAMMAR in str(err.value)


@pytest.mark.parametrize("text", ["", "   ", None])
def test_empty_recipe(text):
    with pytest.raises(RecipeError, match="empty quantization recipe"):
        parse_recipe(text)


def test_unknown_recipe_lists_grammars_and_suggests():
    with pytest.raises(RecipeError) as err:
        parse_recipe("rnt-w4g64")
    msg = str(err.value)
    assert "unknown quantization recipe 'rnt-w4g64'" in msg
    assert "did you mean 'rtn-w4g64'?" in msg
    assert GRAMMAR in msg and "backends available in this environment: rtn" in msg


class FakeBackend(QuantBackend):
    name = "fake"
    grammar = "fake-q{4,8}"
    library = "fakelib"
    install_hint = "pip install fakelib"
    requires = ("fakelib_not_installed_anywhere",)
    examples = ("fake-q4",)

    def parse(self, text):
        if not self.owns(text):
            return None
        if text.strip() not in ("fake-q4", "fake-q8"):
            raise RecipeError(f"malformed fake recipe '{text}'; accepted: {self.grammar}")
        return Recipe(text=text.strip(), backend=self.name, bits=int(text.strip()[-1]))

    def quantize(self, model, recipe, *, tokenizer=None, calibration=None, device=None):
        raise AssertionError("never reached: not available")


def test_registry_with_a_second_backend(monkeypatch):
    monkeypatch.setattr(quant, "BACKENDS", [RTNBackend(), FakeBackend()])
    assert backend_for("fake-q8").name == "fake"
    with pytest.raises(RecipeError) as err:
        parse_recipe("gguf-q4_k_m")
    msg = str(err.value)
    assert GRAMMAR in msg and "fake-q{4,8}" in msg
    assert "NOT available" in msg and "pip install fakelib" in msg
    assert "backends available in this environment: rtn" in msg
    with pytest.raises(RecipeError, match="cannot apply recipe 'fake-q4'.*pip install fakelib"):
        quant.quantize(object(), "fake-q4")
    ok, reason = FakeBackend().available()
    assert not ok and "fakelib_not_installed_anywhere" in reason


def test_rtn_available():
    ok, reason = RTNBackend().available()
    assert ok, reason


def test_split_recipes():
    assert split_recipes("rtn-w8g128, rtn-w4g64-sym ,rtn-w4g128") == [
        "rtn-w8g128", "rtn-w4g64-sym", "rtn-w4g128"]
    assert split_recipes("rtn-w4g64") == ["rtn-w4g64"]
    assert split_recipes(["rtn-w8g128,rtn-w4g64", "rtn-w3g64"]) == ["rtn-w8g128", "rtn-w4g64", "rtn-w3g64"]


@pytest.mark.parametrize("text", ["", " ", "a,,b", "a,", ",a", "a, ,b"])
def test_split_recipes_rejects_empty_items(text):
    with pytest.raises(RecipeError, match="empty recipe"):
        split_recipes(text)


@pytest.mark.parametrize("text", ["a,b,a", "rtn-w4g64, RTN-W4G64", ["a", "b,a"]])
def test_split_recipes_rejects_duplicates(text):
    with pytest.raises(RecipeError, match="listed more than once"):
        split_recipes(text)


def test_no_torch_at_import():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    code = (  # bypass the package __init__ so only these modules are judged
        "import sys, types; pkg = types.ModuleType('pytest_qfacts'); "
        f"pkg.__path__ = [{os.path.join(root, 'pytest_qfacts')!r}]; sys.modules['pytest_qfacts'] = pkg; "
        "import pytest_qfacts.quant, pytest_qfacts.metrics.recall; "
        "pytest_qfacts.quant.parse_recipe('rtn-w4g64'); "
        "pytest_qfacts.quant.BACKENDS[0].available(); "
        "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
