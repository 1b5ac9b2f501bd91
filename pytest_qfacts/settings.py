"""``Settings``: every option's value, read once (from pytest, or from the ``qfacts`` command's arguments).

The options, their defaults and their parsers are declared in ``pytest_qfacts.options``;
this module only reads them. The command line wins over the ini file.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from pytest_qfacts.errors import QFactsUsageError
from pytest_qfacts.options import FILE_SUFFIXES, OPTIONS, Option, default_of, option, parse_probes, parse_recipe_list

__all__ = ["Settings", "read_settings", "settings_from_args", "parse_probes", "parse_recipe_list"]


def _default(name: str):
    """A dataclass field whose default is option ``name``'s, from the schema."""
    return field(default_factory=lambda: default_of(name))


@dataclass
class Settings:
    model: str | None = _default("model")
    revision: str | None = _default("revision")
    recipes: list[str] = _default("quant")
    device: str = _default("device")
    dtype: str = _default("dtype")
    suites: list[str] = _default("suite")
    batch_size: int = _default("batch-size")
    report: str | None = _default("report")
    html: str | None = _default("html")
    max_drop: float = _default("max-drop")
    min_reference_accuracy: float = _default("min-reference-accuracy")
    cache_dir: str | None = _default("cache-dir")
    calibration: str | None = _default("calibration")
    calibration_samples: int = _default("calibration-samples")
    calibration_length: int = _default("calibration-length")
    no_cache: bool = _default("no-cache")
    probes: tuple[str, ...] = _default("probes")
    lens_facts: int = _default("lens-facts")
    tier: str = _default("tier")
    smoke_facts: int = _default("smoke-facts")
    trust_remote_code: bool = _default("trust-remote-code")
    strict: bool = _default("strict")
    aliases: dict[str, str] = _default("aliases")
    yaml_pattern: str = _default("yaml-pattern")
    quiet: bool = False
    baseline: str = _default("baseline")
    baseline_dir: str = _default("baseline-dir")   # relative: to the root that read_settings/settings_from_args get
    update_baseline: bool = _default("update-baseline")
    save_runs: str | None = _default("save-runs")
    devices: list[str] = _default("devices")
    run_id: str = ""


# -- pytest -----------------------------------------------------------------------------------
def _from_config(config, opt: Option):
    """The command-line value, else the ini value (relative paths read from the ini file's folder), else None."""
    if opt.flag:
        return bool(config.getoption(opt.key, False) or config.getini(opt.key))
    if not opt.ini_only:
        value = config.getoption(opt.key, None)
        if value not in (None, ""):
            return value
    value = config.getini(opt.key)
    if value in (None, "", []) or value == opt.ini_default:
        return None   # unset: the schema's default applies (a default path is relative to the rootdir)
    if opt.path and config.inipath is not None:
        parts = value.split(",") if opt.path_list else [value]
        value = ",".join(_from_ini(part.strip(), config.inipath.parent, opt.path_list) for part in parts)
    return value


def _from_ini(value: str, base: Path, only_files: bool) -> str:
    """``value`` joined to ``base`` when it is a relative path; with ``only_files``, an entry without / or a
    file suffix is a name, kept as is."""
    looks_like_path = not only_files or value.endswith(FILE_SUFFIXES) or "/" in value or "\\" in value
    if looks_like_path and not os.path.isabs(os.path.expanduser(value)):
        return str(base / value)
    return value


def read_settings(config) -> Settings:
    """Read and validate every qfacts option; a bad value raises QFactsUsageError naming the option."""
    values = {opt.field: opt.value(_from_config(config, opt), opt.pytest_spelling, config.rootpath) for opt in OPTIONS}
    s = Settings(**values, quiet=config.getoption("verbose", 0) < 0)
    check_settings(s, lambda name: option(name).pytest_spelling)
    _assign_worker_device(config, s)
    return s


def _assign_worker_device(config, s: Settings) -> None:
    """Under pytest-xdist, worker gwN takes devices[N % len(devices)] as its device."""
    workerinput = getattr(config, "workerinput", None)
    if s.devices and workerinput is not None:
        index = int(re.sub(r"\D", "", workerinput.get("workerid", "gw0")) or 0)
        s.device = s.devices[index % len(s.devices)]
        s.devices = [s.device]  # this worker's own device; the model is not spread over the others
    if workerinput is not None:
        s.run_id = workerinput.get("qfacts_run_id", "")


# -- the qfacts command -----------------------------------------------------------------------
def settings_from_args(args, root: str | Path) -> Settings:
    """Settings from ``qfacts COMMAND``'s parsed arguments; options the command lacks take their defaults.

    ``root``: what a relative default path is relative to (the current folder for the command).
    """
    values = {opt.field: opt.value(getattr(args, opt.dest, None), opt.cli_spelling, root) for opt in OPTIONS}
    s = Settings(**values, quiet=bool(getattr(args, "quiet", False)))
    check_settings(s, lambda name: option(name).cli_spelling)
    return s


def check_settings(s: Settings, spelling) -> None:
    """Checks across options; ``spelling(name)`` is how the user wrote option ``name``."""
    if s.update_baseline and s.baseline == "off":
        raise QFactsUsageError(f"{spelling('update-baseline')} writes baselines, but {spelling('baseline')}=off "
                               "turns them off; drop one")
