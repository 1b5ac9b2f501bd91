"""Helpers of the plugin integration tests: the tiny-facts model, small suites, report parsing.

Tests that need weights use the ``tiny-facts`` fixture model and small suites cut
out of its one-hop / two-hop suites (a few facts, so each inner pytest run takes a
second). Which facts go into a suite is decided once per test session by scoring the
whole tiny-facts suites with the plugin's own session (``_tiny_outcomes``), so the
tests hold for any training of the fixture model: "known" facts are answered
right, with a clear margin, by the reference and by rtn-w8g64 and rtn-w2g64;
"lost" facts are known to the reference and rtn-w8g64 but clearly lost by rtn-w2g64.
"""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest

import pytest_qfacts

TINY_DIR = Path(pytest_qfacts.__file__).parent / "models" / "tiny_facts"
TINY_WEIGHTS = TINY_DIR / "model.safetensors"
TINY_ONEHOP = TINY_DIR / "onehop.qfacts.yaml"
TINY_TWOHOP = TINY_DIR / "twohop.qfacts.yaml"


def tiny_ready() -> bool:
    return all(p.is_file() for p in (TINY_WEIGHTS, TINY_ONEHOP, TINY_TWOHOP, TINY_DIR / "config.json"))


#: Tests that load the tiny-facts model (skipped, with the reason, while its files are absent).
requires_tiny = pytest.mark.skipif(not tiny_ready(), reason="tiny-facts fixture model not built "
                                   f"(no {TINY_WEIGHTS.name} / {TINY_ONEHOP.name} in {TINY_DIR})")

#: A one-fact suite in plain words (for tests that only collect or parse, without a model).
ONE_FACT_YAML = """
    qfacts: 1
    name: small
    relations:
      - name: capital
        templates: ["The capital of {subject} is"]
        facts: [{subject: France, object: Paris}]
"""

MODEL = "--qfacts-model=tiny-facts"
CPU = "--qfacts-device=cpu"
#: On the facts that suite_yaml picks, 8-bit RTN keeps every answer; 2-bit RTN loses those of lossy_yaml.
KEEP = "rtn-w8g64"
LOSE = "rtn-w2g64"
MARGIN = 0.5  # nats between the top-1 and the runner-up for an answer to count as "clear"


@functools.lru_cache(maxsize=None)
def _tiny_suite(path):
    from pytest_qfacts.suites import load_suite_file

    return load_suite_file(path)


def _onehop():
    return _tiny_suite(TINY_ONEHOP)


def _twohop():
    """The two-hop prompts of tiny-facts-twohop (relations <composition>, <composition>_heldout), without the hops."""
    return _tiny_suite(TINY_TWOHOP).two_hop_only()


def _relation(name: str):
    for suite in (_onehop(), _twohop()):
        for rel in suite.relations:
            if rel.name == name:
                return rel
    raise KeyError(name)


def onehop_relations() -> list[str]:
    return [r.name for r in _onehop().relations]


def onehop_n_items() -> int:
    return len(_onehop().items())


@functools.lru_cache(maxsize=None)
def _tiny_outcomes() -> dict[str, dict[str, list[tuple[str, str]]]]:
    """Per tiny-facts relation: {"known": [(subject, object)...], "lost": [...]} (see the module docstring)."""
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings

    session = QFactsSession(Settings(model="tiny-facts", device="cpu", quiet=True))
    out: dict[str, dict[str, list]] = {}
    try:
        for suite in (_onehop(), _twohop()):
            keep, lose = session.compare(suite, KEEP), session.compare(suite, LOSE)

            def clear(scores, i):
                return bool(scores.top1[i]) and scores.topk_logprobs[i, 0] - scores.topk_logprobs[i, 1] > MARGIN

            for i, item in enumerate(keep.items):
                groups = out.setdefault(item.relation, {"known": [], "lost": []})
                if not (clear(keep.reference, i) and clear(keep.quantized, i)):
                    continue
                if clear(lose.quantized, i):
                    groups["known"].append((item.subject, item.object))
                elif lose.quantized.gold_rank[i] >= 3:
                    groups["lost"].append((item.subject, item.object))
    finally:
        session.close()
    return out


def _yaml(name: str, relations: dict[str, list[tuple[str, str]]], gate: str | None) -> str:
    lines = ["qfacts: 1", f"name: {name}", "relations:"]
    for rel_name, facts in relations.items():
        lines += [f"  - name: {rel_name}", f"    templates: {json.dumps(list(_relation(rel_name).templates))}",
                  "    facts:"]
        lines += [f"      - {{subject: {json.dumps(s)}, object: {json.dumps(o)}}}" for s, o in facts]
    if gate:
        lines.append(f"gate: {gate}")
    return "\n".join(lines) + "\n"


def twohop_relations() -> list[str]:
    return [r.name for r in _twohop().relations]


def known_relations(k: int = 2, n: int = 3) -> tuple[str, ...]:
    """The first ``k`` tiny-facts relations (one-hop first) with at least ``n`` known facts."""
    names = tuple(name for name in onehop_relations() + twohop_relations()
                  if len(_tiny_outcomes()[name]["known"]) >= n)[:k]
    assert len(names) == k, f"tiny-facts has fewer than {k} relations with {n} known facts"
    return names


def suite_yaml(name: str = "small", relations=None, n: int = 3, gate: str | None = None, known: bool = True) -> str:
    """A ``.qfacts.yaml`` text with ``n`` facts of each named tiny-facts relation (default: known_relations(2, n)).

    ``known``: facts the reference, rtn-w8g64 and rtn-w2g64 all answer right (so every gate
    passes); otherwise the relation's first ``n`` facts, whatever the model makes of them.
    Relations come from the one-hop suite or the two-hop one (``*_heldout`` included).
    """
    if relations is None:
        relations = known_relations(2, n) if known else onehop_relations()[:2]
    chosen = {}
    for rel_name in relations:
        if known:
            facts = _tiny_outcomes()[rel_name]["known"][:n]
            assert len(facts) == n, f"tiny-facts knows fewer than {n} facts of {rel_name}"
        else:
            facts = [(f.subject, f.object) for f in _relation(rel_name).facts[:n]]
        chosen[rel_name] = facts
    return _yaml(name, chosen, gate)


def lossy_relations(k: int = 2) -> tuple[str, ...]:
    """The ``k`` tiny-facts relations where rtn-w2g64 loses the most facts (each with >= 3 known facts)."""
    ranked = sorted(_tiny_outcomes().items(), key=lambda kv: -len(kv[1]["lost"]))
    names = tuple(name for name, groups in ranked if groups["lost"] and len(groups["known"]) >= 3)[:k]
    assert len(names) == k, f"rtn-w2g64 clearly loses facts in fewer than {k} tiny-facts relations"
    return names


def w2_lost_facts(relation: str) -> list[tuple[str, str]]:
    """(subject, object) of the facts of ``relation`` that rtn-w2g64 clearly loses."""
    return _tiny_outcomes()[relation]["lost"]


def clean_relation() -> str:
    """A one-hop relation outside lossy_relations() with at least 4 known facts."""
    return next(name for name in onehop_relations()
                if name not in lossy_relations() and len(_tiny_outcomes()[name]["known"]) >= 4)


def lossy_yaml(name: str = "lossy", gate: str | None = None, clean: tuple[str, ...] = ()) -> str:
    """The lossy_relations(), each with 4 facts the reference knows: 3 known ones, then 1 that rtn-w2g64 loses.

    So under rtn-w2g64 each of them drops 25 points (lost 1 of 4), and nothing under rtn-w8g64.
    The ``clean`` relations come first, with 4 known facts each (no drop).
    """
    outcomes = _tiny_outcomes()
    chosen = {rel: outcomes[rel]["known"][:4] for rel in clean}
    chosen.update({rel: outcomes[rel]["known"][:3] + outcomes[rel]["lost"][:1] for rel in lossy_relations()})
    return _yaml(name, chosen, gate)


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
        cells = line.split()
        # model recipe suite facts ref% quant% drop pt lost gained p gate...
        if len(cells) < 12 or not cells[3].isdigit() or cells[7] != "pt":
            break
        rows.append(line)
    return rows
