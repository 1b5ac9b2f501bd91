"""A hand-made JSON report (the dict ``build_report`` returns) for the HTML report tests.

Two (model, suite) groups: ``capitals`` with probes (CKA, logit lens) and two recipes, and a
two-hop suite whose name and facts carry HTML metacharacters, with EntRec curves and no
CKA / lens keys. The numbers are consistent with each other (top-1 and lost counts match the
per-fact ranks), so tests can check the page against an independent count.
"""
from __future__ import annotations

import copy

NASTY = '<script>alert("x")</script> & \'q\' $x_1$ costs $5'
LAYERS = 12


def _facts(relations, ref_ranks, quant_ranks, prefix=""):
    facts = []
    for i, (r, q) in enumerate(zip(ref_ranks, quant_ranks)):
        rel = relations[i % len(relations)]
        facts.append({"relation": rel, "subject": f"S{i}", "object": f"O{i}", "prompt": f"{prefix}The {rel} of S{i} is",
                      "reference_rank": r, "quantized_rank": q, "reference_top": f"O{i}", "quantized_top": "zz"})
    return facts


def _run(model, recipe, suite, facts, layers=None, twohop=None, gate=None, mode="intact"):
    n = len(facts)
    ref = sum(f["reference_rank"] == 1 for f in facts) / n
    quant = sum(f["quantized_rank"] == 1 for f in facts) / n
    lost = sum(f["reference_rank"] == 1 and f["quantized_rank"] != 1 for f in facts)
    gained = sum(f["reference_rank"] != 1 and f["quantized_rank"] == 1 for f in facts)
    relations = []
    for rel in dict.fromkeys(f["relation"] for f in facts):
        fs = [f for f in facts if f["relation"] == rel]
        rt = sum(f["reference_rank"] == 1 for f in fs) / len(fs)
        qt = sum(f["quantized_rank"] == 1 for f in fs) / len(fs)
        relations.append({"relation": rel, "n": len(fs), "reference_top1": rt, "quantized_top1": qt, "drop": rt - qt,
                          "lost": sum(f["reference_rank"] == 1 and f["quantized_rank"] != 1 for f in fs), "gained": 0})
    run = {"model": model, "recipe": recipe, "suite": suite, "n_facts": n,
           "reference": {"top1": ref, "median_rank": 1.0, "source": "model"}, "quantized": {"top1": quant, "median_rank": 1.0},
           "drop": ref - quant, "relative_drop": (ref - quant) / ref if ref else 0.0,
           "flipped": {"lost": lost, "gained": gained}, "mcnemar_p": 0.5 if lost else 1.0,
           "relations": relations, "facts": facts,
           "verdict": {"mode": mode, "evidence": {}, "reasons": [f"reason for {recipe}"]}}
    if layers:
        run["layers"] = layers
    if twohop:
        run["twohop"] = twohop
    if gate:
        run["gate"] = gate
    return run


def _curve(start, stop):
    return [start + (stop - start) * i / (LAYERS - 1) for i in range(LAYERS)]


def sample_report() -> dict:
    rels = ["country_capital", "country_language", "city_country"]
    ref_ranks = [1] * 28 + [3, 40]
    w8 = [1] * 27 + [2, 3, 40]             # loses 1
    w2 = [1] * 6 + [5, 80, 900, 12000] * 5 + [700, 2, 3, 40]  # loses 22: 20 in the middle, then 700 and 2
    lens_ref = _curve(5000, 1)
    caps_w8 = _run("toy-model", "rtn-w8g64", "capitals", _facts(rels, ref_ranks, w8),
                   layers={"cka_last_token": _curve(1.0, 0.98), "cka_subject": _curve(1.0, 0.99),
                           "cka_matrix_last_token": [[1.0] * LAYERS] * LAYERS,
                           "lens_rank_reference": lens_ref, "lens_rank_quantized": _curve(5200, 1),
                           "lens_prob_reference": _curve(0.0, 0.8), "lens_prob_quantized": _curve(0.0, 0.78)},
                   gate={"passed": True, "checked": 1, "failed": 0})
    caps_w2 = _run("toy-model", "rtn-w2g64", "capitals", _facts(rels, ref_ranks, w2),
                   layers={"cka_last_token": _curve(0.9, 0.1), "cka_subject": _curve(0.95, 0.3),
                           "lens_rank_reference": lens_ref, "lens_rank_quantized": _curve(9000, 600),
                           "lens_prob_reference": _curve(0.0, 0.8), "lens_prob_quantized": [None] + _curve(0.0, 0.01)[1:]},
                   gate={"passed": False, "checked": 3, "failed": 2}, mode="computation_collapse")
    two_rels = ["birthplace_country", NASTY]
    two_ref = [1] * 10
    two_w4 = [1] * 7 + [4, 50, 2]
    nasty_facts = _facts(two_rels, two_ref, two_w4, prefix=NASTY + " ")
    two = _run("toy-model", "rtn-w4g64", NASTY, nasty_facts,
               twohop={"entrec": {"reference": _curve(0.1, 0.9), "quantized": _curve(0.1, 0.5)}},
               mode="signal_degradation")
    return {"qfacts_report": 1, "runs": copy.deepcopy([caps_w8, caps_w2, two])}


#: The figures each group of sample_report() must have, by data-plot kind.
EXPECTED_PLOTS = {
    "capitals": {"relation-drop", "rank-histogram", "cka", "logit-lens"},
    NASTY: {"relation-drop", "rank-histogram", "entrec"},
}
