"""--qfacts-cache-dir: read from the command line and ini; where GGUF models are converted."""
import os
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
            assert qfacts_session._cache_dir() == (Path({expected!r}) if {expected!r} else None)
    """)
    pytester.runpytest(*args).assert_outcomes(passed=1)


def _lock_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*.lock")) if root.exists() else []


@pytest.mark.parametrize("use_option", [True, False])
def test_gguf_conversion_goes_to_the_cache_dir(pytester, monkeypatch, use_option):
    """A GGUF model is converted once into <cache>/gguf/<fingerprint>/: the option picks <cache>.

    The file here is not a real GGUF, so the conversion fails; the lock it takes first shows where it went.
    """
    default = pytester.path / "default-cache"
    monkeypatch.setenv("QFACTS_CACHE_DIR", str(default))
    pytester.path.joinpath("fake.gguf").write_bytes(b"not a gguf file")
    pytester.makepyfile("def test_ref(qfacts_reference):\n    raise AssertionError('loaded?!')\n")
    args = ["--qfacts-cache-dir=my-cache"] if use_option else []
    result = pytester.runpytest("--qfacts-model=fake.gguf", CPU, "--tb=line", *args)
    result.assert_outcomes(errors=1)
    used, unused = (pytester.path / "my-cache", default) if use_option else (default, pytester.path / "my-cache")
    locks = _lock_files(used)
    assert len(locks) == 1 and locks[0].startswith("gguf" + os.sep) and len(Path(locks[0]).stem) == 16, locks
    assert not unused.exists()
    # the failed conversion leaves no half-written model directory behind
    assert [p.name for p in (used / "gguf").iterdir() if p.is_dir()] == []
