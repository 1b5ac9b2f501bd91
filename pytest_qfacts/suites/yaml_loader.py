"""Read ``*.qfacts.yaml`` suite files into :class:`Suite` objects, strictly.

YAML is parsed with a ``SafeLoader`` subclass via ``yaml.compose`` so every node
keeps its line; the first problem raises a ``SuiteError`` that names the file,
the line, the field path and what would be accepted.
"""
from __future__ import annotations

import re
from pathlib import Path

from yaml.nodes import MappingNode, Node, ScalarNode

from ..errors import SuiteError
from ._nodes import Reader, join, kind, line_of
from .schema import Fact, Relation, Suite
from .twohop_yaml import twohop_suite
from .yaml_header import suite_gate, suite_header

SUPPORTED_VERSIONS = (1,)
TOP_KEYS = ("qfacts", "name", "description", "relations", "gate")
RELATION_KEYS = ("name", "templates", "facts")
FACT_KEYS = ("subject", "object", "prompt", "aliases")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
_TEMPLATES = 'a list of templates such as ["The capital of {subject} is"]'
_ALIASES = "a list of strings such as [Manila City]"


def load_suite_file(path: str | Path) -> Suite:
    """Load and validate one ``.qfacts.yaml`` file."""
    p = Path(path)
    if not p.exists():
        raise SuiteError("suite file not found; expected a path to an existing .qfacts.yaml file", path=str(path))
    if p.is_dir():
        raise SuiteError("is a directory; expected a .qfacts.yaml file", path=str(path))
    try:
        text = p.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SuiteError(f"not UTF-8 text ({exc.reason} at byte {exc.start}); save the file as UTF-8", path=str(path)) from None
    except OSError as exc:
        raise SuiteError(f"cannot read file: {exc.strerror or exc}", path=str(path)) from None
    return load_suite_text(text, source=str(path))


def load_suite_text(text: str, source: str = "<string>") -> Suite:
    """Load and validate suite YAML given as a string; ``source`` names it in errors."""
    r = Reader(source)
    root = r.compose(text)
    if root is None:
        raise SuiteError("file is empty; expected a mapping that starts with 'qfacts: 1'", path=source)
    if not isinstance(root, MappingNode):
        raise r.error(f"the top level must be a mapping with keys {', '.join(TOP_KEYS)}; got {kind(root)}", root)
    version = _version(r, root)
    if any(getattr(key, "value", None) == "twohop" for key, _ in root.value):  # a two-hop suite (docs/twohop.md)
        return twohop_suite(r, root, version)
    top = r.mapping(root, "", TOP_KEYS, "a suite")
    name, description = suite_header(r, top, root)
    if "relations" not in top:
        raise r.error("missing required field; the suite has no facts. Expected a non-empty list of relations "
                      "(each with name, templates, facts)", root, "relations")
    rel_nodes = r.sequence(top["relations"][1], "relations", "a list of relations (each with name, templates, facts)")
    if not rel_nodes:
        raise r.error(f"suite '{name}' has no facts: the list is empty; expected at least one relation with facts",
                      top["relations"][1], "relations")
    relations: list[Relation] = []
    seen: dict[str, int | None] = {}
    for i, node in enumerate(rel_nodes):
        rel = _relation(r, node, f"relations[{i}]")
        if rel.name in seen:
            raise r.error(f"duplicate relation name '{rel.name}' (first defined at line {seen[rel.name]}); "
                          "relation names must be unique within a suite", node, f"relations[{i}].name")
        seen[rel.name] = rel.line
        relations.append(rel)
    gate = suite_gate(r, top)
    suite = Suite(name, tuple(relations), gate, source, version, description)
    if suite.n_facts == 0:  # unreachable with the checks above; kept as a guard
        raise SuiteError(f"suite '{name}' has no facts", path=source)
    return suite


def _version(r: Reader, root: MappingNode) -> int:
    supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
    for key_node, value_node in root.value:
        if isinstance(key_node, ScalarNode) and key_node.value == "qfacts":
            if not isinstance(value_node, ScalarNode) or value_node.tag != "tag:yaml.org,2002:int":
                raise r.error(f"expected the format version as an integer ({supported}), got {kind(value_node)}",
                              value_node, "qfacts")
            version = r.scalar(value_node)
            assert isinstance(version, int)  # the tag is int (checked above), so safe-loading gives an int
            if version not in SUPPORTED_VERSIONS:
                raise r.error(f"unsupported format version {version}; this pytest-qfacts reads qfacts: {supported}",
                              value_node, "qfacts")
            return version
    raise r.error(f"missing format version; add 'qfacts: 1' at the top (supported versions: {supported})",
                  root, "qfacts")


def _relation(r: Reader, node: Node, field: str) -> Relation:
    m = r.mapping(node, field, RELATION_KEYS, "a relation")
    name = r.string(r.required(m, "name", node, field, "a relation name"), join(field, "name"), "a relation name")
    templates: tuple[str, ...] = ()
    if "templates" in m:
        templates = _templates(r, m["templates"][1], join(field, "templates"))
    facts_field = join(field, "facts")
    fact_nodes = r.sequence(r.required(m, "facts", node, field, "a non-empty list of facts"), facts_field,
                            "a list of facts such as [{subject: France, object: Paris}]")
    if not fact_nodes:
        raise r.error(f"relation '{name}' has no facts; expected a non-empty list of facts", m["facts"][1], facts_field)
    facts: list[Fact] = []
    seen: dict[str, int | None] = {}
    for j, fact_node in enumerate(fact_nodes):
        fact = _fact(r, fact_node, f"{facts_field}[{j}]")
        if fact.prompt is None and not templates:
            raise r.error(f"missing; the fact at line {fact.line} ({facts_field}[{j}]) has no 'prompt', so relation "
                          f"'{name}' needs {_TEMPLATES}", node, join(field, "templates"))
        key = fact.prompt if fact.prompt is not None else f"subject:{fact.subject}"
        if key in seen:
            what = f"prompt {fact.prompt!r}" if fact.prompt is not None else f"subject {fact.subject!r}"
            raise r.error(f"duplicate fact: {what} is already at line {seen[key]}; list other accepted answers "
                          "in 'aliases' of that fact", fact_node, f"{facts_field}[{j}]")
        seen[key] = fact.line
        facts.append(fact)
    return Relation(name, templates, tuple(facts), line_of(node))


def _templates(r: Reader, node: Node, field: str) -> tuple[str, ...]:
    nodes = r.sequence(node, field, _TEMPLATES)
    if not nodes:
        raise r.error(f"is empty; expected {_TEMPLATES} (or remove the key when every fact has a prompt)", node, field)
    out: list[str] = []
    for k, t_node in enumerate(nodes):
        t_field = f"{field}[{k}]"
        text = r.prompt(t_node, t_field, "a template string containing {subject}", "template")
        count = text.count("{subject}")
        if count != 1:
            problem = "does not contain {subject}" if count == 0 else f"contains {{subject}} {count} times"
            raise r.error(f"template {text!r} {problem}; expected exactly one {{subject}}, "
                          "e.g. \"The capital of {subject} is\"", t_node, t_field)
        other = [p for p in _PLACEHOLDER.findall(text) if p != "{subject}"]
        if other:
            raise r.error(f"template {text!r} has unknown placeholder {other[0]}; only {{subject}} is accepted",
                          t_node, t_field)
        if text in out:
            raise r.error(f"duplicate template {text!r}; each template is scored once per fact", t_node, t_field)
        out.append(text)
    return tuple(out)


def _fact(r: Reader, node: Node, field: str) -> Fact:
    m = r.mapping(node, field, FACT_KEYS, "a fact")
    obj = r.string(r.required(m, "object", node, field, "the expected answer as a string"),
                   join(field, "object"), "a string (the expected answer)")
    subject = r.string(m["subject"][1], join(field, "subject")) if "subject" in m else None
    prompt = r.prompt(m["prompt"][1], join(field, "prompt"), "a string") if "prompt" in m else None
    if subject is None and prompt is None:
        raise r.error("a fact needs a 'subject' (filled into the relation's templates) or its own 'prompt'; "
                      "it has neither", node, field)
    if prompt is not None:
        p_node = m["prompt"][1]
        if "{subject}" in prompt:
            raise r.error("a fact's own prompt is used as written and must not contain {subject}; "
                          "put templates on the relation instead", p_node, join(field, "prompt"))
        if subject is not None and subject not in prompt:
            raise r.error(f"subject {subject!r} does not occur in the prompt {prompt!r}; with a prompt, the subject "
                          "only marks its span, so it must appear in the prompt (or drop 'subject')",
                          m["subject"][1], join(field, "subject"))
    aliases: list[str] = []
    if "aliases" in m:
        a_field = join(field, "aliases")
        for k, a_node in enumerate(r.sequence(m["aliases"][1], a_field, _ALIASES)):
            alias = r.string(a_node, f"{a_field}[{k}]", "a string (another accepted answer)")
            if alias != obj and alias not in aliases:
                aliases.append(alias)
    return Fact(obj, subject, prompt, tuple(aliases), line_of(node))
