"""Recipe grammars of the library backends (bnb, hqq, torchao, quanto, ckpt), the unknown-recipe
error, and BackendUnavailable for a missing library. No model, no library import."""
import pytest

import pytest_qfacts.quant as quant
from pytest_qfacts.errors import QFactsUsageError, RecipeError
from pytest_qfacts.quant import BackendUnavailable, backend_for, parse_recipe


@pytest.mark.parametrize("text, canonical, backend, bits, group, options", [
    ("bnb-int8", "bnb-int8", "bnb", 8, None, {"quant_type": "int8"}),
    (" BNB-NF4 ", "bnb-nf4", "bnb", 4, 64, {"quant_type": "nf4", "double_quant": False}),
    ("bnb-fp4", "bnb-fp4", "bnb", 4, 64, {"quant_type": "fp4", "double_quant": False}),
    ("bnb-nf4-dq", "bnb-nf4-dq", "bnb", 4, 64, {"quant_type": "nf4", "double_quant": True}),
    ("bnb-fp4-DQ", "bnb-fp4-dq", "bnb", 4, 64, {"quant_type": "fp4", "double_quant": True}),
    ("hqq-w4g64", "hqq-w4g64", "hqq", 4, 64, {}),
    ("HQQ-W2G32", "hqq-w2g32", "hqq", 2, 32, {}),
    ("hqq-w8g128", "hqq-w8g128", "hqq", 8, 128, {}),
    ("hqq-w3g8", "hqq-w3g8", "hqq", 3, 8, {}),
    ("hqq-w1g16", "hqq-w1g16", "hqq", 1, 16, {}),
    ("torchao-int8wo", "torchao-int8wo", "torchao", 8, None, {}),
    ("torchao-int4wo", "torchao-int4wo", "torchao", 4, 128, {}),
    ("torchao-int4wo-g64", "torchao-int4wo-g64", "torchao", 4, 64, {}),
    ("TORCHAO-INT4WO-G32", "torchao-int4wo-g32", "torchao", 4, 32, {}),
    ("quanto-int8", "quanto-int8", "quanto", 8, None, {}),
    ("quanto-int4", "quanto-int4", "quanto", 4, None, {}),
    ("quanto-int2", "quanto-int2", "quanto", 2, None, {}),
    ("ckpt:/models/llama-gptq", "ckpt:/models/llama-gptq", "ckpt", None, None, {"target": "/models/llama-gptq"}),
    ("CKPT: TheBloke/Llama-2-7B-GPTQ ", "ckpt:TheBloke/Llama-2-7B-GPTQ", "ckpt", None, None,
     {"target": "TheBloke/Llama-2-7B-GPTQ"}),   # a hub id keeps its case
])
def test_parse_valid(text, canonical, backend, bits, group, options):
    r = parse_recipe(text)
    assert (r.text, r.backend, r.bits, r.group_size, dict(r.options)) == (canonical, backend, bits, group, options)
    assert backend_for(r).name == backend
    assert parse_recipe(r.text) == r


@pytest.mark.parametrize("text, words", [
    ("bnb-int4", ["bnb-int8 | bnb-nf4[-dq] | bnb-fp4[-dq]"]),
    ("bnb-nf4-dq-dq", ["malformed bitsandbytes recipe"]),
    ("bnb-int8-dq", ["-dq (double quantization) applies to the 4-bit types only"]),
    ("bnb", ["malformed bitsandbytes recipe 'bnb'"]),
    ("hqq-w5g64", ["bits must be one of 1, 2, 3, 4, 8", "got 5"]),
    ("hqq-w4g60", ["multiple of 8", "got 60"]),
    ("hqq-w4g0", ["multiple of 8"]),
    ("hqq-w4", ["malformed hqq recipe", "hqq-w{1,2,3,4,8}g{N}"]),
    ("torchao-int4wo-g48", ["int4 group size must be one of 32, 64, 128, 256", "got 48"]),
    ("torchao-int8wo-g64", ["int8wo has one scale per output row and takes no group size"]),
    ("torchao-int3wo", ["malformed torchao recipe"]),
    ("quanto-int3", ["malformed quanto recipe", "quanto-int{2,4,8}"]),
    ("quanto-float8", ["malformed quanto recipe"]),
    ("ckpt:", ["names no checkpoint", "ckpt:PATH_OR_HF_ID"]),
    ("ckpt:   ", ["names no checkpoint"]),
])
def test_malformed_recipes_name_the_grammar(text, words):
    with pytest.raises(RecipeError) as err:
        parse_recipe(text)
    for word in words:
        assert word in str(err.value), str(err.value)


def test_unknown_recipe_lists_every_grammar_and_what_is_available_here(monkeypatch):
    with pytest.raises(RecipeError) as err:
        parse_recipe("gguf-q4_k_m")
    msg = str(err.value)
    assert "unknown quantization recipe 'gguf-q4_k_m'" in msg
    for backend in quant.BACKENDS:
        assert backend.grammar in msg
    assert "backends available in this environment:" in msg
    available = msg.split("backends available in this environment:")[1]
    for backend in quant.BACKENDS:
        assert (backend.name in available) == backend.available()[0]


def test_unknown_recipe_suggests_a_close_library_recipe():
    with pytest.raises(RecipeError, match="did you mean 'bnb-nf4'"):
        parse_recipe("bnb_nf4")
    with pytest.raises(RecipeError, match="did you mean 'quanto-int4'"):
        parse_recipe("qanto-int4")


def test_missing_library_is_backend_unavailable_with_the_install_command(monkeypatch):
    backend = backend_for("hqq-w4g64")
    monkeypatch.setattr(type(backend), "requires", ("hqq_not_installed_anywhere",))
    ok, reason = backend.available()
    assert not ok and "hqq_not_installed_anywhere" in reason and 'pip install "pytest-qfacts[hqq]"' in reason
    with pytest.raises(BackendUnavailable) as err:
        quant.check_available("hqq-w4g64")
    assert isinstance(err.value, RecipeError) and isinstance(err.value, QFactsUsageError)
    assert "cannot apply recipe 'hqq-w4g64'" in str(err.value)
    assert 'pip install "pytest-qfacts[hqq]"' in str(err.value)
    with pytest.raises(BackendUnavailable):
        quant.quantize(object(), "hqq-w4g64")
    msg = quant.describe_backends()
    assert "NOT available" in msg and "hqq_not_installed_anywhere" in msg


def test_a_library_that_fails_to_import_is_unavailable(monkeypatch):
    """Installed but broken (e.g. built for another torch): the import error becomes BackendUnavailable."""
    from pytest_qfacts.quant.library_support import import_library

    backend = backend_for("torchao-int8wo")
    with pytest.raises(BackendUnavailable) as err:
        import_library(backend, "pytest_qfacts_no_such_module_anywhere")
    msg = str(err.value)
    assert "backend 'torchao' cannot import pytest_qfacts_no_such_module_anywhere" in msg
    assert "ModuleNotFoundError" in msg and 'pip install "pytest-qfacts[torchao]"' in msg


def test_cacheable_and_uses_reference_flags():
    by_name = {b.name: b for b in quant.BACKENDS}
    for name in ("bnb", "torchao", "quanto"):  # their layers do not fit the state-dict cache
        assert by_name[name].cacheable is False
    assert by_name["hqq"].cacheable is True     # its own save/load (tests/quant/test_backend_hqq.py)
    assert by_name["ckpt"].cacheable is False and by_name["ckpt"].uses_reference is False
    for name in ("rtn", "bnb", "hqq", "torchao"):
        assert by_name[name].uses_reference is True
    assert by_name["rtn"].cacheable is True


def test_every_example_parses_to_its_own_backend():
    for backend in quant.BACKENDS:
        for example in backend.examples:
            assert backend_for(example) is backend, example
