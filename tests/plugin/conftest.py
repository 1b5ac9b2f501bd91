"""The plugin integration tests run pytest on throw-away projects (pytester), offline, with a private cache.

Helpers (the tiny-facts model, small suites, report parsing) are in plugin_helpers.py.
"""
import os

import pytest

# One BLAS/OpenMP thread (read when numpy/torch load, so before they are imported): the tiny
# models and suites here gain nothing from a second thread, and the 2 cores are shared.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")


def pytest_configure(config):
    """Make sure the ``pytester`` plugin is active.

    tests/conftest.py declares ``pytest_plugins = ["pytester"]``; pytest allows that variable
    only in the top-level conftest, so here pytester is only registered when it is missing
    (e.g. with ``--confcutdir=tests/plugin``).
    """
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


@pytest.fixture(autouse=True)
def _offline_and_private_cache(monkeypatch, tmp_path_factory):
    """Keep inner runs off the network and off the user's qfacts cache (QFACTS_CACHE_DIR)."""
    monkeypatch.setenv("QFACTS_CACHE_DIR", str(tmp_path_factory.mktemp("qfacts-default-cache")))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def _preimport_heavy_modules():
    """Import torch, transformers & co. once in this process, before any in-process pytester run.

    ``pytester.runpytest`` restores ``sys.modules`` after each inner run, so a module first
    imported inside one would be dropped and imported again by the next run; C extensions
    (torch._C, tokenizers, safetensors) cannot be initialised twice in one process. When the
    tiny-facts model is there, one small load + quantize + score also imports every lazily
    imported module (the llama modeling code, the tokenizer classes) here, once.

    torch runs on one thread: the inner runs use models of a few hundred thousand
    parameters, where a second thread gains nothing and spin-waits on a shared machine.
    """
    import numpy  # noqa: F401
    import safetensors.torch  # noqa: F401
    import tokenizers  # noqa: F401
    import torch  # noqa: F401
    import tqdm  # noqa: F401
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: F401  (lazy attributes)

    torch.set_num_threads(1)

    from plugin_helpers import suite_yaml, tiny_ready

    if tiny_ready():
        from pytest_qfacts.session import QFactsSession
        from pytest_qfacts.settings import Settings
        from pytest_qfacts.suites import load_suite_text

        session = QFactsSession(Settings(model="tiny-facts", device="cpu", quiet=True))
        try:
            session.compare(load_suite_text(suite_yaml(n=2, known=False)), "rtn-w8g64")
        except Exception:  # noqa: BLE001 -- the tests that load the model report the problem themselves
            pass
        finally:
            session.close()
    del transformers
