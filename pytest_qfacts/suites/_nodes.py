"""Typed access to YAML nodes (from ``yaml.compose``) with precise SuiteErrors.

Every helper takes the node, its field path (``relations[0].facts[2].object``)
and raises a ``SuiteError`` naming the file, line, field and what is accepted.
"""
from __future__ import annotations

import difflib

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from ..errors import SuiteError
from .yaml_bounds import BoundedLoader, nesting_error, refuse_unfolding, refuse_unprintable

_TAG = "tag:yaml.org,2002:"
# Scalar tags whose source text is taken verbatim where a string is expected.
_TEXT_TAGS = {_TAG + "str", _TAG + "int", _TAG + "float", _TAG + "timestamp"}
#: Why a prompt must not end in whitespace (the gold-token rule of scoring/encode.py).
PROMPT_END = ("the object is scored as the next token after the prompt, so the prompt must not end in a space "
              "(the gold token \" Paris\" carries its own space)")
_KINDS = {"null": "null (an empty value)", "bool": "a boolean", "int": "an integer", "float": "a number",
          "str": "a string", "timestamp": "a date", "map": "a mapping", "seq": "a list"}


def line_of(node: Node | None) -> int | None:
    """1-based line where ``node`` starts."""
    return node.start_mark.line + 1 if node is not None and node.start_mark else None


def kind(node: Node) -> str:
    """Human name of a node's YAML type, for 'got ...' messages."""
    short = node.tag[len(_TAG):] if node.tag.startswith(_TAG) else node.tag
    text = _KINDS.get(short, f"a value tagged {node.tag!r}")
    if isinstance(node, ScalarNode) and short in ("bool", "int", "float", "timestamp", "str"):
        value = node.value if len(node.value) <= 40 else node.value[:37] + "..."
        text += f" ({value!r})" if short == "str" else f" ({value})"
    return text


def join(parent: str, key: str) -> str:
    return f"{parent}.{key}" if parent else key


class Reader:
    """Reads nodes of one document; ``source`` is the file name used in errors."""

    def __init__(self, source: str):
        self.source = source
        self._ctor = SafeConstructor()

    def error(self, message: str, node: Node | None, field: str | None = None) -> SuiteError:
        return SuiteError(message, path=self.source, line=line_of(node), field=field or None)

    def compose(self, text: str) -> Node | None:
        """Parse ``text`` into a node tree, within the limits of ``yaml_bounds``; YAML errors become SuiteErrors."""
        refuse_unprintable(text, self.source)
        loader = BoundedLoader(text)
        loader.source = self.source
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as exc:
            raise self._syntax_error(exc, text) from None
        except yaml.YAMLError as exc:  # unmarked, e.g. a ReaderError
            raise SuiteError(f"not valid YAML: {exc}", path=self.source) from None
        finally:
            loader.dispose()
        if root is not None and loader.alias_uses:
            refuse_unfolding(root, loader.written, self.source)
        return root

    def _syntax_error(self, exc: yaml.MarkedYAMLError, text: str) -> SuiteError:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        if "another document" in problem:
            problem = "a second YAML document ('---') was found; a suite file holds exactly one document"
        elif exc.problem and exc.context:
            ctx_mark = exc.context_mark
            started = ""
            if ctx_mark is not None and mark is not None and ctx_mark.line != mark.line:
                started = f" started at line {ctx_mark.line + 1}, column {ctx_mark.column + 1}"
            problem = f"{problem} ({exc.context}{started})"
        if mark is None:
            return SuiteError(f"YAML syntax error: {problem}", path=self.source)
        if "maximum nesting depth" in problem:  # libyaml's own limit (1000 levels), met before the composer's
            return nesting_error(self.source, mark.line + 1)
        lines = text.split("\n")
        if mark.line < len(lines) and lines[mark.line][mark.column:mark.column + 1] == "\t" \
                and "tab" not in problem:
            problem += "; it is a tab, and YAML indents with spaces only"
        msg = f"YAML syntax error at line {mark.line + 1}, column {mark.column + 1}: {problem}"
        return SuiteError(msg, path=self.source, line=mark.line + 1)

    def mapping(self, node: Node, field: str, accepted: tuple[str, ...], what: str) -> dict[str, tuple[Node, Node]]:
        """``{key: (key_node, value_node)}``; rejects non-mappings, duplicate and unknown keys."""
        if not isinstance(node, MappingNode) or node.tag != _TAG + "map":
            raise self.error(f"expected {what} (a mapping with keys {', '.join(accepted)}), got {kind(node)}", node, field)
        own: list[tuple[Node, Node]] = []
        merged: list[tuple[Node, Node]] = []
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merged.extend(self._merged(value_node, field, {id(node)}))
            else:
                own.append((key_node, value_node))
        out: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in own:
            if not isinstance(key_node, ScalarNode):
                raise self.error(f"keys must be plain names, got {kind(key_node)}; accepted keys: {', '.join(accepted)}",
                                 key_node, field)
            key = str(key_node.value)
            if key in out:
                first = line_of(out[key][0])
                raise self.error(f"duplicate key '{key}' (first given at line {first}); give each key once",
                                 key_node, join(field, key))
            out[key] = (key_node, value_node)
        for key_node, value_node in merged:  # '<<' merge keys: own keys win, then earlier merges
            out.setdefault(str(key_node.value), (key_node, value_node))
        for key, (key_node, _) in out.items():
            if key not in accepted:
                close = difflib.get_close_matches(key, accepted, n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'? " if close else ""
                raise self.error(f"unknown key '{key}'; {hint}accepted keys: {', '.join(accepted)}", key_node, join(field, key))
        return out

    def _merged(self, node: Node, field: str, seen: set[int]) -> list[tuple[Node, Node]]:
        """The (key, value) pairs a '<<' merge key brings in, without changing the nodes."""
        sources = node.value if isinstance(node, SequenceNode) else [node]
        pairs: list[tuple[Node, Node]] = []
        for src in sources:  # earlier mappings win; in each, its own keys win over its merges
            if not isinstance(src, MappingNode) or id(src) in seen:
                raise self.error("a '<<' merge key needs a mapping (or a list of mappings) that does not contain itself",
                                 src, field)
            nested: list[tuple[Node, Node]] = []
            for key_node, value_node in src.value:
                if key_node.tag == _TAG + "merge":
                    nested.extend(self._merged(value_node, field, seen | {id(src)}))
                elif isinstance(key_node, ScalarNode):
                    pairs.append((key_node, value_node))
            pairs.extend(nested)
        return pairs

    def required(self, m: dict, key: str, parent: Node, field: str, expected: str) -> Node:
        """The value node of ``key`` in the checked mapping ``m`` (of ``parent``); missing -> SuiteError."""
        if key not in m:
            raise self.error(f"missing required field; expected {expected}", parent, join(field, key))
        return m[key][1]

    def sequence(self, node: Node, field: str, expected: str) -> list[Node]:
        if not isinstance(node, SequenceNode) or node.tag != _TAG + "seq":
            raise self.error(f"expected {expected}, got {kind(node)}", node, field)
        return list(node.value)

    def string(self, node: Node, field: str, expected: str = "a string", allow_empty: bool = False) -> str:
        """A string; integers, numbers and dates are kept as written (``1879`` -> ``"1879"``)."""
        if not isinstance(node, ScalarNode) or node.tag not in _TEXT_TAGS:
            hint = ""
            if isinstance(node, ScalarNode) and node.tag == _TAG + "bool":
                hint = f"; quote it to keep it as text: \"{node.value}\""
            raise self.error(f"expected {expected}, got {kind(node)}{hint}", node, field)
        text = str(node.value)
        if not allow_empty and not text.strip():
            raise self.error(f"must not be empty; expected {expected}", node, field)
        return text

    def prompt(self, node: Node, field: str, expected: str, what: str = "prompt") -> str:
        """A prompt or template: a string that must not end in whitespace (see PROMPT_END)."""
        text = self.string(node, field, expected)
        if text != text.rstrip():
            raise self.error(f"{what} {text!r} ends in whitespace; {PROMPT_END}: write {text.rstrip()!r}", node, field)
        return text

    def scalar(self, node: Node) -> object:
        """The Python value of a scalar node (safe tags only)."""
        try:
            return self._ctor.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.error(f"cannot read value: {getattr(exc, 'problem', exc)}", node) from None

    def boolean(self, node: Node, field: str) -> bool:
        if not isinstance(node, ScalarNode) or node.tag != _TAG + "bool":
            raise self.error(f"expected true or false, got {kind(node)}", node, field)
        return bool(self.scalar(node))

    def fraction(self, node: Node, field: str) -> float:
        """A number in [0, 1]."""
        expected = "a number between 0 and 1, e.g. 0.05"
        if not isinstance(node, ScalarNode) or node.tag not in (_TAG + "int", _TAG + "float"):
            raise self.error(f"expected {expected}, got {kind(node)}", node, field)
        number = self.scalar(node)
        assert isinstance(number, (int, float))  # the tag is int or float (checked above)
        value = float(number)
        if not 0.0 <= value <= 1.0:
            raise self.error(f"{node.value} is out of range; expected {expected}", node, field)
        return value
