"""The tracer and the logit lens on small random models of several families."""
import numpy as np
import pytest
import torch

from pytest_qfacts.suites.schema import FactItem
from tiny_models import WordTokenizer, random_model


WORDS = "the capital of Vorland Kesh is Brim Tal city".split()
ITEMS = [
    FactItem("capital", "Vorland", "Kesh", "the capital of Vorland is", subject_span=(15, 22)),
    FactItem("capital", "Brim", "Tal", "the capital city of Brim is", subject_span=(20, 24)),
    FactItem("capital", "Tal", "Kesh city", "the capital of Tal is", subject_span=(15, 18)),
]


def _model(family: str):
    return random_model(family)


@pytest.mark.parametrize("family", ["llama", "gpt2", "opt"])
def test_layout_is_found_by_structure(family):
    from pytest_qfacts.trace.layout import discover

    layout = discover(_model(family))
    assert layout.n_layers == 3
    assert all(m is not None for m in layout.gate + layout.down + layout.mlp)


@pytest.mark.parametrize("family", ["llama", "gpt2", "opt"])
def test_tracer_records_the_right_positions_and_leaves_scores_unchanged(family):
    from pytest_qfacts.probes import get_probe, in_pass_names
    from pytest_qfacts.scoring.scorer import score_items
    from pytest_qfacts.trace.tracer import Tracer

    model, tok = _model(family), WordTokenizer(WORDS)
    plain = score_items(model, tok, ITEMS, batch_size=2)
    with Tracer(model, [get_probe(n) for n in in_pass_names()], len(ITEMS)) as tracer:
        traced = score_items(model, tok, ITEMS, batch_size=2, observer=tracer)
        arrays = tracer.finish(traced)
    np.testing.assert_allclose(plain.object_logprob, traced.object_logprob, atol=1e-5)
    ends = np.cumsum(arrays["attn.0.len"])
    for i, item in enumerate(ITEMS):  # independent: one unpadded forward, hidden state after each layer
        prompt = tok(item.prompt)["input_ids"]
        with torch.no_grad():
            out = model(torch.tensor([prompt]), output_hidden_states=True)
        subject_last = len(item.prompt[: item.subject_span[1]].split()) - 1
        for layer in range(2):  # HF's last hidden state is after the final norm; layers before it are raw
            hs = out.hidden_states[layer + 1][0]
            np.testing.assert_allclose(arrays["resid_last"][layer, i], hs[-1].numpy(), atol=1e-4)
            np.testing.assert_allclose(arrays["resid_subj"][layer, i], hs[subject_last].numpy(), atol=1e-4)
        n_keys = arrays["attn.0.len"][i]
        attn = arrays["attn.0.data"][:, ends[i] - n_keys: ends[i]]
        assert attn.shape[1] == subject_last + 1  # real keys up to the subject query only
        np.testing.assert_allclose(attn.sum(-1), 1.0, atol=1e-5)
    assert arrays["neuron_contrib"].shape[:2] == (3, 3)


def test_lens_ranks_match_a_hand_built_unembedding():
    from types import SimpleNamespace

    from pytest_qfacts.trace.lens import lens_gold_stats

    unembed = torch.nn.Linear(2, 4, bias=False)
    unembed.weight.data = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    layout = SimpleNamespace(unembed=unembed, final_norm=None, softcap=None)
    resid = np.array([[[2.0, 1.0]], [[0.0, 3.0]]], dtype=np.float32)  # [L=2, N=1, H=2]
    # layer 0 logits: [2, 1, 3, -2]; gold token 0 -> rank 2.  layer 1 logits: [0, 3, 3, 0] -> rank 3
    prob, rank = lens_gold_stats(layout, resid, np.array([0]))
    assert rank[:, 0].tolist() == [2, 3]
    z = np.array([2.0, 1.0, 3.0, -2.0])
    assert prob[0, 0] == pytest.approx(np.exp(2.0) / np.exp(z).sum())


def test_lens_at_the_last_layer_is_the_model_output():
    from pytest_qfacts.probes import get_probe
    from pytest_qfacts.scoring.scorer import score_items
    from pytest_qfacts.trace.tracer import Tracer

    model, tok = _model("llama"), WordTokenizer(WORDS)
    with Tracer(model, [get_probe("lens")], len(ITEMS)) as tracer:
        scores = score_items(model, tok, ITEMS, batch_size=3, observer=tracer)
        arrays = tracer.finish(scores)
    prob, rank = arrays["lens.prob"], arrays["lens.rank"]
    assert rank[-1].tolist() == scores.gold_rank.tolist()
    np.testing.assert_allclose(np.log(prob[-1]), scores.first_logprob, atol=1e-4)


def test_lens_subset_is_deterministic_and_bounded():
    from pytest_qfacts.trace.lens import lens_fact_indices

    assert lens_fact_indices(5, 128).tolist() == [0, 1, 2, 3, 4]
    picked = lens_fact_indices(1000, 10)
    assert len(picked) == 10 and picked[0] == 0 and picked[-1] == 999
    assert picked.tolist() == lens_fact_indices(1000, 10).tolist()
