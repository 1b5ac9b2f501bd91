"""Options and ini keys: one table, read once into ``Settings`` (command line wins over ini)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from pytest_qfacts.errors import QFactsUsageError

# (name, help, default, ini type). The option is --qfacts-<name>, the ini key qfacts_<name>.
OPTIONS: list[tuple[str, str, str | None, str]] = [
    ("model", "model to test: alias, Hugging Face id, local directory or .gguf file", None, "string"),
    ("revision", "model revision (branch, tag or commit) for hub models", None, "string"),
    ("quant", "comma-separated quantization recipes, e.g. rtn-w4g128,rtn-w8g128", None, "string"),
    ("device", "auto | cpu | cuda | cuda:N", "auto", "string"),
    ("dtype", "auto | float32 | bfloat16 | float16 (auto: float32 on CPU, bfloat16 on CUDA)", "auto", "string"),
    ("suite", "comma-separated built-in suite names or YAML paths to run as test items", None, "string"),
    ("batch-size", "facts per forward pass", "16", "string"),
    ("report", "write the JSON report to this path", None, "string"),
    ("html", "write the self-contained HTML report (summary table and plots; needs matplotlib) to this path", None, "string"),
    ("max-drop", "default gate for suites without their own: max top-1 drop (fraction)", "0.05", "string"),
    ("probes", "probes run with every comparison: default (those the verdict needs), all, none, or NAME,NAME", "default", "string"),
    ("tier", "smoke (a deterministic, stratified sample of --qfacts-smoke-facts facts per relation) or full", "full", "string"),
    ("smoke-facts", "facts per relation in the smoke tier", "10", "string"),
    ("lens-facts", "facts the logit lens covers per suite, evenly spaced (0 = all)", "32", "string"),
    ("cache-dir", "where converted and quantized weights are cached (default: the user cache dir)", None, "string"),
    ("calibration", "calibration text of GPTQ/AWQ: a plain-text file, or .jsonl with a \"text\" field per line (default: the text shipped with pytest-qfacts)", None, "string"),
    ("calibration-samples", "calibration windows GPTQ/AWQ quantize on", "16", "string"),
    ("calibration-length", "tokens per calibration window (capped at the model's context)", "256", "string"),
    ("baseline", "stored reference baselines: auto (use one when present), require (error when missing), off", "auto", "string"),
    ("baseline-dir", "folder of stored baselines, meant to be committed (default: <rootdir>/.qfacts/baselines)", None, "string"),
    ("devices", "comma-separated devices, one per pytest-xdist worker (cuda:0,cuda:1,...); a single run spreads a large model over them", None, "string"),
]
FLAGS: list[tuple[str, str]] = [
    ("trust-remote-code", "allow model repositories to run their own code (off by default)"),
    ("strict", "a recipe whose quantization library is missing is an error, not a skip"),
    ("no-cache", "do not read or write the on-disk cache of quantized models (<cache-dir>/quantized)"),
    ("update-baseline", "compute the reference on the full-precision model and (re)write the stored baselines"),
]


@dataclass
class Settings:
    model: str | None = None
    revision: str | None = None
    recipes: list[str] = field(default_factory=list)
    device: str = "auto"
    dtype: str = "auto"
    suites: list[str] = field(default_factory=list)
    batch_size: int = 16
    report: str | None = None
    html: str | None = None
    max_drop: float = 0.05
    cache_dir: str | None = None
    calibration: str | None = None
    calibration_samples: int = 16
    calibration_length: int = 256
    no_cache: bool = False
    probes: tuple[str, ...] = ()
    lens_facts: int = 32
    tier: str = "full"
    smoke_facts: int = 10
    trust_remote_code: bool = False
    strict: bool = False
    aliases: dict[str, str] = field(default_factory=dict)
    yaml_pattern: str = "*.qfacts.yaml"
    quiet: bool = False
    baseline: str = "auto"
    baseline_dir: str = ".qfacts/baselines"
    update_baseline: bool = False
    devices: list[str] = field(default_factory=list)
    run_id: str = ""


PATH_OPTIONS = ("report", "html", "cache-dir", "baseline-dir", "calibration")


def _value(config, name: str):
    """The command-line value, else the ini value; relative paths from the ini file are read from its folder."""
    value = config.getoption("qfacts_" + name.replace("-", "_"), None)
    if value not in (None, ""):
        return value
    value = config.getini("qfacts_" + name.replace("-", "_")) or None
    if value and config.inipath is not None and (name in PATH_OPTIONS or name == "suite"):
        value = ",".join(_from_ini(part.strip(), config.inipath.parent, name == "suite") for part in value.split(","))
    return value


def _from_ini(value: str, base, only_files: bool) -> str:
    import os

    looks_like_path = not only_files or value.endswith((".yaml", ".yml", ".json")) or "/" in value
    if looks_like_path and not os.path.isabs(os.path.expanduser(value)):
        return str(base / value)
    return value


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def read_settings(config) -> Settings:
    """Read and validate every qfacts option; a bad value raises QFactsUsageError naming the option."""
    from pytest_qfacts.models.device import check_device, check_dtype
    from pytest_qfacts.models.registry import parse_alias_lines

    s = Settings()
    s.model = _value(config, "model")
    s.revision = _value(config, "revision")
    quant = _value(config, "quant")
    if quant:
        s.recipes = parse_recipe_list(quant, "--qfacts-quant")
    s.device = check_device(_value(config, "device") or "auto")
    s.dtype = check_dtype(_value(config, "dtype") or "auto")
    s.suites = _split(_value(config, "suite"))
    s.batch_size = _positive_int(_value(config, "batch-size") or "16", "--qfacts-batch-size")
    s.report = _value(config, "report")
    s.html = _value(config, "html")
    if s.html:
        _require_matplotlib("--qfacts-html")
    s.max_drop = _fraction(_value(config, "max-drop") or "0.05", "--qfacts-max-drop")
    s.cache_dir = _value(config, "cache-dir")
    s.calibration = _calibration_path(_value(config, "calibration"))
    s.calibration_samples = _positive_int(_value(config, "calibration-samples") or "16", "--qfacts-calibration-samples")
    s.calibration_length = _positive_int(_value(config, "calibration-length") or "256", "--qfacts-calibration-length")
    s.no_cache = bool(config.getoption("qfacts_no_cache", False) or config.getini("qfacts_no_cache"))
    s.probes = parse_probes(_value(config, "probes") or "default", "--qfacts-probes")
    s.tier = (_value(config, "tier") or "full").strip()
    if s.tier not in ("smoke", "full"):
        raise QFactsUsageError(f"--qfacts-tier: '{s.tier}' is not a tier; accepted: smoke, full")
    s.smoke_facts = _positive_int(_value(config, "smoke-facts") or "10", "--qfacts-smoke-facts")
    lens_facts = _value(config, "lens-facts") or "32"
    s.lens_facts = 0 if lens_facts.strip() == "0" else _positive_int(lens_facts, "--qfacts-lens-facts")
    s.trust_remote_code = bool(config.getoption("qfacts_trust_remote_code", False) or config.getini("qfacts_trust_remote_code"))
    s.strict = bool(config.getoption("qfacts_strict", False) or config.getini("qfacts_strict"))
    s.aliases = parse_alias_lines(config.getini("qfacts_aliases"))
    s.yaml_pattern = config.getini("qfacts_yaml_pattern") or "*.qfacts.yaml"
    s.quiet = config.getoption("verbose", 0) < 0
    s.baseline = (_value(config, "baseline") or "auto").strip()
    if s.baseline not in ("auto", "require", "off"):
        raise QFactsUsageError(f"--qfacts-baseline: '{s.baseline}' is not accepted; accepted: auto, require, off")
    s.baseline_dir = _value(config, "baseline-dir") or str(config.rootpath / ".qfacts" / "baselines")
    s.update_baseline = bool(config.getoption("qfacts_update_baseline", False) or config.getini("qfacts_update_baseline"))
    if s.update_baseline and s.baseline == "off":
        raise QFactsUsageError("--qfacts-update-baseline writes baselines, but --qfacts-baseline=off turns them off; drop one")
    s.devices = _split(_value(config, "devices"))
    bad = [d for d in s.devices if not re.fullmatch(r"cuda:\d+|cpu", d)]
    if bad or len(set(s.devices)) != len(s.devices):
        raise QFactsUsageError(f"--qfacts-devices: '{(bad or s.devices)[0]}' is not accepted; give distinct devices, "
                               "comma-separated: cuda:0,cuda:1,... (or cpu)")
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


def parse_recipe_list(text: str, option: str) -> list[str]:
    """Comma-separated recipes -> their canonical spellings; a recipe listed twice (in any spelling) is an error."""
    from pytest_qfacts.quant import parse_recipe, split_recipes

    recipes: list[str] = []
    for item in split_recipes(text):
        recipe = parse_recipe(item).text
        if recipe in recipes:
            raise QFactsUsageError(f"{option}: '{item}' is the recipe '{recipe}' again; list each recipe once")
        recipes.append(recipe)
    return recipes


def _require_matplotlib(option: str) -> None:
    """The HTML report draws with matplotlib: say how to install it, before any test runs."""
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        raise QFactsUsageError(f'{option}: the HTML report needs matplotlib: pip install "pytest-qfacts[html]"')


def _calibration_path(text: str | None) -> str | None:
    """The calibration file, checked now (it must exist and, when .jsonl, parse); None for the built-in text."""
    if not text:
        return None
    from pytest_qfacts.quant.calibration import read_documents

    read_documents(text, max_chars=1 << 20)  # raises CalibrationError (a usage error) naming the file and line
    return text


def _positive_int(text: str, option: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise QFactsUsageError(f"{option}: '{text}' is not a positive integer")
    return value


def _fraction(text: str, option: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise QFactsUsageError(f"{option}: '{text}' is not a fraction between 0 and 1 (0.02 = 2 points)")
    return value


def parse_probes(text, option: str = "probes") -> tuple[str, ...]:
    """``default`` | ``all`` | ``none`` | comma-separated probe names -> a tuple of names."""
    from pytest_qfacts.trace.names import EXTRA_PROBES, PROBES, VERDICT_PROBES

    if text is None or (isinstance(text, str) and text.strip() == "default"):
        return VERDICT_PROBES
    if isinstance(text, (list, tuple, set, frozenset)):
        names = [str(t).strip() for t in text]
    else:
        text = text.strip()
        if text == "all":
            return PROBES
        if text in ("none", ""):
            return ()
        names = [t.strip() for t in text.split(",") if t.strip()]
    known = PROBES + EXTRA_PROBES
    unknown = [n for n in names if n not in known]
    if unknown:
        raise QFactsUsageError(f"{option}: unknown probe(s) {', '.join(unknown)}; accepted: default, all, none, or any of {', '.join(known)}")
    return tuple(n for n in known if n in names)
