"""Bounded YAML parsing: no suite file can make loading hang, exhaust memory or overflow the stack.

Three limits, each refused with a ``SuiteError`` that names the file, the line and the limit:

* characters: YAML forbids non-printable characters (``\\x07``, ``\\x7f``, ...); they are found
  with one regex pass before parsing, so the message can name their line and column;
* nesting: lists and mappings may nest at most ``MAX_DEPTH`` levels (a suite needs 6:
  relations > relation > facts > fact > aliases). The check runs while composing, before
  Python's recursion limit could be reached (the composer recurses once per level);
* unfolding: anchors/aliases (``&a`` / ``*a``) and ``<<`` merge keys let a few bytes stand for
  a tree that grows geometrically with each level (nine aliases of the level below, nine levels
  deep: 9**9 nodes from 620 bytes). ``unfolded(node) = 1 + sum(unfolded(child))`` is computed
  once per written node (memoised, no recursion), so the check is linear in the file; aliases
  may add at most ``max(MAX_ALIAS_NODES, written)`` nodes to the ``written`` ones, so what is
  read after parsing is at most twice what the file writes out, plus a constant.

Cost: parsing uses libyaml's event parser when PyYAML has it (about 0.5 s of CPU per MB of
suite; the pure-Python parser, the fallback, needs about 3 s per MB), the composer is PyYAML's
Python one with the depth hook; the unfolding pass only runs when the file has aliases.
"""
from __future__ import annotations

import re

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, SequenceNode
from yaml.resolver import Resolver

from ..errors import SuiteError

#: Deepest nesting of lists and mappings accepted (levels; a suite file needs 6).
MAX_DEPTH = 32
#: Nodes that anchors/aliases and '<<' merge keys may add to those written in the file (or, in a larger
#: file, as many as it writes out).
MAX_ALIAS_NODES = 10_000
#: Characters YAML does not allow in a document (YAML 1.1 "printable" set; PyYAML's Reader.NON_PRINTABLE).
NON_PRINTABLE = re.compile("[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010FFFF]")


class _BoundedComposer(Composer):
    """PyYAML's composer, counting written nodes and alias uses, refusing nesting deeper than MAX_DEPTH."""

    source = "<string>"

    def _start_counts(self) -> None:
        self.depth, self.written, self.alias_uses = 0, 0, 0

    def compose_node(self, parent, index):
        if self.check_event(AliasEvent):
            self.alias_uses += 1
            return super().compose_node(parent, index)
        self.depth += 1
        self.written += 1
        if self.depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise nesting_error(self.source, mark.line + 1)
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


class PureBoundedLoader(_BoundedComposer, yaml.SafeLoader):
    """PyYAML's pure-Python parser, the bounded composer, safe tags only (used when PyYAML lacks libyaml)."""

    def __init__(self, stream: str):
        yaml.SafeLoader.__init__(self, stream)
        self._start_counts()


if yaml.__with_libyaml__:
    from yaml._yaml import CParser

    class LibyamlBoundedLoader(_BoundedComposer, CParser, SafeConstructor, Resolver):
        """libyaml's event parser, the bounded Python composer, safe tags only."""

        def __init__(self, stream: str):
            CParser.__init__(self, stream)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self._start_counts()

    #: The loader suites are parsed with: libyaml's parser when PyYAML has it, else the pure-Python one.
    BoundedLoader: type[LibyamlBoundedLoader | PureBoundedLoader] = LibyamlBoundedLoader
else:  # pragma: no cover -- PyYAML built without libyaml
    BoundedLoader = PureBoundedLoader


def nesting_error(source: str, line: int) -> SuiteError:
    """The SuiteError for lists and mappings nested deeper than MAX_DEPTH, found at ``line`` (1-based)."""
    return SuiteError(f"lists and mappings nest more than {MAX_DEPTH} levels deep; the limit is {MAX_DEPTH} levels "
                      "and a suite needs at most 6 (relations > relation > facts > fact > aliases), so this is not "
                      "a suite file", path=source, line=line)


def refuse_unprintable(text: str, source: str) -> None:
    """Raise a SuiteError naming the line and column of the first character YAML does not allow."""
    found = NON_PRINTABLE.search(text)
    if found is None:
        return
    pos, code = found.start(), ord(found.group())
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    escape = f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"
    raise SuiteError(f"non-printable character U+{code:04X} at line {line}, column {column}: YAML does not allow it "
                     f"in a file; delete it, or write it as the escape \"{escape}\" inside a double-quoted string",
                     path=source, line=line)


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return list(node.value) if isinstance(node, SequenceNode) else []


def refuse_unfolding(root: Node, written: int, source: str) -> None:
    """Raise a SuiteError when aliases and merge keys unfold ``root`` to more than ``written + allowed`` nodes
    (``allowed = max(MAX_ALIAS_NODES, written)``), or when an alias refers to a node that
    contains it (it would unfold without end).

    Post-order walk with an explicit stack; ``size[id(node)]`` is the node's unfolded size, computed once.
    """
    allowed = max(MAX_ALIAS_NODES, written)
    limit = written + allowed
    size: dict[int, int] = {}
    open_ids: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            open_ids.discard(key)
            size[key] = 1 + sum(size[id(child)] for child in _children(node))
            if size[key] > limit:
                line = node.start_mark.line + 1
                raise SuiteError(f"anchors and aliases ('&name', '*name', '<<' merge keys) unfold the node at line "
                                 f"{line} into {size[key]:,} nodes, while the file writes out {written:,}; aliases may "
                                 f"add at most {allowed:,} nodes ({MAX_ALIAS_NODES:,}, or as many as the file writes "
                                 "out when that is more). Write the repeated parts out, or share less "
                                 "through aliases", path=source, line=line)
            continue
        if key in size:
            continue
        if key in open_ids:  # a back edge: the alias points at one of its own ancestors
            line = node.start_mark.line + 1
            raise SuiteError(f"an alias refers to the node at line {line} from inside that node, so it would unfold "
                             "without end; an alias ('*name') may only repeat a node defined before and outside it",
                             path=source, line=line)
        open_ids.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in reversed(_children(node)))
