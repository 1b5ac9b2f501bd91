"""SmolLM2-135M: the plugin's scores agree with plain transformers, and do not depend on the batch."""
import numpy as np
import pytest

pytestmark = pytest.mark.slow


def _independent_top1(gguf_path, items):
    """Unbatched plain-transformers computation from the GGUF file itself: argmax == first gold token."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32).eval()
    correct = []
    with torch.no_grad():
        for item in items:
            prompt_ids = tok(item.prompt)["input_ids"]
            logits = model(torch.tensor([prompt_ids])).logits[0, -1]
            firsts = {tok(item.prompt + " " + answer)["input_ids"][len(prompt_ids)] for answer in item.answers}
            correct.append(int(logits.argmax()) in firsts)
    return np.array(correct)


def test_capitals_top1_matches_plain_transformers(smollm2):
    from pytest_qfacts.models.registry import smollm2_gguf_path
    from pytest_qfacts.scoring.scorer import score_items
    from pytest_qfacts.suites import load_suite

    items = load_suite("capitals").items()
    ours = score_items(smollm2.model, smollm2.tokenizer, items, batch_size=16)
    independent = _independent_top1(smollm2_gguf_path(), items)
    assert ours.top1.tolist() == independent.tolist()
    assert ours.top1.mean() == pytest.approx(independent.mean())
    assert 0.5 < ours.top1.mean() <= 1.0  # SmolLM2 knows most capitals


def test_scores_do_not_depend_on_batch_size(smollm2):
    from pytest_qfacts.scoring.scorer import score_items
    from pytest_qfacts.suites import load_suite

    items = load_suite("lre-country_capital_city").items()
    one = score_items(smollm2.model, smollm2.tokenizer, items, batch_size=1)
    many = score_items(smollm2.model, smollm2.tokenizer, items, batch_size=16)
    np.testing.assert_allclose(one.object_logprob, many.object_logprob, atol=1e-4)
    np.testing.assert_allclose(one.first_logprob, many.first_logprob, atol=1e-4)
    assert one.gold_rank.tolist() == many.gold_rank.tolist()


def test_gold_tokens_follow_the_space_object_rule(smollm2):
    from pytest_qfacts.scoring.encode import gold_token_ids

    tok = smollm2.tokenizer
    assert gold_token_ids(tok, "The capital of France is", "Paris") == tok(" Paris", add_special_tokens=False)["input_ids"]
    ids = gold_token_ids(tok, "The capital of the United States is", "Washington D.C.")
    assert len(ids) > 1
    assert tok.decode(ids) == " Washington D.C."


def test_w8_keeps_and_w2_breaks_capitals(smollm2):
    """Real degradation on a real model: RTN W8 keeps recall, W2 destroys it."""
    import copy

    from pytest_qfacts.quant import quantize
    from pytest_qfacts.scoring.scorer import score_items
    from pytest_qfacts.suites import load_suite

    items = load_suite("capitals").items()
    reference = score_items(smollm2.model, smollm2.tokenizer, items).top1.mean()
    accuracy = {}
    for recipe in ("rtn-w8g64", "rtn-w2g64"):
        model = copy.deepcopy(smollm2.model)
        quantize(model, recipe)
        accuracy[recipe] = score_items(model, smollm2.tokenizer, items).top1.mean()
        del model
    assert accuracy["rtn-w8g64"] >= reference - 0.02
    assert accuracy["rtn-w2g64"] < 0.2
