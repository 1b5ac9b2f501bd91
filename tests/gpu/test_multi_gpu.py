"""Several GPUs: --qfacts-devices per xdist worker, and one model spread with device_map (run on a GPU machine).

Skipped, with the reason, where fewer than two CUDA devices are visible.
"""
import pytest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available() or torch.cuda.device_count() < 2,
                                 reason="needs two CUDA devices (torch sees "
                                        f"{torch.cuda.device_count() if torch.cuda.is_available() else 0})")]


def test_model_spread_over_two_gpus_scores_like_one():
    from pytest_qfacts.models.loading import load_model
    from pytest_qfacts.models.registry import resolve_model
    from pytest_qfacts.scoring.scorer import score_items
    from pytest_qfacts.suites import load_suite

    items = load_suite("tiny-facts-onehop").sample(5).items()
    spec = resolve_model("tiny-facts")
    one = load_model(spec, device="cuda:0", dtype="float32")
    two = load_model(spec, device="cuda:0", dtype="float32", devices=["cuda:0", "cuda:1"])
    assert {p.device.index for p in two.model.parameters()} <= {0, 1}
    a = score_items(one.model, one.tokenizer, items)
    b = score_items(two.model, two.tokenizer, items)
    assert (a.gold_rank == b.gold_rank).all()


def test_each_worker_gets_its_own_gpu(pytester):
    pytest.importorskip("xdist")
    pytester.makepyfile(test_dev="""
        def test_device(qfacts_reference, worker_id):
            print("ON", worker_id, next(qfacts_reference.model.parameters()).device)
    """)
    result = pytester.runpytest_subprocess("--qfacts-model=tiny-facts", "--qfacts-devices=cuda:0,cuda:1",
                                           "-p", "xdist", "-n", "2", "--dist", "each", "-s", "-rP")
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*ON gw0 cuda:0*"])
    result.stdout.fnmatch_lines(["*ON gw1 cuda:1*"])
