"""A ``Suite`` made of given ``FactItem``s (e.g. a robust or failure subset), scoring exactly those prompts."""
from __future__ import annotations

from .schema import Fact, FactItem, Relation, Suite


def suite_from_items(name: str, items: list[FactItem], description: str = "", source: str = "<subset>") -> Suite:
    """One relation per relation name (first-seen order); each item becomes a fact with its own prompt,
    so ``suite.items()`` gives back the same prompts, objects, aliases and subject spans."""
    by_relation: dict[str, list[Fact]] = {}
    for item in items:
        subject = item.subject if item.subject and item.subject in item.prompt else None
        by_relation.setdefault(item.relation, []).append(Fact(item.object, subject, item.prompt, item.aliases))
    relations = tuple(Relation(rel, (), tuple(facts)) for rel, facts in by_relation.items())
    return Suite(name, relations, {}, source, 1, description)
