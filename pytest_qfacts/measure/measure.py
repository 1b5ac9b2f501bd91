"""``measure(model, suite, plan) -> ModelRun``: every forward one model needs for one suite.

1. the scoring forward (``scoring/scorer.py``), length-sorted and left-padded, with the in-pass
   probes' hooks (``trace/tracer.py``) and their post-forward steps (the logit lens);
2. on a two-hop suite, the two-hop pass (``trace/twohop_pass.py``): EntRec per layer, CnstScore;
3. the probes that need passes of their own (``patching``): on the reference its own half; on
   a quantized model the other half, reading the reference's run record (``reference``).
"""
from __future__ import annotations

import contextlib
import dataclasses

from pytest_qfacts.record.model_run import ModelRun, RunInfo


def _twohop_meta(suite, trace) -> dict:
    """What the two-hop report block needs of the suite, so a stored run serves without it."""
    items = suite.twohop_items()
    return {"vocab_size": int(trace.vocab_size),
            "items": [{"composition": it.composition, "e2": it.e2, "entrec_at": it.entrec_at} for it in items],
            "hop_indices": {hop: [int(i) for i in idx] for hop, idx in suite.hop_indices().items()},
            "compositions": [{"name": c.name, "r1": c.r1, "r2": c.r2} for c in suite.compositions]}


def measure(model, tokenizer, suite, plan, info: RunInfo, *, reference: ModelRun | None = None,
            progress=None) -> ModelRun:
    """Run ``plan`` on ``model`` and return the run record (``info`` gets the plan's probes and batch size).

    ``reference``: the reference's run, needed by a quantized model's patching pass.
    """
    from pytest_qfacts.scoring.scorer import score_items

    items = suite.items()
    step = progress.step if progress is not None else (lambda message: contextlib.nullcontext())
    bar = progress.bar if progress is not None else (lambda total, desc: contextlib.nullcontext(lambda n: None))
    arrays: dict = {}
    meta: dict = {"suite_gate": dict(suite.gate)}   # the suite's own gate rules, for `qfacts gate` on stored runs
    with bar(len(items), f"scoring {suite.name} [{info.role}]") as update:
        if plan.in_pass:
            from pytest_qfacts.trace.tracer import Tracer

            with Tracer(model, plan.in_pass, len(items), lens_facts=plan.lens_facts) as tracer:
                scores = score_items(model, tokenizer, items, batch_size=plan.batch_size, on_batch=update, observer=tracer)
                arrays.update(tracer.finish(scores))
        else:
            scores = score_items(model, tokenizer, items, batch_size=plan.batch_size, on_batch=update)
    if plan.twohop:
        from pytest_qfacts.trace.twohop_pass import trace_twohop

        with step(f"two-hop EntRec/CnstScore [{info.role}] on {suite.name}"):
            trace = trace_twohop(model, tokenizer, suite.twohop_items(), batch_size=plan.batch_size)
        arrays.update({"twohop.entrec": trace.entrec, "twohop.cnstscore": trace.cnstscore,
                       "twohop.e2_token": trace.e2_token, "twohop.position": trace.position})
        meta["twohop"] = _twohop_meta(suite, trace)
    if "patching" in plan.extra:
        from pytest_qfacts.trace import patching

        with step(f"activation patching [{info.role}] on {suite.name}"):
            if reference is None:
                half = patching.reference_pass(model, tokenizer, items, batch_size=plan.batch_size)
            else:
                if "patching.rows" not in reference.arrays:
                    raise ValueError("the reference's run record holds no patching data; measure it with 'patching'")
                half = patching.quantized_pass(model, tokenizer, items, reference.arrays, batch_size=plan.batch_size)
        arrays.update(half.arrays)
        meta["patching"] = {"positions": list(patching.POSITIONS), "forwards": half.forwards, "seconds": half.seconds}
    info = dataclasses.replace(info, probes=tuple(plan.probes), batch_size=plan.batch_size, lens_facts=plan.lens_facts)
    return ModelRun(info, list(items), scores, arrays, meta)


def compare_models(reference_model, quantized_model, tokenizer, suite, *, model: str = "reference",
                   recipe: str = "quantized", batch_size: int = 16):
    """A ``Comparison`` of two models already in memory (a checkpoint quantized elsewhere, a model
    edited by hand) on ``suite``: both measured without probes, then ``compare``; no session."""
    from pytest_qfacts.compare import compare
    from pytest_qfacts.measure.plan import make_plan

    plan = make_plan(suite, (), batch_size=batch_size, lens_facts=0)
    base = RunInfo(model=model, suite=suite.name, suite_hash=suite.content_hash())
    ref = measure(reference_model, tokenizer, suite, plan, base)
    quant = measure(quantized_model, tokenizer, suite, plan, dataclasses.replace(base, recipe=recipe))
    return compare(ref, quant)
