"""Every option of pytest-qfacts, declared once.

One ``Option`` per setting gives, from the same entry:

- pytest's ``--qfacts-NAME`` option and its ini key ``qfacts_NAME`` (``add_pytest_options``);
- the default of the ``Settings`` field (``default_of``);
- the ``qfacts`` command's ``--NAME`` argument, on the subcommands listed in ``commands``
  (``add_cli_arguments``);
- the options table of README.md (``options_markdown``).

Precedence: the command line wins over the ini file, which wins over the default. A
relative path set in the ini file is read from the ini file's folder; a relative path on
the command line from the current folder; a relative default path from the root (see
``ROOT_NOTE``). Importing this module is cheap: parsers import what they need when called.
"""
from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_qfacts.errors import QFactsUsageError
from pytest_qfacts.gate.recall import DEFAULT_MAX_DROP, DEFAULT_MIN_REFERENCE_ACCURACY

#: what a relative default path is relative to
ROOT_NOTE = "<root> is pytest's rootdir, or the current folder for the qfacts command"
#: qfacts subcommands that take an option: run (compare and gate), baseline (store the reference's
#: numbers), gate (re-decide the gates of stored run records, no model)
RUN = ("run",)
MODEL_COMMANDS = ("run", "baseline")
GATE = ("run", "gate")
#: extra spellings of a CLI argument on one subcommand: (command, option name) -> flags
CLI_ALIASES = {("baseline", "baseline-dir"): ("--dir",)}
#: suffixes that make an entry of a comma-separated ini list a file (the others are names)
FILE_SUFFIXES = (".yaml", ".yml", ".json")
#: characters of a calibration file read at start-up to check it (it is read again when used)
CALIBRATION_CHECK_CHARS = 1 << 20
TIERS = ("smoke", "full")
BASELINE_MODES = ("auto", "require", "off")


# -- parsers: (text, option spelling) -> value; a bad value raises QFactsUsageError -------------
def _text(text, option: str):
    return text


def _csv(text: str, option: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def positive_int(text: str, option: str) -> int:
    """An integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise QFactsUsageError(f"{option}: '{text}' is not a positive integer")
    return value


def count_or_all(text: str, option: str) -> int:
    """An integer >= 1, or 0 meaning "all"."""
    if text.strip() == "0":
        return 0
    try:
        return positive_int(text, option)
    except QFactsUsageError:
        raise QFactsUsageError(f"{option}: '{text}' is not a positive integer, or 0 for all") from None


def fraction(text: str, option: str) -> float:
    """A number in [0, 1]; 0.02 is 2 percentage points."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0.0 <= value <= 1.0:
        raise QFactsUsageError(f"{option}: '{text}' is not a fraction between 0 and 1 (0.02 = 2 points)")
    return value


def _one_of(choices: tuple[str, ...], what: str) -> Callable[[str, str], str]:
    def parse(text: str, option: str) -> str:
        value = text.strip()
        if value not in choices:
            raise QFactsUsageError(f"{option}: '{value}' is not {what}; accepted: {', '.join(choices)}")
        return value

    return parse


def _device(text: str, option: str) -> str:
    from pytest_qfacts.models.device import check_device

    return check_device(text, option)


def _dtype(text: str, option: str) -> str:
    from pytest_qfacts.models.device import check_dtype

    return check_dtype(text, option)


def _devices(text: str, option: str) -> list[str]:
    devices = _csv(text, option)
    bad = [d for d in devices if not re.fullmatch(r"cuda:\d+|cpu", d)]
    if bad or len(set(devices)) != len(devices):
        raise QFactsUsageError(f"{option}: '{(bad or devices)[0]}' is not accepted; give distinct devices, "
                               "comma-separated: cuda:0,cuda:1,... (or cpu)")
    return devices


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


def _probe_names() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(probes of the scoring pass, which ``all`` means; probes needing extra forwards; the default ones)."""
    from pytest_qfacts.probes.registry import default_names, extra_names, in_pass_names

    return in_pass_names(), extra_names(), default_names()


def parse_probes(text, option: str = "probes") -> tuple[str, ...]:
    """``default`` | ``all`` | ``none`` | comma-separated probe names (or a list of names) -> a tuple of names."""
    in_pass, extra, default = _probe_names()
    if text is None or (isinstance(text, str) and text.strip() == "default"):
        return default
    if isinstance(text, (list, tuple, set, frozenset)):
        names = [str(t).strip() for t in text]
    else:
        text = text.strip()
        if text == "all":
            return in_pass
        if text in ("none", ""):
            return ()
        names = [t.strip() for t in text.split(",") if t.strip()]
    known = in_pass + extra
    unknown = [n for n in names if n not in known]
    if unknown:
        raise QFactsUsageError(f"{option}: unknown probe(s) {', '.join(unknown)}; "
                               f"accepted: default, all, none, or any of {', '.join(known)}")
    return tuple(n for n in known if n in names)


def _html(text: str, option: str) -> str:
    """The HTML report draws with matplotlib: say how to install it, before any test runs."""
    import importlib.util

    from pytest_qfacts.report.plots import MISSING_MATPLOTLIB

    if importlib.util.find_spec("matplotlib") is None:
        raise QFactsUsageError(f"{option}: {MISSING_MATPLOTLIB}")
    return text


def _calibration(text: str, option: str) -> str:
    """The calibration file, checked now (it must exist and, when .jsonl, parse)."""
    from pytest_qfacts.quant.calibration import read_documents

    read_documents(text, max_chars=CALIBRATION_CHECK_CHARS, option=option)  # raises naming the file and line
    return text


def _aliases(lines: list[str], option: str) -> dict[str, str]:
    from pytest_qfacts.models.registry import parse_alias_lines

    return parse_alias_lines(lines, option)


# -- the schema -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Option:
    """One setting. ``default`` is the text a user would type (None: unset, see ``empty``)."""

    name: str                              # --qfacts-NAME, ini qfacts_NAME, qfacts --NAME
    help: str
    default: str | None = None
    parse: Callable[[Any, str], Any] = _text
    ini_type: str = "string"
    path: bool = False                     # a path: relative in the ini file = relative to the ini file
    path_list: bool = False                # comma-separated; only entries that look like files are paths
    flag: bool = False                     # on/off: store_true on the command line, bool in the ini file
    commands: tuple[str, ...] = ()         # qfacts subcommands that take --NAME
    cli_required: bool = False             # required by those subcommands
    ini_only: bool = False                 # no command-line option, only the ini key
    attr: str = ""                         # Settings field, when not NAME with _ for -
    empty: Callable[[], Any] = lambda: None  # the value when neither set nor defaulted
    default_label: str = ""                # README/help wording of an unset default

    @property
    def field(self) -> str:
        return self.attr or self.name.replace("-", "_")

    @property
    def dest(self) -> str:
        """The argparse destination of the qfacts command."""
        return self.name.replace("-", "_")

    @property
    def key(self) -> str:
        """The ini key, also the pytest option's dest."""
        return "qfacts_" + self.dest

    @property
    def pytest_spelling(self) -> str:
        return self.key if self.ini_only else f"--qfacts-{self.name}"

    @property
    def cli_spelling(self) -> str:
        return f"--{self.name}"

    @property
    def ini_default(self):
        if self.flag:
            return False
        return [] if self.ini_type == "linelist" else self.default

    def value(self, given, spelling: str, root: str | Path | None = None):
        """The parsed value of ``given`` (None or "": the default; a relative default path is joined to ``root``)."""
        if self.flag:
            return bool(given)
        if given is None or given == "" or given == []:
            if self.default is None:
                return self.empty()
            if self.path and root is not None and not os.path.isabs(os.path.expanduser(self.default)):
                return self.parse(str(Path(root) / self.default), spelling)
            return self.parse(self.default, spelling)
        return self.parse(given, spelling)

    def label(self, root: str = "<root>") -> str:
        """How the default reads in help and in README.md; ``root``: how to write the root (see ROOT_NOTE)."""
        if self.flag:
            return "off"
        if self.default is None:
            return self.default_label or "none"
        if self.path and not os.path.isabs(self.default):
            return f"{root}/{self.default}"
        return self.default


OPTIONS: tuple[Option, ...] = (
    Option("model", "model to test: alias, Hugging Face id, local model directory or .gguf file",
           commands=MODEL_COMMANDS, cli_required=True),
    Option("revision", "model revision (branch, tag or commit) of a hub model", commands=MODEL_COMMANDS,
           default_label="the repository's default branch"),
    Option("quant", "comma-separated quantization recipes, e.g. rtn-w4g128,rtn-w8g128", parse=parse_recipe_list,
           attr="recipes", empty=list, commands=RUN, cli_required=True),
    Option("device", "auto (CUDA when present, else CPU), cpu, cuda or cuda:N", "auto", _device, commands=MODEL_COMMANDS),
    Option("dtype", "auto (float32 on CPU, bfloat16 on CUDA), float32, bfloat16 or float16", "auto", _dtype,
           commands=MODEL_COMMANDS),
    Option("suite", "comma-separated built-in suites or suite files (YAML, LRE JSON); in pytest they run as test items",
           parse=_csv, path=True, path_list=True, attr="suites", empty=list, commands=MODEL_COMMANDS, cli_required=True),
    Option("batch-size", "facts per forward pass (scores do not depend on it)", "16", positive_int, commands=MODEL_COMMANDS),
    Option("report", "write the JSON report to this path", path=True, commands=RUN),
    Option("html", "write the self-contained HTML report (summary table and plots) to this path; needs matplotlib: "
           'pip install "pytest-qfacts[html]"', parse=_html, path=True, commands=RUN),
    Option("max-drop", "gate of suites that set none: the largest allowed top-1 drop (fraction, 0.02 = 2 points)",
           str(DEFAULT_MAX_DROP), fraction, commands=GATE),
    Option("min-reference-accuracy", "a gate fails when the reference's top-1 accuracy on the gated facts is below "
           "this: the reference does not know these facts, so the gate cannot detect a loss (fraction)",
           str(DEFAULT_MIN_REFERENCE_ACCURACY), fraction, commands=GATE),
    Option("probes", "mechanistic probes run with every comparison: default (those the failure-mode verdict needs), "
           "all (every probe of the scoring pass), none, or NAME,NAME", "default", parse_probes, commands=MODEL_COMMANDS),
    Option("tier", "smoke (a deterministic, stratified sample of N facts per relation, evenly spaced in file "
           "order; N: the smoke-facts option) or full", "full", _one_of(TIERS, "a tier"), commands=MODEL_COMMANDS),
    Option("smoke-facts", "facts per relation in the smoke tier", "10", positive_int, commands=MODEL_COMMANDS),
    Option("lens-facts", "facts the logit lens covers per suite, evenly spaced (0 = all; the lens is a "
           "full-vocabulary product per layer)", "32", count_or_all, commands=MODEL_COMMANDS),
    Option("cache-dir", "where converted GGUF weights and quantized models are cached (also QFACTS_CACHE_DIR)",
           path=True, commands=MODEL_COMMANDS, default_label="the user cache dir"),
    Option("no-cache", "neither read nor write the quantized-model cache (<cache-dir>/quantized)", flag=True,
           ini_type="bool", commands=RUN),
    Option("calibration", "calibration text of GPTQ/AWQ: a plain-text file, or .jsonl with a string field \"text\" "
           "per line", parse=_calibration, path=True, commands=RUN, default_label="the text shipped with pytest-qfacts"),
    Option("calibration-samples", "calibration windows GPTQ/AWQ quantize on", "16", positive_int, commands=RUN),
    Option("calibration-length", "tokens per calibration window (capped at the model's context)", "256", positive_int,
           commands=RUN),
    Option("trust-remote-code", "let a model repository run its own code", flag=True, ini_type="bool",
           commands=MODEL_COMMANDS),
    Option("baseline", "stored reference baselines: auto (use one when present), require (a suite without one is an "
           "error), off", "auto", _one_of(BASELINE_MODES, "accepted"), commands=RUN),
    Option("update-baseline", "score the reference model and (re)write the stored baselines of the suites this run "
           "compares", flag=True, ini_type="bool"),
    Option("baseline-dir", "folder of stored baselines, meant to be committed", ".qfacts/baselines", path=True,
           commands=MODEL_COMMANDS),
    Option("save-runs", "folder where every measured run record is stored", path=True, commands=RUN),
    Option("devices", "comma-separated devices cuda:0,cuda:1,...: one per pytest-xdist worker; without xdist, one "
           "large model spread over them", parse=_devices, empty=list, commands=MODEL_COMMANDS),
    Option("strict", "a recipe whose quantization library is missing is an error, not a skip", flag=True,
           ini_type="bool"),
    Option("aliases", "extra model aliases, one 'name = target' per line", parse=_aliases, ini_type="linelist",
           ini_only=True, empty=dict,
           default_label="no extra aliases"),
    Option("yaml-pattern", "file name pattern of collected YAML fact suites", "*.qfacts.yaml", ini_only=True),
)
_BY_NAME = {opt.name: opt for opt in OPTIONS}


def option(name: str) -> Option:
    """The schema entry of ``name`` (spelled as in --qfacts-NAME)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no option '{name}'; options: {', '.join(_BY_NAME)}") from None


def default_of(name: str):
    """The parsed default of option ``name`` (a relative default path stays relative: no root)."""
    opt = option(name)
    return opt.value(None, opt.pytest_spelling)


# -- generators -------------------------------------------------------------------------------
def add_pytest_options(parser) -> None:
    """pytest's ``--qfacts-NAME`` options (defaults None: the ini value or the default applies) and ini keys."""
    group = parser.getgroup("qfacts", "pytest-qfacts: factual recall of quantized models")
    for opt in OPTIONS:
        parser.addini(opt.key, opt.help, type=opt.ini_type, default=opt.ini_default)
        if opt.ini_only:
            continue
        help_text = f"{opt.help} (default: {opt.label('<rootdir>')}) (ini: {opt.key})"
        if opt.flag:
            group.addoption(opt.pytest_spelling, dest=opt.key, action="store_true", default=False, help=help_text)
        else:
            group.addoption(opt.pytest_spelling, dest=opt.key, default=None, help=help_text)


def add_cli_arguments(parser, command: str) -> None:
    """The ``--NAME`` arguments of ``qfacts COMMAND`` (raw text; ``settings_from_args`` parses them), plus -q."""
    for opt in OPTIONS:
        if command not in opt.commands:
            continue
        flags = (opt.cli_spelling, *CLI_ALIASES.get((command, opt.name), ()))
        help_text = f"{opt.help} (default: {opt.label('.')})".replace("%", "%%")
        if opt.flag:
            parser.add_argument(*flags, dest=opt.dest, action="store_true", help=help_text)
        else:
            parser.add_argument(*flags, dest=opt.dest, default=None, required=opt.cli_required,
                                help=opt.help.replace("%", "%%") if opt.cli_required else help_text)
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines, only the results")


def _cell(text: str) -> str:
    """Text safe in a Markdown table cell: | and < escaped (GitHub would read <root> as an HTML tag)."""
    return text.replace("|", "\\|").replace("<", "\\<")


def options_markdown() -> str:
    """The options table of README.md (between its options-table markers)."""
    rows = ["| option | ini key | default | meaning |", "|---|---|---|---|"]
    for opt in OPTIONS:
        flag = "" if opt.ini_only else f"`{opt.pytest_spelling}`"
        default = _cell(opt.label()) if opt.flag or opt.default is None else f"`{opt.label()}`"
        rows.append(f"| {flag} | `{opt.key}` | {default} | {_cell(opt.help)} |")
    paths = ", ".join(f"`{opt.key}`" for opt in OPTIONS if opt.path)
    rows += ["", f"A relative path in the ini file ({paths}) is read from the ini file's folder; on the command line, "
                 f"from the current folder. {_cell(ROOT_NOTE)}."]
    return "\n".join(rows)
