"""--qfacts-revision: read from the command line and the ini file; named in hub-model errors."""
import pytest

from plugin_helpers import CPU

SETTINGS_TEST = """
def test_revision(qfacts_session):
    assert qfacts_session.settings.revision == {expected!r}
"""


@pytest.mark.parametrize("ini, args, expected", [
    (None, [], None),
    (None, ["--qfacts-revision=v1.2"], "v1.2"),
    ("qfacts_revision = 0123abcd", [], "0123abcd"),
    ("qfacts_revision = 0123abcd", ["--qfacts-revision=refs/pr/7"], "refs/pr/7"),
])
def test_revision_read_from_cli_and_ini(pytester, ini, args, expected):
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(SETTINGS_TEST.format(expected=expected))
    result = pytester.runpytest(*args)
    result.assert_outcomes(passed=1)


def test_revision_listed_in_help(pytester):
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--qfacts-revision=QFACTS_REVISION*", "*model revision (branch, tag or commit)*"])


@pytest.mark.parametrize("args, revision_text, command", [
    (["--qfacts-revision=v9.9"], "revision v9.9", "hf download qfacts-test/no-such-model --revision v9.9"),
    ([], "revision main", "hf download qfacts-test/no-such-model"),
])
def test_hub_model_error_mentions_the_revision(pytester, monkeypatch, args, revision_text, command):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makepyfile("def test_needs_model(qfacts_reference):\n    pass\n")
    result = pytester.runpytest("--qfacts-model=qfacts-test/no-such-model", CPU, *args)
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([f"*(Hugging Face id qfacts-test/no-such-model, {revision_text}) is not in the local*",
                                 f"Fetch it on a machine with hub access:  {command}"])  # the whole line, no traceback
