"""The in-memory form of a fact suite: plain frozen dataclasses.

A *suite* holds *relations*; a relation holds *facts*. Each (fact, template) pair
becomes one scored ``FactItem``: a relation with two templates scores every fact
twice, once per phrasing. A fact that gives its own ``prompt`` is scored once.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fact:
    """One (subject, object) fact. ``prompt`` is set when the fact brings its own prompt."""

    object: str
    subject: str | None = None
    prompt: str | None = None
    aliases: tuple[str, ...] = ()
    line: int | None = None  # line in the YAML file, for messages


@dataclass(frozen=True)
class Relation:
    name: str
    templates: tuple[str, ...]
    facts: tuple[Fact, ...]
    line: int | None = None


@dataclass(frozen=True)
class FactItem:
    """One prompt to score: the unit of recall.

    ``subject_span`` is the (start, end) character span of the subject inside
    ``prompt`` (None when the fact gave its own prompt without a subject).
    """

    relation: str
    subject: str | None
    object: str
    prompt: str
    aliases: tuple[str, ...] = ()
    template_index: int = 0
    subject_span: tuple[int, int] | None = None

    @property
    def answers(self) -> tuple[str, ...]:
        """The object and its aliases: any of them counts as correct."""
        return (self.object, *self.aliases)


@dataclass(frozen=True)
class Suite:
    name: str
    relations: tuple[Relation, ...]
    gate: dict = field(default_factory=dict)
    source: str = "<memory>"
    version: int = 1
    description: str = ""

    def items(self) -> list[FactItem]:
        """Expand every (fact, template) into a ``FactItem``, in file order."""
        return list(self._items)

    @functools.cached_property
    def _items(self) -> tuple[FactItem, ...]:
        # a Suite is frozen, so its expansion and hash are computed once per object
        out: list[FactItem] = []
        for rel in self.relations:
            for fact in rel.facts:
                if fact.prompt is not None:
                    out.append(FactItem(rel.name, fact.subject, fact.object, fact.prompt, fact.aliases, -1,
                                        _span(fact.prompt, fact.subject)))
                    continue
                for t_index, template in enumerate(rel.templates):
                    prompt = template.replace("{subject}", fact.subject or "")
                    start = template.find("{subject}")
                    span = (start, start + len(fact.subject or "")) if start >= 0 else None
                    out.append(FactItem(rel.name, fact.subject, fact.object, prompt, fact.aliases, t_index, span))
        return tuple(out)

    @property
    def n_facts(self) -> int:
        return sum(len(r.facts) for r in self.relations)

    def content_hash(self) -> str:
        """sha256 over the scored items (prompts, objects, aliases): changes when any fact changes."""
        return self._content_hash

    @functools.cached_property
    def _content_hash(self) -> str:
        payload = [(i.relation, i.prompt, i.object, list(i.aliases)) for i in self.items()]
        return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()[:16]

    def relation(self, name: str) -> Relation:
        for rel in self.relations:
            if rel.name == name:
                return rel
        raise KeyError(name)

    def subset(self, relation_names: list[str]) -> Suite:
        keep = tuple(r for r in self.relations if r.name in set(relation_names))
        return Suite(self.name, keep, self.gate, self.source, self.version, self.description)

    def sample(self, per_relation: int) -> Suite:
        """A deterministic, stratified sample: at most ``per_relation`` facts of every relation,
        evenly spaced over the relation's facts in file order (see ``evenly_spaced``)."""
        if per_relation < 1:
            raise ValueError(f"per_relation must be >= 1, got {per_relation}")
        relations = []
        for rel in self.relations:
            relations.append(Relation(rel.name, rel.templates, tuple(evenly_spaced(rel.facts, per_relation)), rel.line))
        return Suite(self.name, tuple(relations), self.gate, self.source, self.version, self.description)


def evenly_spaced(seq, k: int | None) -> list:
    """At most ``k`` elements of ``seq`` in order, evenly spaced: indices round(i * (n - 1) / (k - 1)) for i < k,
    so the first and the last are kept (all of ``seq`` when k is None or n <= k; the first alone when k <= 1)."""
    n = len(seq)
    if k is None or n <= k:
        return list(seq)
    if k <= 1:
        return list(seq[:1])
    return [seq[round(i * (n - 1) / (k - 1))] for i in range(k)]


def _span(prompt: str, subject: str | None) -> tuple[int, int] | None:
    if not subject:
        return None
    start = prompt.rfind(subject)
    return (start, start + len(subject)) if start >= 0 else None
