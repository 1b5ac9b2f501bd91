"""--qfacts-trust-remote-code: a flag, off by default, also settable in the ini file."""
import pytest

from plugin_helpers import CPU, MODEL, requires_tiny

SETTINGS_TEST = """
def test_flag(qfacts_session):
    assert qfacts_session.settings.trust_remote_code is {expected}
"""


@pytest.mark.parametrize("args, ini, expected", [
    ([], None, False),
    (["--qfacts-trust-remote-code"], None, True),
    ([], "qfacts_trust_remote_code = true", True),
    ([], "qfacts_trust_remote_code = false", False),
    (["--qfacts-trust-remote-code"], "qfacts_trust_remote_code = false", True),
])
def test_flag_parsed_default_false(pytester, args, ini, expected):
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(SETTINGS_TEST.format(expected=expected))
    pytester.runpytest(*args).assert_outcomes(passed=1)


def test_flag_takes_no_value(pytester):
    pytester.makepyfile(SETTINGS_TEST.format(expected=False))
    result = pytester.runpytest("--qfacts-trust-remote-code=yes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--qfacts-trust-remote-code: ignored explicit argument 'yes'*"])


@requires_tiny
@pytest.mark.parametrize("flag", [[], ["--qfacts-trust-remote-code"]])
def test_flag_is_handed_to_the_loader(pytester, monkeypatch, flag):
    """tiny-facts needs no remote code: it loads either way, and transformers is called with the flag."""
    import pytest_qfacts.models.loading as loading

    seen = []
    original = loading._from_dir

    def spy(spec, directory, torch_dtype, trust_remote_code, **placement):
        seen.append(trust_remote_code)
        return original(spec, directory, torch_dtype, trust_remote_code, **placement)

    monkeypatch.setattr(loading, "_from_dir", spy)
    pytester.makepyfile("def test_load(qfacts_reference):\n    assert qfacts_reference.model is not None\n")
    result = pytester.runpytest(MODEL, CPU, *flag)
    result.assert_outcomes(passed=1)
    assert seen == [bool(flag)]
