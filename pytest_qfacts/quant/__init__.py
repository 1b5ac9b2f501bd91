"""Quantization recipes and the registry of backends.

A recipe is a short string (``rtn-w4g64-sym``) that exactly one backend
recognises. Adding a backend = one file defining a ``QuantBackend`` subclass
plus one line in ``BUILTIN_BACKENDS`` below, or, from another package, an entry
point in the group ``pytest_qfacts.backends`` naming the subclass (or an
instance): ``[project.entry-points."pytest_qfacts.backends"] mine =
"my_pkg.backend:MyBackend"``. Nothing here imports torch or any quantization
library at import time.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable

from pytest_qfacts.errors import RecipeError
from pytest_qfacts.quant.awq import AWQBackend
from pytest_qfacts.quant.base import BackendUnavailable, QuantBackend, QuantResult, Recipe, packed_weight_bytes
from pytest_qfacts.quant.bnb import BnbBackend
from pytest_qfacts.quant.checkpoint import CheckpointBackend
from pytest_qfacts.quant.gptq import GPTQBackend
from pytest_qfacts.quant.hqq import HQQBackend
from pytest_qfacts.quant.quanto import QuantoBackend
from pytest_qfacts.quant.rtn import RTNBackend
from pytest_qfacts.quant.torchao import TorchAOBackend

__all__ = ["BACKENDS", "BackendUnavailable", "QuantBackend", "QuantResult", "Recipe", "backend_for",
           "check_available", "describe_backends", "packed_weight_bytes", "parse_recipe", "quantize",
           "split_recipes"]

ENTRY_POINT_GROUP = "pytest_qfacts.backends"

BUILTIN_BACKENDS: list[QuantBackend] = [
    RTNBackend(),
    BnbBackend(),
    GPTQBackend(),
    AWQBackend(),
    HQQBackend(),
    TorchAOBackend(),
    QuantoBackend(),
    CheckpointBackend(),
]


def _plugin_backends() -> list[QuantBackend]:
    """Backends of other packages (entry-point group ``pytest_qfacts.backends``), by entry-point name."""
    from importlib.metadata import entry_points

    found = []
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        loaded = entry.load()
        backend = loaded() if isinstance(loaded, type) else loaded
        if not isinstance(backend, QuantBackend):
            raise RecipeError(f"entry point '{entry.name}' of group {ENTRY_POINT_GROUP} ({entry.value}) is not a "
                              "QuantBackend subclass or instance")
        found.append(backend)
    return found


#: every backend, built-ins first; the first that recognises a recipe takes it
BACKENDS: list[QuantBackend] = [*BUILTIN_BACKENDS, *_plugin_backends()]


def describe_backends() -> str:
    """One line per backend: grammar, library, availability (for help and errors)."""
    lines = []
    for b in BACKENDS:
        ok, reason = b.available()
        state = "available" if ok else f"NOT available: {reason}"
        eg = f"; e.g. {', '.join(b.examples[:3])}" if b.examples else ""
        lines.append(f"  {b.grammar}  ({b.library}; {state}{eg})")
    return "\n".join(lines)


def _suggest(text: str) -> str | None:
    t = text.strip().lower()
    candidates: list[str] = []
    rest = t.split("-", 1)[1] if "-" in t else ""
    for b in BACKENDS:
        candidates.extend(b.examples)
        candidates.append(b.name)
        if rest:
            candidates.append(f"{b.name}-{rest}")  # the user's suffix on a known backend
    valid = []
    for c in dict.fromkeys(candidates):
        try:
            if parse_recipe(c, _suggest_on_error=False) is not None:
                valid.append(c)
        except RecipeError:
            pass
    best = difflib.get_close_matches(t, valid, n=1, cutoff=0.4)
    return best[0] if best else None


def parse_recipe(text: str | Recipe, *, _suggest_on_error: bool = True) -> Recipe:
    """Parse a recipe string with the first backend that recognises it.

    Raises ``RecipeError``: the backend's own message when the text is one of its
    recipes but malformed; otherwise an "unknown recipe" message listing every
    backend's grammar, what is available here, and the closest valid recipe.
    """
    if isinstance(text, Recipe):
        return text
    if not isinstance(text, str) or not text.strip():
        raise RecipeError(f"empty quantization recipe {text!r}; recipes look like:\n"
                          + describe_backends())
    for backend in BACKENDS:
        recipe = backend.parse(text)
        if recipe is not None:
            return recipe
    msg = f"unknown quantization recipe '{text.strip()}'"
    if _suggest_on_error:
        guess = _suggest(text)
        if guess:
            msg += f"; did you mean '{guess}'?"
    avail = [b.name for b in BACKENDS if b.available()[0]]
    msg += ("\nrecipe grammars:\n" + describe_backends()
            + f"\nbackends available in this environment: {', '.join(avail) or 'none'}")
    raise RecipeError(msg)


def backend_for(recipe: str | Recipe) -> QuantBackend:
    """The backend instance that handles ``recipe`` (a string is parsed first)."""
    recipe = parse_recipe(recipe)
    for backend in BACKENDS:
        if backend.name == recipe.backend:
            return backend
    raise RecipeError(f"recipe '{recipe.text}' names backend '{recipe.backend}', which is not "
                      f"registered; registered: {', '.join(b.name for b in BACKENDS)}")


def check_available(recipe: str | Recipe) -> QuantBackend:
    """The backend of ``recipe``; raises ``BackendUnavailable`` (naming the install command) when its
    library is not installed, so callers can skip before copying any weights."""
    recipe = parse_recipe(recipe)
    backend = backend_for(recipe)
    ok, reason = backend.available()
    if not ok:
        raise BackendUnavailable(f"cannot apply recipe '{recipe.text}': {reason}")
    return backend


def quantize(model, recipe: str | Recipe, **ctx) -> QuantResult:
    """Quantize ``model`` with ``recipe``; ``ctx``: tokenizer, calibration, device.

    Raises ``RecipeError`` when the recipe is unknown or cannot be applied, and its
    subclass ``BackendUnavailable`` when the recipe's library is missing (or fails to import).
    """
    recipe = parse_recipe(recipe)
    backend = check_available(recipe)
    try:
        return backend.quantize(model, recipe, **ctx)
    except BackendUnavailable as err:
        if str(err).startswith(f"cannot apply recipe '{recipe.text}'"):
            raise
        raise BackendUnavailable(f"cannot apply recipe '{recipe.text}': {err}") from err.__cause__


def split_recipes(text: str | Iterable[str]) -> list[str]:
    """``"a, b"`` -> ``["a", "b"]``; an iterable of such strings is flattened.

    Blanks around items are stripped. An empty item (``"a,,b"``, ``""``) or a
    duplicate (compared case-insensitively) raises ``RecipeError``.
    """
    parts = [text] if isinstance(text, str) else list(text)
    out: list[str] = []
    seen: set[str] = set()
    for part in parts:
        for i, item in enumerate(str(part).split(","), 1):
            item = item.strip()
            if not item:
                raise RecipeError(f"empty recipe (item {i}) in recipe list '{part}'; "
                                  f"give comma-separated recipes such as 'rtn-w8g128,rtn-w4g128'")
            if item.lower() in seen:
                raise RecipeError(f"recipe '{item}' is listed more than once in the recipe list "
                                  f"{', '.join(map(str, parts))!r}; list each recipe once")
            seen.add(item.lower())
            out.append(item)
    return out
