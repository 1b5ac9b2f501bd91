"""The reliability tests: bad inputs and faults, each refused with its exact message.

Every test, and every plugin run (pytester) or ``qfacts`` child process it starts, stays offline,
uses a qfacts cache of its own (never the user's) and one BLAS/OpenMP thread (the cores are shared).
"""
import pytest

#: Environment of every test here; child processes inherit it.
TEST_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
            "MKL_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def _offline_and_private_cache(monkeypatch, tmp_path_factory):
    for name, value in TEST_ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("QFACTS_CACHE_DIR", str(tmp_path_factory.mktemp("qfacts-cache")))
