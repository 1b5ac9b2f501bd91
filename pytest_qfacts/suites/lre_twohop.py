"""The built-in two-hop suite ``lre-twohop``: LRE relation pairs where r1's object is r2's subject.

Each composition joins two packaged LRE relations (``suites/data/lre``) on the bridge
entity: e2 = r1(e1) must be a subject of r2 (exact string, or one of r1's alias objects).
Prompts:

* r1(e1): the r1 template below (one of r1's LRE templates) with e1;
* r2(e2): the r2 template below with e2;
* r2(r1(e1)): the same r2 template with e2 replaced by a descriptive mention of e2 built
  from e1 (``MENTIONS``), e.g. "The capital city of the country where Eiffel Tower is
  located is"; the mention is the span EntRec reads at.

Items whose bridge e2 or answer e3 (or an alias of e3) already appears in the two-hop
prompt are dropped (the bridge would be named, not recalled; the answer could be copied).
``max_per_composition`` keeps that many items, evenly spaced in LRE file order
(deterministic); the built-in uses 50.
"""
from __future__ import annotations

from pathlib import Path

from .lre import load_lre_file
from .schema import evenly_spaced
from .twohop_suite import Composition, TwoHopItem, TwoHopSuite

#: r1 relation -> the descriptive mention of its object, with {} for e1
MENTIONS = {
    "landmark_in_country": "the country where {} is located",
    "city_in_country": "the country where {} is located",
    "food_from_country": "the country that {} comes from",
    "product_by_company": "the company that created {}",
    "person_father": "the father of {}",
}
#: r1 relation -> the template of r1(e1) (one of its LRE templates), {} = e1
R1_TEMPLATES = {
    "landmark_in_country": "{} is in the country of",
    "city_in_country": "{} is in the country of",
    "food_from_country": "{} is from the country of",
    "product_by_company": "{} was created by",
    "person_father": "{}'s father is named",
}
#: r2 relation -> the template used for r2(e2) and r2(r1(e1)), {} = e2 or its mention
R2_TEMPLATES = {
    "country_capital_city": "The capital city of {} is",
    "country_language": "People in {} speak",
    "country_currency": "The official currency of {} is the",
    "country_largest_city": "The largest city in {} is",
    "company_ceo": "The CEO of {} is",
    "person_mother": "The mother of {} is named",
}
#: (composition, r1, r2)
COMPOSITIONS = (
    ("landmark_country_capital", "landmark_in_country", "country_capital_city"),
    ("landmark_country_language", "landmark_in_country", "country_language"),
    ("landmark_country_currency", "landmark_in_country", "country_currency"),
    ("landmark_country_largest_city", "landmark_in_country", "country_largest_city"),
    ("food_country_capital", "food_from_country", "country_capital_city"),
    ("food_country_language", "food_from_country", "country_language"),
    ("food_country_currency", "food_from_country", "country_currency"),
    ("city_country_capital", "city_in_country", "country_capital_city"),
    ("city_country_language", "city_in_country", "country_language"),
    ("city_country_currency", "city_in_country", "country_currency"),
    ("product_company_ceo", "product_by_company", "company_ceo"),
    ("person_father_mother", "person_father", "person_mother"),
)
BUILTIN_MAX_PER_COMPOSITION = 50


def _insert(template: str, text: str, capitalize: bool = False) -> str:
    """Fill ``{}``; ``capitalize``: upper-case a mention that starts the sentence ("the father of" -> "The ...")."""
    filled = template.replace("{}", text)
    return filled[0].upper() + filled[1:] if capitalize and template.startswith("{}") else filled


def compose(name: str, r1: str, r2: str, lre_dir: Path, max_items: int | None) -> Composition:
    first, second = load_lre_file(lre_dir / f"{r1}.json"), load_lre_file(lre_dir / f"{r2}.json")
    r1_template = R1_TEMPLATES[r1]
    hop2 = {f.subject: f for f in second.relations[0].facts}
    r2_template, mention = R2_TEMPLATES[r2], MENTIONS[r1]
    items = []
    for fact in first.relations[0].facts:
        assert fact.subject is not None  # load_lre_file gives every LRE fact its subject
        e2 = next((a for a in (fact.object, *fact.aliases) if a in hop2), None)
        if e2 is None:
            continue
        e3 = hop2[e2]
        mention_text = mention.replace("{}", fact.subject)
        two_hop = _insert(r2_template, mention_text, capitalize=True)
        if any(name in two_hop for name in (e2, e3.object, *e3.aliases)):
            continue  # the bridge would be named (Mexico City -> Mexico), or the answer copied
        start = two_hop.lower().find(mention_text.lower())
        items.append(TwoHopItem(name, r1, r2, fact.subject, e2, e3.object, _insert(r1_template, fact.subject),
                                _insert(r2_template, e2), two_hop, (start, start + len(mention_text)),
                                tuple(a for a in (fact.object, *fact.aliases) if a != e2), e3.aliases))
    return Composition(name, r1, r2, tuple(evenly_spaced(items, max_items)))


def lre_twohop_suite(lre_dir: str | Path, max_per_composition: int | None = BUILTIN_MAX_PER_COMPOSITION) -> TwoHopSuite:
    """The ``lre-twohop`` suite from the LRE files in ``lre_dir`` (see the module docstring)."""
    lre_dir = Path(lre_dir)
    comps = [compose(name, r1, r2, lre_dir, max_per_composition) for name, r1, r2 in COMPOSITIONS]
    desc = (f"two-hop facts composed from LRE relation pairs ({len(comps)} compositions, at most "
            f"{max_per_composition} items each), after Yang et al. 2024 / TwoHopFact")
    return TwoHopSuite.build("lre-twohop", comps, {}, str(lre_dir), 1, desc)
