"""--qfacts-model: aliases, directories, hub ids (offline), unknown names, no model at all."""
import pytest

from plugin_helpers import CPU, MODEL, TINY_DIR, requires_tiny

REFERENCE_TEST = """
def test_reference(qfacts_reference):
    spec = qfacts_reference.spec
    assert (spec.kind, spec.label) == ("dir", {label!r})
    assert spec.target == {target!r}
    assert qfacts_reference.model.config.model_type == "llama"
    assert qfacts_reference.model.config.hidden_size % 128 == 0
    assert qfacts_reference.tokenizer.padding_side == "left"
"""


@requires_tiny
def test_alias_loads_the_tiny_facts_model(pytester):
    pytester.makepyfile(REFERENCE_TEST.format(label="tiny-facts", target=str(TINY_DIR.resolve())))
    result = pytester.runpytest(MODEL, CPU)
    result.assert_outcomes(passed=1)
    result.stderr.fnmatch_lines(["qfacts: loading tiny-facts (reference, device=cpu, dtype=auto) ..."])


def test_tiny_facts_alias_resolves_at_configure_time(pytester):
    """Resolving the alias needs no weights and no torch: it points at the fixture directory."""
    pytester.makepyfile(f"""
        def test_spec(qfacts_session):
            spec = qfacts_session.spec
            assert (spec.name, spec.kind, spec.alias) == ("tiny-facts", "dir", "tiny-facts")
            assert spec.target == {str(TINY_DIR.resolve())!r}
    """)
    result = pytester.runpytest(MODEL)
    assert result.ret == pytest.ExitCode.OK, result.stdout.lines + result.stderr.lines
    result.assert_outcomes(passed=1)


@requires_tiny
def test_directory_path_loads(pytester):
    pytester.makepyfile(REFERENCE_TEST.format(label=str(TINY_DIR), target=str(TINY_DIR.resolve())))
    result = pytester.runpytest(f"--qfacts-model={TINY_DIR}", CPU)
    result.assert_outcomes(passed=1)


def test_unknown_alias_is_a_usage_error_listing_the_aliases(pytester):
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest("--qfacts-model=tiny-fact")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --qfacts-model: unknown model 'tiny-fact'. Did you mean 'tiny-facts'?",
                                 "Accepted: an alias (*tiny-facts*), a Hugging Face id*"])
    err = result.stderr.str()
    for alias in ("llama3-8b", "qwen2.5-7b", "phi-2", "smollm2-135m", "tiny-facts"):
        assert alias in err
    assert "Traceback" not in err and "passed" not in result.stdout.str()


@pytest.mark.parametrize("name, message", [
    ("missing.gguf", "*GGUF file missing.gguf does not exist*"),
    ("notamodel", "*directory notamodel has no config.json*"),
])
def test_bad_local_paths_are_usage_errors(pytester, name, message):
    pytester.mkdir("notamodel")
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest(f"--qfacts-model={name}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_hub_id_missing_from_cache_offline_names_the_id_and_the_download_command(pytester, monkeypatch, tmp_path):
    # a subprocess, so that huggingface_hub reads HF_HUB_OFFLINE / HF_HOME at import time
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    pytester.makepyfile("def test_needs_model(qfacts_reference):\n    raise AssertionError('loaded?!')\n")
    result = pytester.runpytest_subprocess("--qfacts-model=qfacts-test/no-such-model", CPU, "-p", "no:cacheprovider")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines([
        "*model 'qfacts-test/no-such-model' (Hugging Face id qfacts-test/no-such-model, revision main) "
        "is not in the local Hugging Face cache*",
        "*hf download qfacts-test/no-such-model",
    ])
    assert "loaded?!" not in result.stdout.str()


def test_hub_alias_missing_offline_names_alias_and_hub_id(pytester, monkeypatch):
    # phi-2 is a built-in alias of a hub model; the plugin reads HF_HUB_OFFLINE when it loads
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pytester.makepyfile("def test_needs_model(qfacts_reference):\n    pass\n")
    result = pytester.runpytest("--qfacts-model=phi-2", CPU)
    if result.parseoutcomes().get("passed"):
        pytest.skip("microsoft/phi-2 happens to be in the local Hugging Face cache")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*model 'phi-2' (Hugging Face id microsoft/phi-2, revision main)*",
                                 "*hf download microsoft/phi-2"])


def test_no_model_configured_skips_with_reason(pytester):
    pytester.makepyfile("""
        def test_reference(qfacts_reference):
            raise AssertionError("must not run")

        def test_pair(qfacts_pair):
            raise AssertionError("must not run")

        def test_plain():
            pass
    """)
    result = pytester.runpytest("--qfacts-quant=rtn-w8g64", "-rs")
    result.assert_outcomes(passed=1, skipped=2)
    reason = "qfacts: no model configured (pass --qfacts-model=NAME or set qfacts_model in the ini file)"
    result.stdout.fnmatch_lines([f"SKIPPED [[]1] *:1: {reason}", f"SKIPPED [[]1] *:4: {reason}"])
