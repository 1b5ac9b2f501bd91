"""Two-hop suites: facts ``e1 -r1-> e2 -r2-> e3`` and their three prompts (Yang et al. 2024).

A two-hop item holds the first hop ``r1(e1)`` (answer e2, the *bridge entity*), the
second hop ``r2(e2)`` (answer e3) and the two-hop prompt ``r2(r1(e1))`` (answer e3)
in which e2 is never named, only described: the *descriptive mention* of e2, e.g.
"the country where the Eiffel Tower stands" in "The capital of the country where
the Eiffel Tower stands is". ``mention_span`` is that mention's character span in
the two-hop prompt; EntRec reads the hidden state at its last token
(``entrec_at: mention_end``, the paper's choice) or at the prompt's last token
(``entrec_at: last_token``, for models that resolve the bridge only there).

A ``TwoHopSuite`` is a ``Suite`` whose relations are the expansion of its
compositions (relation pairs): for composition ``C``, relation ``C`` holds the
two-hop prompts, ``C.r1_e1`` the first hops and ``C.r2_e2`` the second hops, one
item each per two-hop item and in the same order, so the ordinary scorer, gates and
reports work on it unchanged and ``hop_indices()`` pairs the three prompts again.

YAML format (``twohop:`` instead of ``relations:``; see docs/twohop.md)::

    qfacts: 1
    name: capitals-twohop
    twohop:
      - name: landmark_country_capital
        r1: {name: landmark_in_country, template: "{subject} is in the country of"}
        r2: {name: country_capital, template: "The capital of {subject} is"}
        template: "The capital of the country where {subject} stands is"
        mention: "the country where {subject} stands"
        facts:
          - {e1: the Eiffel Tower, e2: France, e3: Paris}
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import overload

from ..errors import SuiteError
from .schema import Fact, Relation, Suite, evenly_spaced

HOPS = ("r2_r1_e1", "r1_e1", "r2_e2")  # the expanded relations of a composition, in this order
HOP_SUFFIX = {"r2_r1_e1": "", "r1_e1": ".r1_e1", "r2_e2": ".r2_e2"}
ENTREC_AT = ("mention_end", "last_token")


@dataclass(frozen=True)
class TwoHopItem:
    """One two-hop fact with its three prompts. ``mention_span`` indexes ``r2_r1_e1``."""

    composition: str
    r1: str
    r2: str
    e1: str
    e2: str
    e3: str
    r1_e1: str                  # first-hop prompt, answer e2
    r2_e2: str                  # second-hop prompt, answer e3
    r2_r1_e1: str               # two-hop prompt, answer e3
    mention_span: tuple[int, int]
    e2_aliases: tuple[str, ...] = ()
    e3_aliases: tuple[str, ...] = ()
    entrec_at: str = "mention_end"
    line: int | None = None

    @property
    def mention(self) -> str:
        """The descriptive mention of e2 inside the two-hop prompt."""
        return self.r2_r1_e1[self.mention_span[0]:self.mention_span[1]]

    @property
    def entrec_char_end(self) -> int:
        """EntRec reads the token that covers the character just before this offset."""
        return self.mention_span[1] if self.entrec_at == "mention_end" else len(self.r2_r1_e1.rstrip())


@dataclass(frozen=True)
class Composition:
    """A relation pair (r1, r2) and its two-hop items. Templates are kept when the
    prompts came from them (so the expanded relations are template-based)."""

    name: str
    r1: str
    r2: str
    items: tuple[TwoHopItem, ...]
    r1_template: str | None = None
    r2_template: str | None = None
    template: str | None = None
    line: int | None = None


@overload
def _fill(template: str, subject: str) -> str: ...
@overload
def _fill(template: None, subject: str) -> None: ...
@overload
def _fill(template: str | None, subject: str) -> str | None: ...
def _fill(template: str | None, subject: str) -> str | None:
    return None if template is None else template.replace("{subject}", subject)


def _hop_relation(name: str, template: str | None, facts: list[tuple[str, str, str, tuple[str, ...]]], line) -> Relation:
    """facts: (subject, object, prompt, aliases); a prompt equal to the filled template stays template-based."""
    out = []
    for subject, obj, prompt, aliases in facts:
        own = None if prompt == _fill(template, subject) else prompt
        out.append(Fact(obj, subject, own, aliases))
    return Relation(name, (template,) if template is not None else (), tuple(out), line)


def expand(compositions: tuple[Composition, ...]) -> tuple[Relation, ...]:
    """The relations ``C``, ``C.r1_e1``, ``C.r2_e2`` of every composition ``C`` (one item per two-hop item)."""
    relations = []
    for c in compositions:
        relations.append(_hop_relation(c.name, c.template, [(i.e1, i.e3, i.r2_r1_e1, i.e3_aliases) for i in c.items], c.line))
        relations.append(_hop_relation(c.name + HOP_SUFFIX["r1_e1"], c.r1_template,
                                       [(i.e1, i.e2, i.r1_e1, i.e2_aliases) for i in c.items], c.line))
        relations.append(_hop_relation(c.name + HOP_SUFFIX["r2_e2"], c.r2_template,
                                       [(i.e2, i.e3, i.r2_e2, i.e3_aliases) for i in c.items], c.line))
    return tuple(relations)


@dataclass(frozen=True)
class TwoHopSuite(Suite):
    """A suite of two-hop items; ``relations`` is ``expand(compositions)``. Build it with ``TwoHopSuite.build``."""

    compositions: tuple[Composition, ...] = ()

    @classmethod
    def build(cls, name: str, compositions, gate: dict | None = None, source: str = "<memory>", version: int = 1,
              description: str = "") -> TwoHopSuite:
        compositions = tuple(c for c in compositions if c.items)
        if not compositions:
            raise SuiteError(f"two-hop suite '{name}' has no facts", path=source)
        return cls(name, expand(compositions), dict(gate or {}), source, version, description, compositions)

    def twohop_items(self) -> list[TwoHopItem]:
        """Every two-hop item, composition by composition."""
        return [item for c in self.compositions for item in c.items]

    def hop_indices(self) -> dict:
        """For each hop (``r2_r1_e1``, ``r1_e1``, ``r2_e2``): the index in ``items()`` of every two-hop item's prompt
        (numpy int64 arrays)."""
        import numpy as np

        out: dict[str, list[int]] = {hop: [] for hop in HOPS}
        base = 0
        for c in self.compositions:
            n = len(c.items)
            for k, hop in enumerate(HOPS):
                out[hop].extend(range(base + k * n, base + (k + 1) * n))
            base += len(HOPS) * n
        return {hop: np.asarray(v, dtype=np.int64) for hop, v in out.items()}

    def two_hop_only(self) -> Suite:
        """A plain ``Suite`` of the two-hop prompts alone (relations named after the compositions)."""
        names = {c.name for c in self.compositions}
        return Suite(self.name, tuple(r for r in self.relations if r.name in names), self.gate, self.source,
                     self.version, self.description)

    @functools.cached_property
    def _content_hash(self) -> str:
        payload: list = [(i.relation, i.prompt, i.object, list(i.aliases)) for i in self.items()]
        payload.append([(t.mention_span, t.entrec_at) for t in self.twohop_items()])
        return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()[:16]

    def _with(self, compositions) -> TwoHopSuite:
        return TwoHopSuite.build(self.name, compositions, self.gate, self.source, self.version, self.description)

    def subset(self, relation_names: list[str]) -> TwoHopSuite:
        """The compositions named (by composition name or by any of its expanded relation names)."""
        wanted = set(relation_names)
        keep = [c for c in self.compositions if any(c.name + HOP_SUFFIX[h] in wanted for h in HOPS)]
        return self._with(keep)

    def sample(self, per_relation: int) -> TwoHopSuite:
        """At most ``per_relation`` two-hop items per composition, evenly spaced (as ``Suite.sample``)."""
        if per_relation < 1:
            raise ValueError(f"per_relation must be >= 1, got {per_relation}")
        out = []
        for c in self.compositions:
            out.append(Composition(c.name, c.r1, c.r2, tuple(evenly_spaced(c.items, per_relation)), c.r1_template,
                                   c.r2_template, c.template, c.line))
        return self._with(out)


def is_twohop(suite) -> bool:
    return isinstance(suite, TwoHopSuite)


def mention_span(prompt: str, mention: str) -> tuple[int, int] | None:
    """The first occurrence of ``mention`` in ``prompt`` as a (start, end) span, or None."""
    start = prompt.find(mention)
    return (start, start + len(mention)) if start >= 0 and mention else None


@dataclass
class ItemDraft:
    """What a loader knows about one two-hop item before validation (for ``make_item``)."""

    e1: str
    e2: str
    e3: str
    r1_e1: str | None = None
    r2_e2: str | None = None
    r2_r1_e1: str | None = None
    mention: str | None = None
    e2_aliases: tuple[str, ...] = ()
    e3_aliases: tuple[str, ...] = ()
    line: int | None = None


def make_item(draft: ItemDraft, comp: Composition, mention_template: str | None, entrec_at: str,
              error) -> TwoHopItem:
    """Fill the prompts from the composition's templates where the draft has none, and locate the mention.

    ``error(message, key)`` builds the SuiteError for the item's field ``key``.
    """
    prompts = {}
    for key, template, subject in (("r1_e1", comp.r1_template, draft.e1), ("r2_e2", comp.r2_template, draft.e2),
                                   ("r2_r1_e1", comp.template, draft.e1)):
        prompt = getattr(draft, key) or _fill(template, subject)
        if not prompt:
            where = {"r1_e1": "r1's template", "r2_e2": "r2's template", "r2_r1_e1": "the composition's template"}[key]
            raise error(f"fact (e1 {draft.e1!r}) has no '{key}' prompt and {where} is not given; give the prompt "
                        f"on the fact or a template with {{subject}}", key)
        prompts[key] = prompt
    two_hop = prompts["r2_r1_e1"]
    if draft.mention is not None:
        span = mention_span(two_hop, draft.mention)
        if span is None:
            raise error(f"mention {draft.mention!r} does not occur in the two-hop prompt {two_hop!r}; "
                        "expected the words of the prompt that describe e2", "mention")
    elif mention_template is not None:
        span = mention_span(two_hop, _fill(mention_template, draft.e1))
        if span is None:
            raise error(f"the composition's mention {_fill(mention_template, draft.e1)!r} does not occur in this "
                        f"fact's two-hop prompt {two_hop!r}; give the fact its own 'mention'", "mention")
    else:
        raise error(f"fact (e1 {draft.e1!r}) has no descriptive mention of e2: give 'mention' on the composition "
                    "(a part of its template with {subject}) or on the fact (a part of its two-hop prompt)", "mention")
    if two_hop[span[0]:span[1]].strip() == "":
        raise error("the mention is blank; expected the words that describe e2", "mention")
    return TwoHopItem(comp.name, comp.r1, comp.r2, draft.e1, draft.e2, draft.e3, prompts["r1_e1"], prompts["r2_e2"],
                      two_hop, span, tuple(a for a in draft.e2_aliases if a != draft.e2),
                      tuple(a for a in draft.e3_aliases if a != draft.e3), entrec_at, draft.line)
