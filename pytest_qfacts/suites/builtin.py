"""Built-in suites and ``load_suite``: one entry point for names and paths."""
from __future__ import annotations

import difflib
import functools
from pathlib import Path

from ..errors import SuiteError
from .lre import load_lre_file
from .schema import Suite
from .yaml_loader import load_suite_file

DATA_DIR = Path(__file__).parent / "data"
LRE_DIR = DATA_DIR / "lre"
TINY_FACTS_DIR = Path(__file__).parent.parent / "models" / "tiny_facts"
PARAREL_DIR = DATA_DIR / "pararel"
LRE_TWOHOP = "lre-twohop"  # composed from the LRE files (suites/lre_twohop.py)
TINY_FACTS = {"tiny-facts-onehop": "onehop.qfacts.yaml", "tiny-facts-twohop": "twohop.qfacts.yaml"}
YAML_SUFFIXES = (".yaml", ".yml")


def _builtin_paths() -> dict[str, Path]:
    """Name -> file of every built-in suite, in listing order (tiny facts only when present)."""
    paths = {"capitals": DATA_DIR / "capitals.qfacts.yaml"}
    paths.update({f"lre-{p.stem}": p for p in sorted(LRE_DIR.glob("*.json"))})
    paths[LRE_TWOHOP] = LRE_DIR / "landmark_in_country.json"
    paths.update({f"pararel-{p.stem}": p for p in sorted((PARAREL_DIR / "graphs_json").glob("*.jsonl"))})
    paths.update({name: TINY_FACTS_DIR / fname for name, fname in TINY_FACTS.items()})
    return paths


def list_builtin_suites() -> list[str]:
    """Names accepted by ``load_suite``: capitals, lre-<relation>, lre-twohop, pararel-<Pid>,
    tiny-facts-* (if installed)."""
    return [name for name, path in _builtin_paths().items() if path.is_file()]


def load_suite(name_or_path: str | Path) -> Suite:
    """Load a built-in suite by name, a ``.qfacts.yaml``/``.yml`` file, or an LRE ``.json`` file."""
    if isinstance(name_or_path, Path) or _looks_like_path(str(name_or_path)):
        return _load_path(Path(name_or_path), str(name_or_path))
    name = str(name_or_path).strip()
    if name in _builtin_paths():
        return _load_builtin(name)
    names = list_builtin_suites()
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"did you mean '{close[0]}'? " if close else ""
    raise SuiteError(f"unknown suite {name!r}; {hint}built-in suites: {', '.join(names)}. "
                     "A path to a .qfacts.yaml file (or an LRE .json file) is also accepted")


def _looks_like_path(text: str) -> bool:
    return text.lower().endswith((*YAML_SUFFIXES, ".json", ".csv")) or "/" in text or "\\" in text


def _load_path(path: Path, shown: str) -> Suite:
    suffix = path.suffix.lower()
    if not path.exists():
        raise SuiteError("suite file not found; expected an existing .qfacts.yaml, .yml or LRE .json file", path=shown)
    if suffix in YAML_SUFFIXES:
        return load_suite_file(path)
    if suffix == ".json":
        return load_lre_file(path)
    if suffix == ".csv":  # a TwoHopFact CSV (suites/twohop_fact.py)
        from .twohop_fact import load_twohop_fact_csv

        return load_twohop_fact_csv(path)
    raise SuiteError(f"unsupported suite file type {suffix or '(no extension)'!r}; expected .qfacts.yaml / .yml "
                     "(qfacts format), .json (LRE relation file) or .csv (TwoHopFact)", path=shown)


@functools.cache
def _load_builtin(name: str) -> Suite:
    path = _builtin_paths()[name]
    if not path.is_file():
        raise SuiteError(f"built-in suite {name!r} is not installed: its file is missing", path=str(path))
    if name == LRE_TWOHOP:
        from .lre_twohop import lre_twohop_suite

        return lre_twohop_suite(LRE_DIR)
    if name.startswith("pararel-"):
        from .pararel import load_pararel

        return load_pararel(path.stem, PARAREL_DIR)
    return load_lre_file(path) if path.suffix == ".json" else load_suite_file(path)
