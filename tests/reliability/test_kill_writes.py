"""Writes that a SIGKILL cannot corrupt nor litter (atomic.py), and the rerun after one.

A ``qfacts`` process is killed while a write is staged (``QFACTS_TEST_PAUSE_BEFORE_REPLACE`` holds
every staged write before its rename): during a baseline write, a quantized-model cache write and a
GGUF conversion. Each time the test first sees what the kill left (a held-then-orphaned ``.lock`` and
its ``.part`` in ``.qfacts-tmp/``), then reruns the same command: afterwards nothing of the killed run
remains (the folders hold exactly what an uninterrupted run leaves), and the rerun's numbers (per-fact
ranks and top-1 accuracies of the JSON report) equal an uninterrupted run's.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from kill_helpers import (
    POLL,
    kill_while_staged,
    leftovers,
    qfacts,
    report_numbers,
    small_suite,
    staged,
    tiny_gguf,
    tree,
)

from pytest_qfacts.atomic import (
    GITIGNORE,
    PAUSE_ENV,
    STAGING,
    atomic_write_text,
    named_lock,
    sweep_stale,
)

RECIPE = "rtn-w8g64"
COMMON = ["--device", "cpu", "--probes", "none"]
STAGE_TIMEOUT = 60   # seconds a bare write takes at most to stage


def _run_args(model: str, suite, report: str = "report.json") -> list[str]:
    return ["run", "--model", model, "--quant", RECIPE, "--suite", str(suite), "--report", report, *COMMON]


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    return small_suite(tmp_path_factory.mktemp("suite") / "kill-small.qfacts.yaml")


@pytest.fixture(scope="module")
def clean_run(tmp_path_factory, suite):
    """An uninterrupted ``qfacts run`` on tiny-facts: (its report's numbers, its cache folder's tree)."""
    cwd, cache = tmp_path_factory.mktemp("clean"), tmp_path_factory.mktemp("clean-cache")
    qfacts(_run_args("tiny-facts", suite), cwd, cache)
    return report_numbers(cwd / "report.json"), tree(cache)


# -- the helper itself, with a bare writer process ----------------------------------------------------
WRITER = "from pytest_qfacts.atomic import atomic_write_text as w; w({path!r}, 'new')"


def _start_writer(path):
    env = dict(os.environ, **{PAUSE_ENV: "60"})
    proc = subprocess.Popen([sys.executable, "-c", WRITER.format(path=str(path))], env=env)
    deadline = time.monotonic() + STAGE_TIMEOUT
    while not any(n.endswith(".part") for n in staged(path.parent)):
        assert proc.poll() is None and time.monotonic() < deadline, "the writer never staged its write"
        time.sleep(POLL)
    return proc


def test_a_live_write_is_left_alone_and_a_killed_one_swept(tmp_path):
    target = tmp_path / "out" / "report.json"
    atomic_write_text(target, "old")
    proc = _start_writer(target)
    try:
        during = staged(target.parent)
        assert sweep_stale(target.parent) == []           # its writer lives: nothing is removed
        assert staged(target.parent) == during
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert target.read_text() == "old"                     # the kill left the old content whole
    removed = sorted(p.name for p in sweep_stale(target.parent))
    assert removed == sorted(n for n in during if n != GITIGNORE)
    assert tree(tmp_path) == ["out", "out/report.json"]


def test_a_staged_write_is_invisible_to_git(tmp_path):
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    subprocess.run([git, "init", "-q", str(tmp_path)], check=True)
    proc = _start_writer(tmp_path / "baselines" / "model" / "suite.safetensors")
    try:
        added = subprocess.run([git, "add", "--dry-run", "."], cwd=tmp_path, capture_output=True, text=True, check=True)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert added.stdout == ""                               # .qfacts-tmp/ ignores itself
    after = subprocess.run([git, "add", "--dry-run", "."], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert after.stdout == "" and (tmp_path / "baselines" / "model" / STAGING).is_dir()


RACER = """
import sys
from pytest_qfacts.atomic import atomic_write_dir, atomic_write_text, named_lock
folder, me = sys.argv[1], sys.argv[2]
for i in range({rounds}):
    atomic_write_text(folder + "/report.json", me * 1000)
    with named_lock(folder, "entry"):
        atomic_write_dir(folder + "/entry", lambda tmp: (tmp / "who").write_text(me))
"""
RACERS, ROUNDS = 4, 30


def test_concurrent_writers_leave_whole_files_and_nothing_else(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-c", RACER.format(rounds=ROUNDS), str(tmp_path), str(n)])
             for n in range(RACERS)]
    assert [p.wait() for p in procs] == [0] * RACERS
    assert tree(tmp_path) == ["entry", "entry/who", "report.json"]
    assert (tmp_path / "report.json").read_text() in {str(n) * 1000 for n in range(RACERS)}


def test_a_named_lock_is_removed_on_release(tmp_path):
    with named_lock(tmp_path, "entry") as lock:
        assert lock.is_file() and lock.parent.name == STAGING
    assert tree(tmp_path) == []


# -- the three kills ----------------------------------------------------------------------------------
def test_killed_baseline_write_then_rerun(tmp_path, suite, clean_run):
    cache = tmp_path / "cache"
    args = ["baseline", "--model", "tiny-facts", "--suite", str(suite), *COMMON]
    folder = tmp_path / ".qfacts" / "baselines" / "tiny-facts"
    kill_while_staged(args, tmp_path, cache, folder)
    assert [p for p in tree(folder) if not p.startswith(STAGING)] == []   # no baseline file, not even a 0-byte one
    qfacts(args, tmp_path, cache)
    assert leftovers(tmp_path) == []
    files = tree(tmp_path / ".qfacts")
    assert len(files) == 3 and files[:2] == ["baselines", "baselines/tiny-facts"], files
    assert files[2].startswith("baselines/tiny-facts/kill-small-") and files[2].endswith(".safetensors"), files
    qfacts(_run_args("tiny-facts", suite), tmp_path, cache)   # the gate run reads the rewritten baseline
    assert report_numbers(tmp_path / "report.json") == clean_run[0]
    assert leftovers(tmp_path) == []


def test_killed_quantized_cache_write_then_rerun(tmp_path, suite, clean_run):
    cache = tmp_path / "cache"
    left = kill_while_staged(_run_args("tiny-facts", suite), tmp_path, cache, cache / "quantized")
    assert len([n for n in left if n.endswith(".lock")]) == 2, left   # the entry's named lock and the write's own
    assert not (tmp_path / "report.json").exists()
    qfacts(_run_args("tiny-facts", suite), tmp_path, cache)
    assert leftovers(tmp_path) == []
    assert tree(cache) == clean_run[1]
    assert report_numbers(tmp_path / "report.json") == clean_run[0]


def test_killed_gguf_conversion_then_rerun(tmp_path, suite):
    pytest.importorskip("gguf")
    model = tiny_gguf(tmp_path / "tiny-facts.gguf", suite)
    clean, clean_cache = tmp_path / "clean", tmp_path / "clean-cache"
    clean.mkdir()
    qfacts(_run_args(str(model), suite), clean, clean_cache)
    work, cache = tmp_path / "work", tmp_path / "cache"
    work.mkdir()
    kill_while_staged(_run_args(str(model), suite), work, cache, cache / "gguf")
    qfacts(_run_args(str(model), suite), work, cache)
    assert leftovers(tmp_path) == []
    assert tree(cache) == tree(clean_cache)
    numbers = report_numbers(work / "report.json")
    assert numbers == report_numbers(clean / "report.json")
    assert numbers[0][2] > 0   # the GGUF scores like tiny-facts: its reference knows facts
