"""Helpers of the suite-input tests: bad suite files, and running ``qfacts validate`` as a user would."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

#: Wall-clock seconds after which a child process counts as hung (a bomb that is not refused takes minutes).
HANG_SECONDS = 60
#: The levels and the fan-out of the merge-key bomb of issue 11: 9 levels of ``<<: [*a, *a, ...]`` x 9.
BOMB_LEVELS = 9
BOMB_FANOUT = 9


def write_suite(directory: Path, text: str, name: str = "suite.qfacts.yaml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def merge_bomb() -> str:
    """A relation that merges (``<<``) an anchor which merges the one below it nine times, nine levels deep:
    9**9 key/value pairs if unfolded, from a file under a kilobyte."""
    lines = ["qfacts: 1", "name: bomb", "relations:", "  - name: r", "    facts: [{subject: France, object: Paris}]",
             "    x0: &a0 {name: r}"]
    for level in range(1, BOMB_LEVELS + 1):
        refs = ", ".join([f"*a{level - 1}"] * BOMB_FANOUT)
        lines.append(f"    x{level}: &a{level} {{<<: [{refs}]}}")
    lines.append(f"    <<: *a{BOMB_LEVELS}")
    return "\n".join(lines) + "\n"


def alias_bomb() -> str:
    """The classic "billion laughs": plain anchors of lists, each list nine aliases of the one before."""
    lines = ["qfacts: 1", "name: laughs", "l0: &l0 [lol]"]
    for level in range(1, BOMB_LEVELS + 1):
        lines.append(f"l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * BOMB_FANOUT)}]")
    lines.append(f"relations: *l{BOMB_LEVELS}")
    return "\n".join(lines) + "\n"


def run_qfacts(*args: str) -> subprocess.CompletedProcess:
    """``qfacts ARGS`` in a child process (the installed console script, else ``python -m pytest_qfacts.cli``)."""
    script = Path(sys.executable).with_name("qfacts")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "pytest_qfacts.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=HANG_SECONDS)
