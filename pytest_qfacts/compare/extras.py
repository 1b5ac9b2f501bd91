"""The run blocks of issue 5 added to every comparison: ``subsets``, ``paraphrase`` and, on a
two-hop suite, ``twohop`` (which needs one more forward per model, see trace/twohop.py).

``add_recall_extras`` is what ``QFactsSession.compare`` calls; ``compare_models`` does the
same for two models already in memory (a checkpoint quantized elsewhere, a model edited
by hand), without a session.
"""
from __future__ import annotations

from pytest_qfacts.compare.paraphrase import paraphrase_block
from pytest_qfacts.compare.subsets import subsets_block
from pytest_qfacts.suites.twohop import is_twohop


def recall_blocks(comparison) -> dict:
    """``subsets`` and ``paraphrase``: computed from the two models' scores alone."""
    return {"subsets": subsets_block(comparison),
            "paraphrase": paraphrase_block(comparison.items, comparison.reference, comparison.quantized)}


def add_recall_extras(session, suite, comparison, quantized) -> None:
    """Add the blocks to ``comparison.extras``; the reference's two-hop trace is cached per suite."""
    comparison.extras.update(recall_blocks(comparison))
    if not is_twohop(suite):
        return
    from pytest_qfacts.compare.twohop import spearman_across_runs, twohop_block
    from pytest_qfacts.trace.twohop import trace_twohop

    batch = session.settings.batch_size
    key = suite.content_hash()
    if key not in session.twohop_reference:
        reference = session.reference()
        with session.progress.step(f"two-hop EntRec/CnstScore [reference] on {suite.name}"):
            session.twohop_reference[key] = trace_twohop(reference.model, reference.tokenizer, suite.twohop_items(),
                                                         batch_size=batch)
    with session.progress.step(f"two-hop EntRec/CnstScore [{comparison.recipe}] on {suite.name}"):
        q_trace = trace_twohop(quantized.model, quantized.tokenizer, suite.twohop_items(), batch_size=batch)
    comparison.extras["twohop"] = twohop_block(suite, comparison.reference, comparison.quantized,
                                               session.twohop_reference[key], q_trace)
    runs = {c.recipe: c for (model, _, suite_hash), c in session.runs.items()
            if model == session.settings.model and suite_hash == key and "twohop" in c.extras}
    runs[comparison.recipe] = comparison
    if len(runs) > 1:  # Spearman over (composition, recipe) points of every recipe run so far
        across = spearman_across_runs({r: c.extras["twohop"] for r, c in runs.items()})
        for c in runs.values():
            c.extras["twohop"]["spearman_first_hop_across_recipes"] = across


def compare_models(reference_model, quantized_model, tokenizer, suite, *, model: str = "reference",
                   recipe: str = "quantized", batch_size: int = 16):
    """A ``Comparison`` of two loaded models on ``suite`` with the ``subsets``, ``paraphrase`` and
    (two-hop suites) ``twohop`` blocks in its extras; no probes."""
    from pytest_qfacts.compare.comparison import compare_scores
    from pytest_qfacts.scoring.scorer import score_items

    items = suite.items()
    ref = score_items(reference_model, tokenizer, items, batch_size=batch_size)
    quant = score_items(quantized_model, tokenizer, items, batch_size=batch_size)
    comparison = compare_scores(items, ref, quant, model=model, recipe=recipe, suite=suite.name,
                                suite_hash=suite.content_hash())
    comparison.extras.update(recall_blocks(comparison))
    if is_twohop(suite):
        from pytest_qfacts.compare.twohop import twohop_block
        from pytest_qfacts.trace.twohop import trace_twohop

        traces = [trace_twohop(m, tokenizer, suite.twohop_items(), batch_size=batch_size)
                  for m in (reference_model, quantized_model)]
        comparison.extras["twohop"] = twohop_block(suite, ref, quant, *traces)
    return comparison
