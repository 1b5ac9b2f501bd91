"""Output paths checked before any model loads, so that a bad one never costs a whole run.

A report path whose folder is a file, a place nobody can write to, a folder given where a
file is wanted (or the other way round), or an output that is one of the run's own inputs
(``--qfacts-report=t.qfacts.yaml``) is a ``QFactsUsageError`` naming the option, the path and
what would be accepted. ``check_settings_outputs`` checks every output of a run's
``Settings``; ``pytest_configure`` and the ``qfacts`` command call it first. It also sweeps
what killed runs left in the staging folders of those outputs (``pytest_qfacts.atomic``).

Writability is tried, not guessed from permission bits (root may write anywhere by the bits,
yet not into ``/proc``): a probe file is created and removed in the nearest folder that exists.
"""
from __future__ import annotations

import fnmatch
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from pytest_qfacts.errors import QFactsUsageError

#: Option names by Settings field, as the plugin and the ``qfacts`` command spell them.
PLUGIN_OPTIONS = {"report": "--qfacts-report", "html": "--qfacts-html", "cache_dir": "--qfacts-cache-dir",
                  "baseline_dir": "--qfacts-baseline-dir", "save_runs": "--qfacts-save-runs"}
CLI_OPTIONS = {"report": "--report", "html": "--html", "cache_dir": "--cache-dir", "baseline_dir": "--baseline-dir",
               "save_runs": "--save-runs"}
CLI_BASELINE_OPTIONS = {**CLI_OPTIONS, "baseline_dir": "--dir"}   # `qfacts baseline --dir`
#: An example of an accepted file name, by Settings field.
EXAMPLES = {"report": "qfacts-report.json", "html": "qfacts-report.html"}
CACHE_ENV = "QFACTS_CACHE_DIR"
CACHE_SUBFOLDERS = ("quantized", "gguf")   # what the cache holds (quant/cache.py, models/loading.py)
PROBE_PREFIX = ".qfacts-probe-"
PROBE_HEX_BYTES = 6

Inputs = Iterable["str | Path | tuple[str | Path, str]"]


def _nearest_existing(path: Path) -> Path:
    """``path`` or its nearest ancestor that exists (a file or a folder)."""
    for candidate in (path, *path.parents):
        if os.path.lexists(candidate):
            return candidate
    return Path(path.anchor or ".")


def _write_error(folder: Path) -> str | None:
    """Why nothing can be created in ``folder`` (None when a probe file can be)."""
    probe = folder / f"{PROBE_PREFIX}{os.getpid()}-{secrets.token_hex(PROBE_HEX_BYTES)}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError as err:
        return err.strerror or type(err).__name__
    os.close(fd)
    probe.unlink(missing_ok=True)
    return None


def _same_path(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return os.path.realpath(a) == os.path.realpath(b)


def _input_list(inputs: Inputs) -> list[tuple[Path, str]]:
    out = []
    for item in inputs:
        path, what = item if isinstance(item, tuple) else (item, "an input file of this run")
        if path:
            out.append((Path(path), what))
    return out


def _folder_problem(path: Path, *, writable: bool) -> str | None:
    """Why ``path`` cannot become a folder we write in (its nearest existing ancestor is a file, or no file can
    be created there); None when it can."""
    folder = _nearest_existing(path)
    if not folder.is_dir():
        return f"'{folder}' is a file, not a folder"
    reason = _write_error(folder) if writable else None
    return None if reason is None else f"creating a file in '{folder}' fails ({reason})"


def check_output_file(path: str | Path, option: str, inputs: Inputs = (), example: str = "qfacts-report.json") -> None:
    """Refuse ``path`` as the output file of ``option`` unless it can be written and is none of ``inputs``
    (paths, or ``(path, description)`` pairs). Missing folders are fine: they are created on writing."""
    path = Path(path)
    if path.is_dir():
        raise QFactsUsageError(f"{option}: '{path}' is a folder, not a file; give a file path, e.g. '{path / example}'")
    for source, what in _input_list(inputs):
        if _same_path(path, source):
            spelled = "" if str(source) == str(path) else f" ({source})"
            raise QFactsUsageError(f"{option}: '{path}' is {what}{spelled}; writing there would overwrite it: "
                                   f"give another file path, e.g. '{example}'")
    problem = _folder_problem(path.parent, writable=True)
    if problem is not None:
        raise QFactsUsageError(f"{option}: cannot write '{path}': {problem}; give a file path in a folder you can "
                               f"write to (missing folders are created), e.g. '{example}'")


def check_output_dir(path: str | Path, option: str, *, writable: bool = True) -> None:
    """Refuse ``path`` as the output folder of ``option`` when it (or a folder above it) is a file, or,
    when ``writable``, when nothing can be created in it. A missing folder is fine: it is created."""
    path = Path(path)
    if os.path.lexists(path) and not path.is_dir():
        raise QFactsUsageError(f"{option}: '{path}' is a file, not a folder; give a folder path (missing folders "
                               "are created)")
    problem = _folder_problem(path, writable=writable)
    if problem is not None:
        raise QFactsUsageError(f"{option}: cannot use '{path}' as a folder: {problem}; give a folder path you can "
                               "write to (missing folders are created)")


# -- a run's outputs ----------------------------------------------------------------------------
def pytest_inputs(config) -> list[tuple[str, str]]:
    """The files a pytest run reads that ``Settings`` does not name: its file arguments and its ini file."""
    out = [(arg.split("::")[0], "a file argument of this pytest run") for arg in config.args]
    if config.inipath is not None:
        out.append((str(config.inipath), "the ini file of this run"))
    return [(path, what) for path, what in out if os.path.isfile(path)]


def _cache_folder(settings, options: dict) -> tuple[Path, str]:
    """The cache folder a run writes (converted GGUF, quantized models) and how the user names it."""
    if settings.cache_dir:
        return Path(settings.cache_dir), options["cache_dir"]
    from pytest_qfacts.models.loading import default_cache_dir

    how = CACHE_ENV if os.environ.get(CACHE_ENV) else f"the default cache folder ({options['cache_dir']} not set)"
    return Path(default_cache_dir()), how


def _run_inputs(settings, inputs: Inputs) -> list[tuple[Path, str]]:
    """What the run reads: the given inputs, its suite files, calibration text and local model file."""
    out = _input_list(inputs)
    out += [(Path(name), "a suite file of this run") for name in settings.suites if os.path.isfile(name)]
    if settings.calibration:
        out.append((Path(settings.calibration), "the calibration file of this run"))
    if settings.model and os.path.exists(settings.model):
        out.append((Path(settings.model), "the model of this run"))
    return out


def check_settings_outputs(settings, inputs: Inputs = (), options: dict | None = None) -> None:
    """Check every output path of ``settings`` (see the module docstring), then sweep their staging folders.

    ``inputs``: files the run reads besides those in ``settings`` (pytest's file arguments, the ini
    file), as paths or ``(path, description)``. ``options``: option names by field (default: the
    plugin's; ``CLI_OPTIONS`` for the ``qfacts`` command). The JUnit XML file is pytest's own.
    Folders are checked only when a model is configured; the baseline folder must be writable only
    when baselines are written.
    """
    options = options or PLUGIN_OPTIONS
    reads = _run_inputs(settings, inputs)
    files: dict[str, Path] = {}   # option -> the report file it names
    for field in ("report", "html"):
        path = getattr(settings, field, None)
        if not path:
            continue
        option = options[field]
        suites = [] if not os.path.isfile(path) or not fnmatch.fnmatch(Path(path).name, settings.yaml_pattern) else \
            [(Path(path), f"a fact suite (its name matches {settings.yaml_pattern!r})")]
        check_output_file(path, option, reads + suites, EXAMPLES[field])
        for other_option, other in files.items():
            if _same_path(Path(path), other):
                raise QFactsUsageError(f"{option}: '{path}' is also the {other_option} path; give each report "
                                       f"its own file, e.g. '{EXAMPLES[field]}'")
        files[option] = Path(path)
    for path, option, writable in _folders(settings, options):
        check_output_dir(path, option, writable=writable)
    sweep_outputs(settings, options)


def _folders(settings, options: dict) -> list[tuple[Path, str, bool]]:
    """(folder, option, must be writable) of every output folder of a run with a model."""
    if not settings.model:
        return []
    out = []
    cache, how = _cache_folder(settings, options)
    out.append((cache, how, True))
    out += [(cache / sub, how, False) for sub in CACHE_SUBFOLDERS]
    if settings.baseline != "off" and settings.baseline_dir:
        out.append((Path(settings.baseline_dir), options["baseline_dir"], bool(settings.update_baseline)))
    save_runs = getattr(settings, "save_runs", None)
    if save_runs:
        out.append((Path(save_runs), options["save_runs"], True))
    return out


def sweep_outputs(settings, options: dict | None = None) -> list[Path]:
    """Remove what killed runs left in the staging folders of ``settings``' outputs (``atomic.sweep_stale``):
    beside the report files, in the baseline folder and its model folders, in the cache's folders."""
    from pytest_qfacts.atomic import sweep_stale

    options = options or PLUGIN_OPTIONS
    folders = [Path(p).parent for p in (getattr(settings, "report", None), getattr(settings, "html", None)) if p]
    for path, _option, _writable in _folders(settings, options):
        folders.append(path)
        if path.is_dir():
            folders += [child for child in path.iterdir() if child.is_dir() and not child.name.startswith(".")]
    removed = []
    for folder in dict.fromkeys(folders):
        removed += sweep_stale(folder)
    return removed
