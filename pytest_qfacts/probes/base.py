"""The probe protocol: what one probe module declares.

``Recording``: arrays filled by forward hooks during the scoring forward.
  ``allocate(ctx)`` returns the empty arrays (name -> ndarray, first fact axis as the
  probe chooses); ``hooks(ctx)`` returns ``(module, kind, fn)`` triples, ``kind`` being
  ``"forward"`` (``fn(module, args, output)``) or ``"pre"`` (``fn(module, args)``). Several
  probes may share one recording (``lens``, ``cka`` and ``svd`` share the residual stream):
  it is allocated and hooked once per forward.

The measuring context ``ctx`` (built by ``trace/tracer.py``) offers:
  ``ctx.layout``     the model's parts found by structure (decoder layers, attn, mlp, gate,
                     down, final norm, unembedding)
  ``ctx.n_items``, ``ctx.n_layers``, ``ctx.hidden``, ``ctx.d_ff``
  ``ctx.arrays``     the run's arrays, where hooks write
  ``ctx.batch``      the current batch: ``index`` (fact indices, numpy), ``start`` (first real
                     token per row), ``rows(tensor, "last" | "subj")`` (the rows at the last
                     prompt token / last subject token), ``u_gold()`` (unembedding rows of each
                     fact's first gold token, scaled by the final norm's weight)
  ``ctx.lens_gold_stats(resid, gold, max_facts)``   the logit lens of ``trace/lens.py``
  ``ctx.lens_facts`` facts the lens covers (0 = all)

``Probe.compare(reference_run, quantized_run)`` returns a ``ProbeBlock``: entries for the
report's per-layer table (``layers``), the probe's own report block (``block``, under the
probe's name, or None) and verdict evidence (``evidence``). It is pure: arrays in, numbers out.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Recording:
    """Arrays filled by hooks in the scoring forward (see the module docstring)."""

    name: str
    allocate: Callable[[Any], dict]
    hooks: Callable[[Any], list]
    eager_attention: bool = False   # switch the model to eager attention for the pass (attention weights)


@dataclass
class ProbeBlock:
    """What one probe adds to a comparison."""

    layers: dict = field(default_factory=dict)
    block: dict | None = None
    evidence: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Probe:
    """One probe (see the module docstring). ``in_pass``: recorded in the scoring forward;
    otherwise the probe needs passes of its own (``measure/extra_passes.py``)."""

    name: str
    summary: str
    recordings: tuple[Recording, ...] = ()
    storage: Mapping[str, str] = field(default_factory=dict)   # array name or "prefix." -> encoding
    finish: Callable[[Any, Any], dict] | None = None            # (ctx, FactScores) -> more arrays, model still loaded
    compare: Callable[[Any, Any], ProbeBlock] | None = None
    assertion: Callable | None = None
    in_pass: bool = True
    arrays: tuple[str, ...] = ()                                # arrays the compare step reads (for "recorded?")

    def encoding_of(self, array_name: str) -> str | None:
        for key, enc in self.storage.items():
            if array_name == key or (key.endswith(".") and array_name.startswith(key)):
                return enc
        return None


class ProbeGateFailure(AssertionError):
    """A mechanistic-probe assertion did not hold; the message names layers and numbers."""


def header(result) -> str:
    """``model [recipe] on suite 'name'``: how failure messages name a comparison."""
    return f"{result.model} [{result.recipe}] on suite '{result.suite}'"


def need_block(result, section: str, key: str | None, probe: str):
    """``result``'s block ``section`` (or its entry ``key``); a clear failure naming the probe when absent."""
    data = result.layers if section == "layers" else result.block(section)
    if data is None or (key is not None and key not in data):
        name = f"{section}.{key}" if key else section
        raise ProbeGateFailure(
            f"{result.model} [{result.recipe}] on '{result.suite}' has no '{name}': it needs the '{probe}' probe; "
            f"compare with qfacts_pair.compare(suite, probes=[..., '{probe}']) or run with --qfacts-probes=all")
    return data if key is None else data[key]
