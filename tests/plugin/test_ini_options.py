"""Every option has an ini key (``[pytest]`` and pyproject ``[tool.pytest.ini_options]``); the command line wins.

``qfacts_aliases`` adds model aliases; a malformed line is a usage error naming it.
"""
import pytest

from plugin_helpers import CPU, TINY_DIR, requires_tiny

# option name, ini text, expected setting from the ini, command-line value, expected setting from the command line
OPTIONS = [
    ("model", "qfacts-org/from-ini", ("model", "qfacts-org/from-ini"), "qfacts-org/from-cli", ("model", "qfacts-org/from-cli")),
    ("revision", "ini-rev", ("revision", "ini-rev"), "cli-rev", ("revision", "cli-rev")),
    ("quant", "rtn-w8g64, rtn-w2g64", ("recipes", ["rtn-w8g64", "rtn-w2g64"]), "rtn-w4g128", ("recipes", ["rtn-w4g128"])),
    ("device", "cpu", ("device", "cpu"), "cuda:1", ("device", "cuda:1")),
    ("dtype", "bfloat16", ("dtype", "bfloat16"), "float16", ("dtype", "float16")),
    ("suite", "capitals", ("suites", ["capitals"]), "lre-country_currency,capitals",
     ("suites", ["lre-country_currency", "capitals"])),
    ("batch-size", "7", ("batch_size", 7), "3", ("batch_size", 3)),
    ("report", "ini.json", ("report", "ini.json"), "cli.json", ("report", "cli.json")),
    ("max-drop", "0.1", ("max_drop", 0.1), "0.25", ("max_drop", 0.25)),
    ("cache-dir", "ini-cache", ("cache_dir", "ini-cache"), "cli-cache", ("cache_dir", "cli-cache")),
    ("probes", "lens", ("probes", ("lens",)), "cka,ffn", ("probes", ("cka", "ffn"))),
    ("lens-facts", "64", ("lens_facts", 64), "0", ("lens_facts", 0)),
    ("tier", "smoke", ("tier", "smoke"), "full", ("tier", "full")),
    ("smoke-facts", "4", ("smoke_facts", 4), "7", ("smoke_facts", 7)),
]
INI_ONLY = [
    ("trust_remote_code", "true", ("trust_remote_code", True)),
    ("yaml_pattern", "*.facts.yml", ("yaml_pattern", "*.facts.yml")),
    ("aliases", "\n    mine = qfacts-org/aliased", ("aliases", {"mine": "qfacts-org/aliased"})),
]
# relative paths in the ini file are read from the ini file's folder
INI_RELATIVE = ("report", "cache_dir")


def from_ini_value(pytester, key, value):
    return str(pytester.path / value) if key in INI_RELATIVE else value


DEFAULTS = {"model": None, "revision": None, "recipes": [], "device": "auto", "dtype": "auto", "suites": [],
            "batch_size": 16, "report": None, "max_drop": 0.05, "cache_dir": None, "trust_remote_code": False,
            "aliases": {}, "yaml_pattern": "*.qfacts.yaml"}


def settings_test(expected: dict) -> str:
    return ("def test_settings(qfacts_session):\n"
            "    s = qfacts_session.settings\n"
            f"    assert {{k: getattr(s, k) for k in {sorted(expected)!r}}} == {expected!r}\n")


def passed_one(result) -> None:
    outcomes = result.parseoutcomes()
    assert outcomes.get("passed") == 1 and not outcomes.get("failed") and not outcomes.get("errors"), result.stdout.lines


def test_defaults_without_ini(pytester):
    pytester.makepyfile(settings_test(DEFAULTS))
    passed_one(pytester.runpytest())


@pytest.mark.parametrize("name, ini, from_ini, cli, from_cli", OPTIONS, ids=[o[0] for o in OPTIONS])
def test_option_in_ini_and_command_line_wins(pytester, name, ini, from_ini, cli, from_cli):
    key = "qfacts_" + name.replace("-", "_")
    pytester.makeini(f"[pytest]\n{key} = {ini}\n")
    pytester.makepyfile(settings_test({**DEFAULTS, from_ini[0]: from_ini_value(pytester, *from_ini)}))
    passed_one(pytester.runpytest())
    pytester.makepyfile(settings_test({**DEFAULTS, from_cli[0]: from_cli[1]}))
    passed_one(pytester.runpytest(f"--qfacts-{name}={cli}"))


@pytest.mark.parametrize("key, ini, expected", INI_ONLY, ids=[o[0] for o in INI_ONLY])
def test_ini_only_keys(pytester, key, ini, expected):
    pytester.makeini(f"[pytest]\nqfacts_{key} = {ini}\n")
    pytester.makepyfile(settings_test({**DEFAULTS, expected[0]: expected[1]}))
    passed_one(pytester.runpytest())


def test_every_option_in_pyproject_toml(pytester):
    lines = ["[tool.pytest.ini_options]"]
    expected = dict(DEFAULTS)
    for name, ini, from_ini, _, _ in OPTIONS:
        lines.append(f'qfacts_{name.replace("-", "_")} = "{ini}"')
        expected[from_ini[0]] = from_ini_value(pytester, *from_ini)
    lines += ["qfacts_trust_remote_code = true", 'qfacts_yaml_pattern = "*.facts.yml"',
              'qfacts_aliases = ["mine = qfacts-org/aliased"]']
    expected.update(trust_remote_code=True, yaml_pattern="*.facts.yml", aliases={"mine": "qfacts-org/aliased"})
    pytester.makepyprojecttoml("\n".join(lines) + "\n")
    pytester.makepyfile(settings_test(expected))
    # (-k: leave out the gate items of the suite, which would load the hub model)
    passed_one(pytester.runpytest("-k", "test_settings"))
    # and every command-line option overrides its pyproject key
    expected.update({from_cli[0]: from_cli[1] for _, _, _, _, from_cli in OPTIONS})
    pytester.makepyfile(settings_test(expected))
    passed_one(pytester.runpytest("-k", "test_settings", *(f"--qfacts-{name}={cli}" for name, _, _, cli, _ in OPTIONS)))


def test_pyproject_native_types(pytester):
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\nqfacts_batch_size = 4\nqfacts_max_drop = 0.5\n")
    pytester.makepyfile(settings_test({**DEFAULTS, "batch_size": 4, "max_drop": 0.5}))
    passed_one(pytester.runpytest())


@pytest.mark.parametrize("value, message", [
    ("batch-size = many", "ERROR: --qfacts-batch-size: 'many' is not a positive integer"),
    ("quant = rtn-w1g64", "ERROR: rtn recipe 'rtn-w1g64': bits must be 2..8, got 1*"),
    ("dtype = double", "ERROR: --qfacts-dtype: 'double' is not a dtype*"),
])
def test_bad_ini_values_are_usage_errors(pytester, value, message):
    name, _, text = value.partition(" = ")
    pytester.makeini(f"[pytest]\nqfacts_{name.replace('-', '_')} = {text}\n")
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.parametrize("alias", [pytest.param("mydir", marks=requires_tiny), "myhub", "chained"])
def test_aliases_resolve_to_their_targets(pytester, alias):
    pytester.makeini(f"""
        [pytest]
        qfacts_aliases =
            # comments and blank lines are fine

            mydir = {TINY_DIR}
            myhub = qfacts-org/some-model
            chained = myhub
    """)
    pytester.makepyfile("""
        import pytest

        def test_spec(qfacts_session):
            spec = qfacts_session.spec
            expected = {"mydir": ("dir", "%s"), "myhub": ("hub", "qfacts-org/some-model"),
                        "chained": ("hub", "qfacts-org/some-model")}[qfacts_session.settings.model]
            assert (spec.kind, spec.target, spec.label) == (*expected, qfacts_session.settings.model)
    """ % TINY_DIR.resolve())
    pytester.runpytest(f"--qfacts-model={alias}").assert_outcomes(passed=1)


def test_unknown_model_lists_ini_aliases(pytester):
    pytester.makeini("[pytest]\nqfacts_aliases =\n    prod-model = qfacts-org/prod\n")
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest("--qfacts-model=prod-modl")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --qfacts-model: unknown model 'prod-modl'. Did you mean 'prod-model'?",
                                 "Accepted: an alias (*, prod-model, *"])


@requires_tiny
def test_alias_loads_and_is_the_label_in_reports(pytester):
    pytester.makeini("[pytest]\nqfacts_aliases =\n    small-one = tiny-facts\nqfacts_model = small-one\n")
    pytester.makepyfile("""
        def test_pair(qfacts_pair):
            result = qfacts_pair.compare("tiny-facts-onehop")
            assert result.model == "small-one" and qfacts_pair.reference.spec.kind == "dir"
    """)
    result = pytester.runpytest(CPU, "--qfacts-quant=rtn-w8g64")
    result.assert_outcomes(passed=1)
    result.stderr.fnmatch_lines(["qfacts: loading small-one (reference, device=cpu, dtype=auto) ..."])


@pytest.mark.parametrize("lines, bad", [
    (["good = qfacts-org/x", "broken"], "line 2: 'broken'"),
    (["= qfacts-org/x"], "line 1: '= qfacts-org/x'"),
    (["name ="], "line 1: 'name ='"),
])
def test_malformed_alias_line_is_a_clear_usage_error(pytester, lines, bad):
    pytester.makeini("[pytest]\nqfacts_aliases =\n" + "".join(f"    {line}\n" for line in lines))
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: qfacts_aliases {bad} is not 'name = target' "
                                 "(target: an HF id, a directory or a .gguf file)"])


def test_alias_cycle_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\nqfacts_aliases =\n    a = b\n    b = a\n")
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest("--qfacts-model=a")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --qfacts-model: unknown model 'a'*"])


def test_every_option_has_an_ini_key_named_in_help(pytester):
    """Whatever options the table grows, each --qfacts-NAME has the ini key qfacts_NAME (and help says so)."""
    from pytest_qfacts.options import OPTIONS

    result = pytester.runpytest("--help")
    text = result.stdout.str()
    names = [opt.name for opt in OPTIONS if not opt.ini_only]
    assert {"model", "revision", "quant", "device", "dtype", "suite", "batch-size", "report", "max-drop", "cache-dir",
            "trust-remote-code"} <= set(names)
    for name in names:
        key = "qfacts_" + name.replace("-", "_")
        assert f"--qfacts-{name}" in text
        assert f"(ini: {key})" in " ".join(text.split())          # in the option's help
        assert any(line.strip().startswith(f"{key} (") for line in result.stdout.lines), key   # in the ini list
    for key in ("qfacts_aliases", "qfacts_yaml_pattern"):
        assert any(line.strip().startswith(f"{key} (") for line in result.stdout.lines), key
