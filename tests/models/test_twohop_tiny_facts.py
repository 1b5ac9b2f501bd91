"""Two-hop recall on the tiny-facts model: EntRec, CnstScore, the three accuracies and
``assert_bridge_recall`` under RTN W8 / W2, and a bridge entity destroyed by hand."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from pytest_qfacts import assert_bridge_recall
from pytest_qfacts.assertions import ProbeGateFailure
from pytest_qfacts.suites import load_suite
from pytest_qfacts.suites.twohop_suite import TwoHopItem

torch = pytest.importorskip("torch")

PER_COMPOSITION = 30  # 6 compositions x 30 = 180 two-hop items, 540 scored prompts
BATCH = 64            # few forwards: the tiny model's cost is per call (scores do not depend on the batch)


@pytest.fixture(scope="module")
def suite():
    return load_suite("tiny-facts-twohop").sample(PER_COMPOSITION)


@pytest.fixture(scope="module")
def runs(suite):
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings

    session = QFactsSession(Settings(model="tiny-facts", device="cpu", quiet=True, batch_size=BATCH))
    yield {recipe: session.compare(suite, recipe) for recipe in ("rtn-w8g64", "rtn-w2g64")}
    session.close()


def test_entrec_and_two_hop_accuracy_hold_at_w8_and_fall_at_w2(runs):
    w8, w2 = runs["rtn-w8g64"].extras["twohop"], runs["rtn-w2g64"].extras["twohop"]
    ref = w8["r2_r1_e1"]["reference"]
    assert ref > 0.7 and w8["r1_e1"]["reference"] > 0.95 and w8["r2_e2"]["reference"] > 0.95
    peak = w8["entrec"]["peak_layer"]
    assert peak == 0 and w8["entrec"]["position"] == "last_token"  # the bridge forms after layer 0 (fixture README)
    assert w8["entrec"]["reference"] == w2["entrec"]["reference"]   # one reference, cached
    # W8 holds
    assert abs(w8["r2_r1_e1"]["quantized"] - ref) <= 0.02
    assert abs(w8["entrec"]["drop"][peak]) < 0.1 and abs(w8["cnstscore"]["quantized"] - w8["cnstscore"]["reference"]) < 0.1
    # W2 falls: the bridge is no longer recalled, nor the two-hop answer
    assert w2["r2_r1_e1"]["quantized"] < ref - 0.5 and w2["r1_e1"]["quantized"] < 0.2
    assert w2["entrec"]["drop"][peak] > 5.0
    assert w2["cnstscore"]["quantized"] < w2["cnstscore"]["reference"] - 1.0
    assert w2["spearman_first_hop_across_recipes"]["points"] == 12


def test_assert_bridge_recall_passes_at_w8_and_names_lost_bridges_at_w2(runs):
    assert_bridge_recall(runs["rtn-w8g64"], max_drop=0.5)
    with pytest.raises(ProbeGateFailure) as info:
        assert_bridge_recall(runs["rtn-w2g64"], max_drop=1.0, layers=[0])
    msg = str(info.value)
    assert "qfacts: bridge entities lost for tiny-facts [rtn-w2g64] on suite 'tiny-facts-twohop'" in msg
    assert "layers where EntRec fell (mean over all items): layer 0:" in msg
    worst = max(runs["rtn-w2g64"].extras["twohop"]["bridges"],
                key=lambda b: b["entrec_reference"][0] - b["entrec_quantized"][0])
    assert f"    {worst['entity']!r} (" in msg


def test_report_keys_and_subsets(runs):
    report = json.loads(json.dumps(runs["rtn-w2g64"].to_report()))
    tw = report["twohop"]
    for key in ("r1_e1", "r2_e2", "r2_r1_e1", "cnstscore"):
        assert set(tw[key]) == {"reference", "quantized"}
    assert len(tw["entrec"]["reference"]) == len(tw["entrec"]["quantized"]) == 2
    assert "spearman_first_hop" in tw and report["paraphrase"]["consistency"] == {"reference": None, "quantized": None}
    robust, failure = report["subsets"]["robust"], report["subsets"]["failure"]
    assert failure["n"] > robust["n"] > 0 and robust["n"] + failure["n"] == sum(f["reference_rank"] == 1 for f in report["facts"])
    lost = runs["rtn-w2g64"].subset_suite("failure")
    assert len(lost.items()) == failure["n"]


def _items(suite, n=6):
    """A few items of each kind: last-token EntRec (the suite's) and a mention-end copy."""
    items = suite.twohop_items()[:n]
    ended = [TwoHopItem(t.composition, t.r1, t.r2, t.e1, t.e2, t.e3, t.r1_e1, t.r2_e2, t.r2_r1_e1, t.mention_span,
                        entrec_at="mention_end") for t in items]
    return items + ended


def test_trace_matches_an_independent_forward(tiny_facts, suite):
    from pytest_qfacts.trace.twohop_pass import trace_twohop

    model, tok = tiny_facts.model, tiny_facts.tokenizer
    items = _items(suite)
    got = trace_twohop(model, tok, items, batch_size=4)
    one_by_one = trace_twohop(model, tok, items, batch_size=1)
    np.testing.assert_allclose(got.entrec, one_by_one.entrec, atol=1e-4)
    np.testing.assert_allclose(got.cnstscore, one_by_one.cnstscore, atol=1e-4)
    with torch.no_grad():
        for k, t in enumerate(items):
            ids = tok(t.r2_r1_e1, return_tensors="pt")
            out = model(**ids, output_hidden_states=True)
            words = tok.convert_ids_to_tokens(ids["input_ids"][0])
            pos = len(words) - 1 if t.entrec_at == "last_token" else words.index("born" if "born" in t.mention else t.e1)
            e2 = tok.convert_tokens_to_ids(t.e2)
            for layer in range(2):
                if layer == 1:  # the last layer's lens is the model's own output at that position
                    z = out.logits[0, pos]
                else:
                    z = model.lm_head(model.model.norm(out.hidden_states[layer + 1][0, pos]))
                assert got.entrec[layer, k] == pytest.approx(float(torch.log_softmax(z, -1)[e2]), abs=1e-4)
            one = model(**tok(t.r2_e2, return_tensors="pt")).logits[0, -1]
            p, q = torch.softmax(out.logits[0, -1], -1), torch.softmax(one, -1)
            cnst = -0.5 * (-(p * q.log()).sum() - (q * p.log()).sum())
            assert got.cnstscore[k] == pytest.approx(float(cnst), abs=1e-4)
    assert not np.allclose(got.entrec[:, :6], got.entrec[:, 6:])  # the position matters


def test_destroyed_bridge_entity_is_named(tiny_facts, suite):
    """Zero a well-recalled bridge entity's input and output embedding rows in a copy of tiny-facts:
    its EntRec collapses, and assert_bridge_recall names it (and only it)."""
    from pytest_qfacts.measure import compare_models

    model, tok = tiny_facts.model, tiny_facts.tokenizer
    cities = suite.subset(["birthplace_country", "birthplace_country_heldout"])
    same = compare_models(model, model, tok, cities, model="tiny-facts", recipe="itself", batch_size=BATCH)
    assert_bridge_recall(same, max_drop=1e-6)
    bridges = same.extras["twohop"]["bridges"]
    victim = max((b for b in bridges if b["n"] >= 2), key=lambda b: b["entrec_reference"][0])
    assert victim["entrec_reference"][0] > -2.0  # clearly recalled at the last token after layer 0
    damaged = copy.deepcopy(model)
    token = tok.convert_tokens_to_ids(victim["entity"])
    with torch.no_grad():
        damaged.get_input_embeddings().weight[token] = 0
        damaged.get_output_embeddings().weight[token] = 0
    result = compare_models(model, damaged, tok, cities, model="tiny-facts", recipe=f"zeroed:{victim['entity']}",
                            batch_size=BATCH)
    with pytest.raises(ProbeGateFailure) as info:
        assert_bridge_recall(result, max_drop=1.0)
    msg = str(info.value)
    assert f"for 1 of {len(bridges)} bridge entities" in msg, msg
    assert f"    {victim['entity']!r} ({victim['n']} two-hop items): layer 0: " in msg
    twohop = result.extras["twohop"]
    assert twohop["r1_e1"]["quantized"] == pytest.approx(twohop["r1_e1"]["reference"] - victim["n"] / twohop["n"])


def test_two_hop_result_from_the_qfacts_pair_fixture(pytester):
    pytester.makepyfile(test_bridges="""
        from pytest_qfacts import assert_bridge_recall
        from pytest_qfacts.suites import load_suite

        def test_bridges(qfacts_pair):
            result = qfacts_pair.compare(load_suite("tiny-facts-twohop").sample(8), probes="none")
            assert_bridge_recall(result, max_drop=1.0, layers=[0])
    """)
    result = pytester.runpytest("--qfacts-model=tiny-facts", "--qfacts-device=cpu", "--qfacts-quant=rtn-w8g64,rtn-w2g64",
                                "--qfacts-report=report.json", "--qfacts-batch-size=64", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*test_bridges[[]rtn-w2g64[]]*", "*qfacts: bridge entities lost for tiny-facts [[]rtn-w2g64[]]*"])
    runs = json.loads((pytester.path / "report.json").read_text())["runs"]
    assert [r["recipe"] for r in runs] == ["rtn-w8g64", "rtn-w2g64"]
    for run in runs:
        assert {"twohop", "paraphrase", "subsets"} <= set(run)
        assert run["twohop"]["spearman_first_hop_across_recipes"]["recipes"] == ["rtn-w2g64", "rtn-w8g64"]


def test_two_hop_yaml_file_is_collected_and_gated(pytester):
    items = load_suite("tiny-facts-twohop").twohop_items()[:3]
    t = items[0]
    facts = "\n".join(f"      - {{e1: {i.e1}, e2: {i.e2}, e3: {i.e3}}}" for i in items)
    pytester.makefile(".qfacts.yaml", mine=f"""
qfacts: 1
name: mine
twohop:
  - name: born
    r1: {{name: {t.r1}, template: "{{subject}} was born in the city of"}}
    r2: {{name: {t.r2}, template: "The city of {{subject}} is located in"}}
    template: "The country where {{subject}} was born is"
    mention: "where {{subject}} was born"
    entrec_at: last_token
    facts:
{facts}
gate: {{max_drop: 0.34}}
""")
    result = pytester.runpytest("--qfacts-model=tiny-facts", "--qfacts-device=cpu", "--qfacts-quant=rtn-w8g64",
                                "--qfacts-report=report.json", "-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*mine.qfacts.yaml::born[[]rtn-w8g64[]] PASSED*",
                                 "*mine.qfacts.yaml::born.r1_e1[[]rtn-w8g64[]] PASSED*",
                                 "*mine.qfacts.yaml::born.r2_e2[[]rtn-w8g64[]] PASSED*"])
    (run,) = json.loads((pytester.path / "report.json").read_text())["runs"]
    assert run["twohop"]["n"] == 3 and run["n_facts"] == 9
