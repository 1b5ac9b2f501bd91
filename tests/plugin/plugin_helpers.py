"""Helpers of the plugin integration tests: the tiny-facts model, small suites, report parsing.

Tests that need weights use the ``tiny-facts`` fixture model and small suites cut
out of its one-hop suite (a few facts, so each inner pytest run takes seconds).
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest

import pytest_qfacts

TINY_DIR = Path(pytest_qfacts.__file__).parent / "fixtures" / "tiny_facts"
TINY_WEIGHTS = TINY_DIR / "model.safetensors"
TINY_ONEHOP = TINY_DIR / "onehop.qfacts.yaml"
TINY_TWOHOP = TINY_DIR / "twohop.qfacts.yaml"


def tiny_ready() -> bool:
    return TINY_WEIGHTS.is_file() and TINY_ONEHOP.is_file() and (TINY_DIR / "config.json").is_file()


#: Tests that load the tiny-facts model (skipped, with the reason, while its files are absent).
requires_tiny = pytest.mark.skipif(not tiny_ready(), reason="tiny-facts fixture model not built "
                                   f"(no {TINY_WEIGHTS.name} / {TINY_ONEHOP.name} in {TINY_DIR})")

MODEL = "--qfacts-model=tiny-facts"
CPU = "--qfacts-device=cpu"
#: 8-bit RTN keeps the tiny-facts answers; 2-bit RTN loses some (see lossy_yaml).
KEEP = "rtn-w8g64"
LOSE = "rtn-w2g64"


@functools.lru_cache(maxsize=None)
def _tiny_suite(path):
    from pytest_qfacts.suites import load_suite_file

    return load_suite_file(path)


def _onehop():
    return _tiny_suite(TINY_ONEHOP)


def onehop_relations() -> list[str]:
    return [r.name for r in _onehop().relations]


def suite_yaml(name: str = "small", relations=("country_capital", "city_country"), n: int = 3,
               gate: str | None = None, start: int = 0) -> str:
    """A valid ``.qfacts.yaml`` text with facts ``start:start+n`` of each named tiny-facts relation.

    Relations are taken from the one-hop suite, or from the two-hop suite for the names it has
    (``birthplace_country``, ``employer_country`` and their ``*_heldout`` relations).
    """
    onehop = _onehop()
    lines = ["qfacts: 1", f"name: {name}", "relations:"]
    for rel_name in relations:
        suite = onehop if rel_name in {r.name for r in onehop.relations} else _tiny_suite(TINY_TWOHOP)
        rel = suite.relation(rel_name)
        lines.append(f"  - name: {rel.name}")
        lines.append(f"    templates: {json.dumps(list(rel.templates))}")
        lines.append("    facts:")
        for fact in rel.facts[start:start + n]:
            lines.append(f"      - {{subject: {json.dumps(fact.subject)}, object: {json.dumps(fact.object)}}}")
    if gate:
        lines.append(f"gate: {gate}")
    return "\n".join(lines) + "\n"


def n_items(text: str) -> int:
    from pytest_qfacts.suites import load_suite_text

    return len(load_suite_text(text).items())


def read_report(path) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def summary_rows(lines: list[str]) -> list[str]:
    """The data rows of the "qfacts summary" table in a pytest output."""
    try:
        start = next(i for i, line in enumerate(lines) if re.fullmatch(r"=+ qfacts summary =+", line))
    except StopIteration:
        return []
    rows = []
    assert lines[start + 1].split()[:3] == ["model", "recipe", "suite"], lines[start + 1]
    assert set(lines[start + 2].replace(" ", "")) == {"-"}, lines[start + 2]
    for line in lines[start + 3:]:
        if not line.strip() or line.startswith(("=", "qfacts:")):
            break
        rows.append(line)
    return rows


def onehop_n_items() -> int:
    return len(_onehop().items())


@functools.lru_cache(maxsize=None)
def _w2_outcomes() -> dict[str, tuple[list, list]]:
    """Per tiny-facts relation: (lost, kept) (subject, object) pairs under rtn-w2g64.

    Computed once in this process with the plugin's own session. Only clear cases are
    kept (the reference's top-1 beats its runner-up by 0.5 nats; a kept fact's quantized
    top-1 too; a lost fact ranks >= 3 quantized), so that the verdicts do not hinge on
    last-bit differences between batchings.
    """
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings

    session = QFactsSession(Settings(model="tiny-facts", device="cpu", quiet=True))
    out: dict[str, tuple[list, list]] = {}
    try:
        for suite in (_onehop(), _tiny_suite(TINY_TWOHOP)):
            c = session.compare(suite, LOSE)
            ref_margin = c.reference.topk_logprobs[:, 0] - c.reference.topk_logprobs[:, 1]
            q_margin = c.quantized.topk_logprobs[:, 0] - c.quantized.topk_logprobs[:, 1]
            for i, item in enumerate(c.items):
                lost, kept = out.setdefault(item.relation, ([], []))
                if not (c.reference.top1[i] and ref_margin[i] > 0.5):
                    continue
                if c.quantized.gold_rank[i] >= 3:
                    lost.append((item.subject, item.object))
                elif c.quantized.top1[i] and q_margin[i] > 0.5:
                    kept.append((item.subject, item.object))
    finally:
        session.close()
    return out


def lossy_relations(k: int = 2) -> tuple[str, ...]:
    """The ``k`` tiny-facts relations where rtn-w2g64 loses the most facts (each loses at least one)."""
    ranked = sorted(_w2_outcomes().items(), key=lambda kv: -len(kv[1][0]))
    names = tuple(name for name, (lost, kept) in ranked if lost and len(kept) >= 4)[:k]
    assert len(names) == k, f"rtn-w2g64 loses facts in fewer than {k} tiny-facts relations"
    return names


def lossy_yaml(name: str = "lossy", relations: tuple[str, ...] | None = None, n_lost: int = 1, n_kept: int = 3,
               gate: str | None = None) -> str:
    """A suite whose relations each hold ``n_kept`` facts rtn-w2g64 keeps, then ``n_lost`` facts it loses.

    The reference knows every fact (top-1 100%). Relations without lost facts (e.g.
    ``country_capital``) get ``n_kept + n_lost`` kept facts.
    """
    outcomes = _w2_outcomes()
    lines = ["qfacts: 1", f"name: {name}", "relations:"]
    for rel_name in relations or lossy_relations():
        lost, kept = outcomes[rel_name]
        facts = kept[:n_kept] + lost[:n_lost] if lost else kept[:n_kept + n_lost]
        template = next(r for s in (_onehop(), _tiny_suite(TINY_TWOHOP)) for r in s.relations if r.name == rel_name).templates
        lines += [f"  - name: {rel_name}", f"    templates: {json.dumps(list(template))}", "    facts:"]
        lines += [f"      - {{subject: {json.dumps(s)}, object: {json.dumps(o)}}}" for s, o in facts]
    if gate:
        lines.append(f"gate: {gate}")
    return "\n".join(lines) + "\n"


def w2_lost_facts(relation: str) -> list[tuple[str, str]]:
    """(subject, object) of the facts of ``relation`` that rtn-w2g64 clearly loses (see _w2_outcomes)."""
    return _w2_outcomes()[relation][0]
