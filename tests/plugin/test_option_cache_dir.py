"""--qfacts-cache-dir: read from the command line and ini; where GGUF models are converted."""
from pathlib import Path

import pytest

from plugin_helpers import CPU


@pytest.mark.parametrize("args, ini, expected", [
    ([], None, None),
    (["--qfacts-cache-dir=cli-cache"], None, "cli-cache"),
    ([], "qfacts_cache_dir = ini-cache", "ini-cache"),
    (["--qfacts-cache-dir=cli-cache"], "qfacts_cache_dir = ini-cache", "cli-cache"),
])
def test_cache_dir_setting(pytester, args, ini, expected):
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
        if not args:  # a relative path in the ini file is read from the ini file's folder
            expected = str(pytester.path / expected)
    pytester.makepyfile(f"""
        from pathlib import Path

        def test_it(qfacts_session):
            assert qfacts_session.settings.cache_dir == {expected!r}
            assert qfacts_session.pool.cache_dir() == (Path({expected!r}) if {expected!r} else None)
    """)
    pytester.runpytest(*args).assert_outcomes(passed=1)


def _tree(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*")) if root.exists() else []


@pytest.mark.parametrize("use_option", [True, False])
def test_gguf_conversion_goes_to_the_cache_dir(pytester, monkeypatch, use_option):
    """A GGUF model is converted once into <cache>/gguf/<fingerprint>/: the option picks <cache>.

    The GGUF is tiny-facts written as a GGUF file (tests/reliability/kill_helpers.py); the conversion
    leaves the converted model in the cache, and no lock or staging folder behind.
    """
    import importlib.util

    helpers_path = Path(__file__).parents[1] / "reliability" / "kill_helpers.py"
    spec = importlib.util.spec_from_file_location("kill_helpers", helpers_path)
    helpers = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helpers)
    default = pytester.path / "default-cache"
    monkeypatch.setenv("QFACTS_CACHE_DIR", str(default))
    suite = helpers.small_suite(pytester.path / "suite-for-the-tokenizer.yaml")   # not a collected suite
    helpers.tiny_gguf(pytester.path / "tiny.gguf", suite)
    pytester.makepyfile("def test_ref(qfacts_reference):\n    assert qfacts_reference.model is not None\n")
    args = ["--qfacts-cache-dir=my-cache"] if use_option else []
    result = pytester.runpytest("--qfacts-model=tiny.gguf", CPU, "--tb=line", *args)
    result.assert_outcomes(passed=1)
    used, unused = (pytester.path / "my-cache", default) if use_option else (default, pytester.path / "my-cache")
    assert sorted(p.name for p in used.iterdir()) == ["gguf"]
    converted = list((used / "gguf").iterdir())   # one converted model; no lock, no staging folder left
    assert len(converted) == 1 and (converted[0] / "config.json").is_file(), _tree(used)
    assert not unused.exists()
