"""Cross-model activation patching (sufficiency) and zero ablation (necessity) on small random models."""
import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from pytest_qfacts.suites.schema import FactItem
from tiny_models import WordTokenizer, random_model

FAMILIES = ["llama", "gpt2", "opt"]


WORDS = "the capital of Vorland Kesh is Brim Tal city in".split()
SUBJECTS = ["Vorland", "Brim", "Tal", "Kesh"]
TEMPLATES = ["the capital of {} is", "the capital city of {} is", "{} is in", "of {} the city is"]


def _items(n):
    """``n`` facts cycling over subjects x templates, with subject spans; varied prompt lengths."""
    out = []
    for i in range(n):
        subject, template = SUBJECTS[i % 4], TEMPLATES[(i // 4) % 4]
        prompt = template.format(subject)
        start = prompt.index(subject)
        out.append(FactItem("r", subject, SUBJECTS[(i + 1) % 4], prompt, subject_span=(start, start + len(subject))))
    return out


ITEMS = _items(6)
NO_SUBJECT = FactItem("r", None, "Tal", "the capital city of Brim is")  # own prompt, no subject span


def _model(family: str):
    model = random_model(family)
    from pytest_qfacts.trace.layout import discover

    norm = discover(model).final_norm  # a non-zero final-norm bias makes lm_head(norm(0)) non-trivial
    if getattr(norm, "bias", None) is not None:
        with torch.no_grad():
            norm.bias.normal_(0.0, 1.0, generator=torch.Generator().manual_seed(1))
    return model


def _perturbed(model, std=0.1):
    """A deepcopy with Gaussian noise on every weight matrix inside the decoder layers.

    (Linear and GPT-2's Conv1D; not the embeddings, final norm or lm_head, as RTN leaves lm_head.)
    """
    from pytest_qfacts.trace.layout import discover

    other = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for layer in discover(other).layers:
            for param in layer.parameters():
                if param.dim() == 2:
                    param.add_(torch.randn(param.shape, generator=gen) * std)
    return other


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models run fastest on one thread, and the machine is shared: restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module", params=FAMILIES)
def family_models(request):
    ref = _model(request.param)
    return request.param, ref, _perturbed(ref)


TOK = WordTokenizer(WORDS)


@pytest.mark.parametrize("family", FAMILIES)
def test_identical_copy_recovers_everything(family):
    from pytest_qfacts.trace.patching import patching_scan

    ref = _model(family)
    res = patching_scan(ref, copy.deepcopy(ref), TOK, ITEMS)
    assert res.recovery.shape == (2, 3, len(ITEMS))
    assert (res.quant_logit == res.ref_logit).all()
    assert (res.recovery == 1.0).all()
    assert np.isfinite(res.necessity).all()


def test_patching_the_last_layer_at_the_last_token_restores_the_reference(family_models):
    from pytest_qfacts.trace.patching import patching_scan

    family, ref, quant = family_models
    res = patching_scan(ref, quant, TOK, ITEMS, layers=[-1], positions=("last",))
    gap = np.abs(res.ref_logit - res.quant_logit)
    assert gap.min() > 1e-3, "the perturbation should move every gold logit"
    np.testing.assert_allclose(res.patched_logit[0, 0], res.ref_logit, atol=1e-5)
    np.testing.assert_allclose(res.recovery[0, 0], 1.0, atol=1e-4)
    assert res.layers.tolist() == [2] and res.positions == ("last",)


def test_zero_ablation_at_the_last_layer_gives_the_head_of_a_zero_residual(family_models):
    from pytest_qfacts.scoring.encode import encode_items
    from pytest_qfacts.trace.layout import discover
    from pytest_qfacts.trace.patching import patching_scan

    family, ref, _ = family_models
    res = patching_scan(ref, ref, TOK, ITEMS, layers=[2], positions=("last",))
    layout = discover(ref)
    gold = [e.object_ids[0] for e in encode_items(TOK, ITEMS)]
    with torch.no_grad():  # independently: lm_head(final_norm(0))
        z0 = layout.unembed(layout.final_norm(torch.zeros(1, layout.unembed.weight.shape[1])))[0, gold].double().numpy()
    if family != "llama":
        assert np.abs(z0).max() > 1e-2  # the random final-norm bias makes this a real check
    np.testing.assert_allclose(res.ablated_logit[0, 0], z0, atol=1e-5)
    np.testing.assert_allclose(res.necessity[0, 0], (res.ref_logit - z0) / np.abs(res.ref_logit), rtol=1e-5, atol=1e-5)


def test_subject_ablation_matches_an_unpadded_single_prompt(family_models):
    from pytest_qfacts.scoring.encode import encode_items
    from pytest_qfacts.trace.layout import discover
    from pytest_qfacts.trace.patching import patching_scan

    family, ref, quant = family_models
    res = patching_scan(ref, quant, TOK, ITEMS, layers=[0], positions=("subject",))
    layout = discover(ref)
    for i, enc in enumerate(encode_items(TOK, ITEMS)):
        def zero(module, args, output, at=enc.subject_last):
            h = (output[0] if isinstance(output, tuple) else output).clone()
            h[:, at] = 0
            return (h,) + tuple(output[1:]) if isinstance(output, tuple) else h

        handle = layout.layers[0].register_forward_hook(zero)
        try:
            with torch.no_grad():
                z = ref(torch.tensor([enc.prompt_ids])).logits[0, -1, enc.object_ids[0]].item()
        finally:
            handle.remove()
        assert res.ablated_logit[0, 0, i] == pytest.approx(z, abs=1e-5)


def test_results_do_not_depend_on_the_batch(family_models):
    from pytest_qfacts.trace.patching import patching_scan

    family, ref, quant = family_models
    one = patching_scan(ref, quant, TOK, ITEMS, batch_size=1)
    all_ = patching_scan(ref, quant, TOK, ITEMS, batch_size=16)
    for name in ("ref_logit", "quant_logit", "patched_logit", "ablated_logit"):
        np.testing.assert_allclose(getattr(one, name), getattr(all_, name), atol=1e-5, err_msg=name)


def test_forward_count_matches_the_cost_formula():
    from pytest_qfacts.trace.patching import patching_forwards, patching_scan

    ref = _model("llama")
    quant = _perturbed(ref)
    calls = []
    handles = [m.register_forward_pre_hook(lambda *a, m=m: calls.append(m)) for m in (ref, quant)]
    try:
        res = patching_scan(ref, quant, TOK, _items(20), layers=[0, 2], max_facts=5, batch_size=2)
    finally:
        for h in handles:
            h.remove()
    # 5 facts in 3 batches: 3 * (2 clean + 2 sides x 2 layers x 2 positions) = 30
    assert res.forwards == len(calls) == patching_forwards(5, 2, 2, 2) == 3 * (2 + 2 * 2 * 2)
    assert sum(m is ref for m in calls) == sum(m is quant for m in calls) == 15
    assert res.seconds > 0
    full = patching_scan(ref, quant, TOK, ITEMS)  # defaults: one batch, all 3 layers, 2 positions
    assert full.forwards == 2 + 2 * 3 * 2 == patching_forwards(len(ITEMS), 3, 2, 16)


def test_subset_is_bounded_and_deterministic():
    from pytest_qfacts.trace.patching import patching_fact_indices, patching_scan

    assert patching_fact_indices(5, 16).tolist() == [0, 1, 2, 3, 4]
    picked = patching_fact_indices(1000, 16)
    assert len(picked) == 16 and picked[0] == 0 and picked[-1] == 999
    assert picked.tolist() == np.unique(np.linspace(0, 999, 16).round()).astype(int).tolist()
    with pytest.raises(ValueError):
        patching_fact_indices(10, 0)

    ref = _model("gpt2")
    quant = _perturbed(ref)
    items = _items(40)
    a = patching_scan(ref, quant, TOK, items, layers=[1], max_facts=4)
    b = patching_scan(ref, quant, TOK, items, layers=[1], max_facts=4)
    assert a.fact_indices.tolist() == b.fact_indices.tolist() == [0, 13, 26, 39]
    assert a.recovery.shape == (2, 1, 4)
    np.testing.assert_array_equal(a.recovery, b.recovery)
    np.testing.assert_array_equal(a.necessity, b.necessity)
    # each subset fact scores as it does on its own (the subset is items[fact_indices])
    alone = patching_scan(ref, quant, TOK, [items[i] for i in a.fact_indices], layers=[1])
    np.testing.assert_allclose(alone.patched_logit, a.patched_logit, atol=1e-5)


def test_missing_subject_falls_back_to_the_last_token_and_is_flagged():
    from pytest_qfacts.trace.patching import patching_scan

    ref = _model("opt")
    res = patching_scan(ref, _perturbed(ref), TOK, [ITEMS[0], NO_SUBJECT])
    assert res.has_subject.tolist() == [True, False]
    np.testing.assert_array_equal(res.patched_logit[0, :, 1], res.patched_logit[1, :, 1])
    np.testing.assert_array_equal(res.ablated_logit[0, :, 1], res.ablated_logit[1, :, 1])


def test_summary_is_json_ready_medians():
    from pytest_qfacts.trace.patching import patching_scan

    ref = _model("llama")
    res = patching_scan(ref, _perturbed(ref), TOK, ITEMS, layers=[0, 2])
    res.necessity[0, 0, :] = np.nan  # an all-NaN row -> None
    res.recovery[1, 1, 0] = np.nan   # a NaN fact is skipped
    s = json.loads(json.dumps(res.summary(), allow_nan=False))
    assert s["facts"] == len(ITEMS) and s["forwards"] == res.forwards and s["layers"] == [0, 2]
    assert set(s) >= {"recovery_subject", "recovery_last", "necessity_subject", "necessity_last", "seconds"}
    assert s["necessity_subject"][0] is None
    assert s["recovery_last"][1] == pytest.approx(float(np.median(res.recovery[1, 1, 1:])))
    assert s["recovery_subject"] == pytest.approx(np.median(res.recovery[0], axis=-1).tolist())


def test_bad_arguments_are_rejected():
    from pytest_qfacts.trace.patching import patching_scan

    ref = _model("llama")
    with pytest.raises(ValueError, match="positions"):
        patching_scan(ref, ref, TOK, ITEMS, positions=("middle",))
    with pytest.raises(ValueError, match="layer"):
        patching_scan(ref, ref, TOK, ITEMS, layers=[3])


def test_module_import_is_light():
    code = "import sys, pytest_qfacts.trace.patching; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
