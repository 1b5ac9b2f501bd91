"""Reading the ``twohop:`` section of a ``.qfacts.yaml`` file into a ``TwoHopSuite``.

``load_suite_text`` hands a file whose top level has ``twohop:`` here (a file holds
``relations`` or ``twohop``, not both). Errors name the
file, the line, the field path (``twohop[0].facts[3].e2``) and the item (its e1).
Keys (docs/twohop.md):

composition  name, r1, r2, template, mention, entrec_at, facts
r1 / r2      name, template
fact         e1, e2, e3, e2_aliases, e3_aliases, r1_e1, r2_e2, r2_r1_e1, mention
"""
from __future__ import annotations

from yaml.nodes import MappingNode, Node

from ..errors import SuiteError
from ._nodes import Reader, join, line_of
from .twohop_suite import ENTREC_AT, HOP_SUFFIX, Composition, ItemDraft, TwoHopSuite, make_item
from .yaml_header import suite_gate, suite_header

TOP_KEYS = ("qfacts", "name", "description", "twohop", "gate")  # a file has relations or twohop, not both
COMPOSITION_KEYS = ("name", "r1", "r2", "template", "mention", "entrec_at", "facts")
HOP_KEYS = ("name", "template")
FACT_KEYS = ("e1", "e2", "e3", "e2_aliases", "e3_aliases", "r1_e1", "r2_e2", "r2_r1_e1", "mention")
_ALIASES = "a list of strings such as [Paris City]"


def twohop_suite(r: Reader, root: MappingNode, version: int) -> TwoHopSuite:
    """The suite of a file whose top-level mapping ``root`` has ``twohop:`` (instead of ``relations:``)."""
    top = r.mapping(root, "", TOP_KEYS, "a two-hop suite")
    name, description = suite_header(r, top, root)
    gate = suite_gate(r, top)
    node = top["twohop"][1]
    nodes = r.sequence(node, "twohop", "a list of compositions (each with name, r1, r2, facts)")
    if not nodes:
        raise r.error(f"suite '{name}' has no facts: the list is empty; expected at least one composition", node, "twohop")
    compositions: list[Composition] = []
    seen: dict[str, int | None] = {}   # composition (and hop relation) name -> its line
    for i, c_node in enumerate(nodes):
        comp = _composition(r, c_node, f"twohop[{i}]")
        for taken in (comp.name, *(comp.name + s for s in HOP_SUFFIX.values() if s)):
            if taken in seen:
                raise r.error(f"duplicate composition name '{comp.name}' (relation '{taken}' first defined at line "
                              f"{seen[taken]}); composition names must be unique", c_node, f"twohop[{i}].name")
            seen[taken] = comp.line
        compositions.append(comp)
    return TwoHopSuite.build(name, compositions, gate, r.source, version, description)


def _placeholder_template(r: Reader, node: Node, field: str, what: str) -> str:
    """A string with {subject} once; templates (not mentions) are prompts, so must not end in whitespace."""
    expected = f"{what} containing {{subject}} once"
    text = r.string(node, field, expected) if what == "a mention" else r.prompt(node, field, expected, "template")
    if text.count("{subject}") != 1:
        raise r.error(f"{what} {text!r} must contain {{subject}} exactly once", node, field)
    return text


def _hop(r: Reader, node: Node, field: str) -> tuple[str, str | None]:
    m = r.mapping(node, field, HOP_KEYS, "a relation of the pair")
    if "name" not in m:
        raise r.error("missing required field; expected the relation's name", node, join(field, "name"))
    name = r.string(m["name"][1], join(field, "name"), "a relation name")
    template = _placeholder_template(r, m["template"][1], join(field, "template"), "a template") if "template" in m else None
    return name, template


def _composition(r: Reader, node: Node, field: str) -> Composition:
    m = r.mapping(node, field, COMPOSITION_KEYS, "a composition")
    for key, expected in (("name", "a composition name"), ("r1", "the first relation {name, template}"),
                          ("r2", "the second relation {name, template}"), ("facts", "a non-empty list of two-hop facts")):
        if key not in m:
            raise r.error(f"missing required field; expected {expected}", node, join(field, key))
    name = r.string(m["name"][1], join(field, "name"), "a composition name")
    r1, r1_template = _hop(r, m["r1"][1], join(field, "r1"))
    r2, r2_template = _hop(r, m["r2"][1], join(field, "r2"))
    template = _placeholder_template(r, m["template"][1], join(field, "template"), "a two-hop template") \
        if "template" in m else None
    mention = None
    if "mention" in m:
        mention = _placeholder_template(r, m["mention"][1], join(field, "mention"), "a mention")
        if template is not None and mention not in template:
            raise r.error(f"mention {mention!r} is not part of the template {template!r}; expected the words of the "
                          "template that describe e2, e.g. \"the country where {subject} stands\"",
                          m["mention"][1], join(field, "mention"))
    entrec_at = "mention_end"
    if "entrec_at" in m:
        entrec_at = r.string(m["entrec_at"][1], join(field, "entrec_at"), " or ".join(ENTREC_AT))
        if entrec_at not in ENTREC_AT:
            raise r.error(f"unknown value {entrec_at!r}; accepted: {', '.join(ENTREC_AT)}", m["entrec_at"][1],
                          join(field, "entrec_at"))
    comp = Composition(name, r1, r2, (), r1_template, r2_template, template, line_of(node))
    facts_field = join(field, "facts")
    fact_nodes = r.sequence(m["facts"][1], facts_field, "a list of facts such as [{e1: ..., e2: ..., e3: ...}]")
    if not fact_nodes:
        raise r.error(f"composition '{name}' has no facts; expected a non-empty list", m["facts"][1], facts_field)
    items = []
    seen: dict[str, int | None] = {}   # two-hop prompt -> the line of its first fact
    for j, f_node in enumerate(fact_nodes):
        f_field = f"{facts_field}[{j}]"
        draft, key_nodes = _fact(r, f_node, f_field)

        def error(message, key, _nodes=key_nodes, _node=f_node, _field=f_field, _e1=draft.e1):
            return SuiteError(f"composition '{name}', fact e1={_e1!r}: {message}", path=r.source,
                              line=line_of(_nodes.get(key, _node)), field=join(_field, key))

        item = make_item(draft, comp, mention, entrec_at, error)
        if item.r2_r1_e1 in seen:
            raise r.error(f"composition '{name}': duplicate two-hop prompt {item.r2_r1_e1!r} (first at line "
                          f"{seen[item.r2_r1_e1]}); list other answers in e3_aliases", f_node, f_field)
        seen[item.r2_r1_e1] = item.line
        items.append(item)
    return Composition(name, r1, r2, tuple(items), r1_template, r2_template, template, line_of(node))


def _fact(r: Reader, node: Node, field: str) -> tuple[ItemDraft, dict]:
    m = r.mapping(node, field, FACT_KEYS, "a two-hop fact")
    values: dict = {}
    for key, expected in (("e1", "the first entity (subject of r1)"), ("e2", "the bridge entity (answer of r1)"),
                          ("e3", "the answer (r2 of e2)")):
        if key not in m:
            raise r.error(f"missing required field; expected {expected} as a string", node, join(field, key))
        values[key] = r.string(m[key][1], join(field, key), f"{expected} as a string")
    for key in ("r1_e1", "r2_e2", "r2_r1_e1", "mention"):
        if key in m:
            values[key] = r.string(m[key][1], join(field, key), "the words of the two-hop prompt that describe e2") \
                if key == "mention" else r.prompt(m[key][1], join(field, key), "a prompt string")
            if "{subject}" in values[key]:
                raise r.error("a fact's own prompt or mention is used as written and must not contain {subject}",
                              m[key][1], join(field, key))
    for key in ("e2_aliases", "e3_aliases"):
        if key in m:
            a_field = join(field, key)
            values[key] = tuple(dict.fromkeys(r.string(a, f"{a_field}[{k}]", "a string (another accepted answer)")
                                              for k, a in enumerate(r.sequence(m[key][1], a_field, _ALIASES))))
    nodes = {key: value_node for key, (_, value_node) in m.items()}
    return ItemDraft(line=line_of(node), **values), nodes
