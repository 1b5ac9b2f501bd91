"""--qfacts-devices: one device per pytest-xdist worker; validated up front."""
import pytest
from plugin_helpers import MODEL


def test_devices_are_dealt_to_workers(pytester):
    pytest.importorskip("xdist", reason="pytest-xdist is not installed")
    pytester.makepyfile(test_dev="""
        from pathlib import Path

        def test_device(qfacts_session, worker_id):
            s = qfacts_session.settings
            Path(f"device-{worker_id}.txt").write_text(f"{s.device} {','.join(s.devices)}")
    """)
    # only the settings are read (no model loads), so CUDA device names can be dealt on a CPU machine
    result = pytester.runpytest_subprocess(MODEL, "--qfacts-devices=cuda:0,cuda:1", "-p", "xdist", "-n", "3", "--dist", "each")
    assert result.ret == 0
    seen = {p.name: p.read_text() for p in pytester.path.glob("device-*.txt")}
    assert seen == {"device-gw0.txt": "cuda:0 cuda:0", "device-gw1.txt": "cuda:1 cuda:1", "device-gw2.txt": "cuda:0 cuda:0"}


def test_without_xdist_the_run_keeps_every_device(pytester):
    pytester.makepyfile(test_dev="""
        def test_device(qfacts_session):
            assert qfacts_session.settings.devices == ["cuda:0", "cuda:1"]
    """)
    assert pytester.runpytest(MODEL, "--qfacts-devices=cuda:0,cuda:1").ret == 0


def test_bad_devices_are_a_usage_error(pytester):
    result = pytester.runpytest("--qfacts-devices=cuda:0,gpu1")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--qfacts-devices: 'gpu1' is not accepted; give distinct devices, comma-separated: cuda:0,cuda:1*"])
