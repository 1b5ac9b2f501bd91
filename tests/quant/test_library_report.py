"""Every library recipe through the plugin in one pytest run on tiny-facts: collected YAML items and a
qfacts_pair test per recipe, every probe, and each recipe's metadata in the JSON report."""
import json
import shutil
from importlib.metadata import version

import pytest

from library_helpers import TINY_DIR, requires_tiny, small_suite

pytestmark = requires_tiny

LIBRARIES = {"bnb": "bitsandbytes", "hqq": "hqq", "torchao": "torchao", "quanto": "optimum.quanto"}
RECIPES = {  # recipe -> (library in the report, distribution, bits, group size)
    "bnb-int8": ("bitsandbytes", "bitsandbytes", 8, None),
    "bnb-nf4-dq": ("bitsandbytes", "bitsandbytes", 4, 64),
    "bnb-fp4": ("bitsandbytes", "bitsandbytes", 4, 64),
    "hqq-w4g64": ("hqq", "hqq", 4, 64),
    "torchao-int8wo": ("torchao", "torchao", 8, None),
    "torchao-int4wo": ("torchao", "torchao", 4, 128),
    "quanto-int8": ("optimum-quanto", "optimum-quanto", 8, None),
    "quanto-int4": ("optimum-quanto", "optimum-quanto", 4, 128),
}
PAIR_TEST = """
def test_pair(qfacts_pair, qfacts_recipe):
    assert qfacts_pair.compare("small.qfacts.yaml").recipe == qfacts_recipe
"""


def _yaml(relations: int = 2, per_relation: int = 3) -> str:
    suite = small_suite(per_relation)
    lines = ["qfacts: 1", "name: small", "relations:"]
    for rel in suite.relations[:relations]:
        lines += [f"  - name: {rel.name}", f"    templates: {json.dumps(list(rel.templates))}", "    facts:"]
        lines += [f"      - {{subject: {json.dumps(f.subject)}, object: {json.dumps(f.object)}}}" for f in rel.facts]
    return "\n".join(lines + ["gate: {max_drop: 1.0}"]) + "\n"


@pytest.fixture
def libraries():
    """Import every library here first: pytester restores sys.modules after an in-process run, and
    C extensions cannot be initialised twice in one process."""
    for module in LIBRARIES.values():
        pytest.importorskip(module)
    pytest.importorskip("accelerate")
    import transformers.cache_utils  # noqa: F401  (imports hqq's compiled kernels when hqq is there)


@pytest.fixture
def nf4_checkpoint(tmp_path_factory):
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    out = tmp_path_factory.mktemp("nf4-ckpt")
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32)
    AutoModelForCausalLM.from_pretrained(TINY_DIR, quantization_config=config, dtype=torch.float32,
                                         device_map="cpu").save_pretrained(out)
    shutil.copy(TINY_DIR / "tokenizer.json", out / "tokenizer.json")
    return out


def test_every_library_recipe_runs_and_is_reported(pytester, monkeypatch, libraries, nf4_checkpoint):
    monkeypatch.setenv("QFACTS_CACHE_DIR", str(pytester.path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    ckpt = f"ckpt:{nf4_checkpoint}"
    recipes = [*RECIPES, ckpt]
    pytester.makefile(".qfacts.yaml", small=_yaml())
    pytester.makepyfile(test_pair=PAIR_TEST)
    result = pytester.runpytest("--qfacts-model=tiny-facts", "--qfacts-device=cpu", "--qfacts-quant=" + ",".join(recipes),
                                "--qfacts-report=report.json", "--qfacts-strict", "--qfacts-probes=all", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3 * len(recipes))   # 2 YAML relations + 1 test, per recipe
    runs = {run["recipe"]: run for run in json.loads((pytester.path / "report.json").read_text())["runs"]}
    assert set(runs) == set(recipes)
    for recipe, (library, distribution, bits, group) in RECIPES.items():
        q = runs[recipe]["quant"]
        assert (q["library"], q["library_version"], q["bits"], q["group_size"]) == (
            library, version(distribution), bits, group), recipe
        assert q["backend"] == recipe.split("-")[0] and q["seconds"] > 0
        assert 0 < q["weight_bytes"] < 1_400_000 if bits == 4 else 0 < q["weight_bytes"] < 1_450_000
        assert runs[recipe]["verdict"]["mode"] in ("intact", "signal_degradation", "computation_collapse")
        # every probe traced the library layers; the neurons probe read their dequantized down_proj weights
        assert runs[recipe]["layers"]["cka_last_token"] and runs[recipe]["layers"]["svd_subspace_similarity"], recipe
        retained = runs[recipe]["neurons"]["retained_fraction"]
        assert (0.85 if bits == 8 else 0.3) <= retained <= 1.05, (recipe, retained)   # ~0.96 at 8 bits, ~0.6 at 4
    c = runs[ckpt]["quant"]
    assert (c["backend"], c["library"], c["bits"], c["group_size"]) == ("ckpt", "bitsandbytes", 4, 64)
    assert c["info"]["method"] == "bitsandbytes" and c["info"]["checkpoint"] == str(nf4_checkpoint)
    assert runs["bnb-int8"]["quant"]["info"]["quant_type"] == "int8"
    assert runs["torchao-int4wo"]["quant"]["info"]["kernel"].startswith("intx-weight-only")
    # 8-bit recipes keep what tiny-facts knows on these facts
    for recipe in ("bnb-int8", "torchao-int8wo", "quanto-int8"):
        assert runs[recipe]["flipped"]["lost"] == 0, recipe
