"""Round-to-nearest fake quantization (pytest_qfacts.quant.rtn) against hand computations."""
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from pytest_qfacts.errors import RecipeError  # noqa: E402
from pytest_qfacts.quant import quantize  # noqa: E402
from pytest_qfacts.quant.rtn import fake_quantize_, plan_rtn, quantize_rtn  # noqa: E402


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.self_attn = nn.Module()
        self.self_attn.q_proj = nn.Linear(12, 12, bias=False)
        self.mlp = nn.Module()
        self.mlp.up_proj = nn.Linear(12, 18, bias=False)
        self.mlp.down_proj = nn.Linear(18, 12, bias=True)
        self.norm = nn.LayerNorm(12)


class Tiny(nn.Module):
    """Names like a Llama: model.layers.0.mlp.up_proj, ..., lm_head."""

    def __init__(self, dtype=torch.float32):
        super().__init__()
        torch.manual_seed(0)
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(20, 12)
        self.model.layers = nn.ModuleList([Block(), Block()])
        self.lm_head = nn.Linear(12, 20, bias=False)
        self.to(dtype)


def snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def changed(model, before):
    return sorted(k for k, v in model.state_dict().items() if not torch.equal(v, before[k]))


W = [[-0.9, 0.1, 0.5, 1.2]]


def test_hand_computed_asymmetric_2bit():
    # lo=-0.9, hi=1.2, scale=(1.2+0.9)/3=0.7, zero=round(0.9/0.7=1.29)=1
    # w/scale = -1.29, 0.14, 0.71, 1.71 -> round -1, 0, 1, 2 -> q = 0, 1, 2, 3
    # w' = (q - 1) * 0.7
    w = torch.tensor(W)
    fake_quantize_(w, 2, 4)
    assert torch.allclose(w, torch.tensor([[-0.7, 0.0, 0.7, 1.4]]), atol=1e-6)


def test_hand_computed_symmetric_2bit():
    # scale = 2*1.2/3 = 0.8, zero = 2
    # w/scale = -1.125, 0.125, 0.625, 1.5 -> round -1, 0, 1, (1 or 2) -> q = 1, 2, 3, 3 (clamped)
    # w' = (q - 2) * 0.8
    w = torch.tensor(W)
    fake_quantize_(w, 2, 4, sym=True)
    assert torch.allclose(w, torch.tensor([[-0.8, 0.0, 0.8, 0.8]]), atol=1e-6)


def test_groups_are_independent():
    # two groups of 2: [-1, 2] and [0, 0.3]; 2 bits
    # group 1: scale=1, zero=1 -> exact; group 2: lo=0 (0 is included), scale=0.1, zero=0 -> exact
    w = torch.tensor([[-1.0, 2.0, 0.0, 0.3]])
    fake_quantize_(w, 2, 2)
    assert torch.allclose(w, torch.tensor([[-1.0, 2.0, 0.0, 0.3]]), atol=1e-6)
    z = torch.zeros(2, 4)  # all-zero group: scale 0 -> 1, stays 0
    fake_quantize_(z, 3, 4)
    assert torch.equal(z, torch.zeros(2, 4))


@pytest.mark.parametrize("bits", [2, 3, 4, 8])
@pytest.mark.parametrize("sym", [False, True])
def test_error_at_most_half_a_step(bits, sym):
    torch.manual_seed(bits)
    w = torch.randn(16, 64) * 0.05 + 0.01
    g = w.reshape(16, 2, 32)
    maxq = 2 ** bits - 1
    if sym:
        scale = 2 * g.abs().amax(-1, keepdim=True) / maxq
    else:
        scale = (g.amax(-1, keepdim=True).clamp(min=0) - g.amin(-1, keepdim=True).clamp(max=0)) / maxq
    q = w.clone()
    fake_quantize_(q, bits, 32, sym=sym)
    err = (q - w).abs().reshape(16, 2, 32)
    assert (err <= scale / 2 + 1e-6).all()
    levels = len(torch.unique(q.reshape(16, 2, 32)[0, 0]))
    assert levels <= 2 ** bits


def test_8bit_error_tiny():
    torch.manual_seed(1)
    w = torch.randn(32, 128)
    q = w.clone()
    fake_quantize_(q, 8, 128)
    assert (q - w).abs().max() < w.abs().max() / 200


def test_asymmetric_is_idempotent():
    model = Tiny()
    quantize_rtn(model, 3, 6)
    once = snapshot(model)
    quantize_rtn(model, 3, 6)
    for k, v in model.state_dict().items():
        assert torch.allclose(v, once[k], rtol=0, atol=1e-6), k


def test_quantizes_every_linear_but_lm_head():
    model = Tiny()
    before = snapshot(model)
    plan = quantize_rtn(model, 4, 6)
    expected = {f"model.layers.{i}.{m}" for i in range(2)
                for m in ("self_attn.q_proj", "mlp.up_proj", "mlp.down_proj")}
    assert set(plan) == expected and set(plan.values()) == {4}
    assert changed(model, before) == sorted(f"{n}.weight" for n in expected)  # biases, norms, lm_head kept


def test_include_exclude_overrides():
    model = Tiny()
    before = snapshot(model)
    plan = quantize_rtn(model, 4, 6, include=("*.mlp.*",), exclude=("lm_head", "model.layers.1.*"),
                        overrides={"*.down_proj": 8, "up_proj": 16})
    assert plan == {"model.layers.0.mlp.down_proj": 8}
    assert changed(model, before) == ["model.layers.0.mlp.down_proj.weight"]
    # first matching override wins; None keeps the layer
    plan = plan_rtn(Tiny(), 4, 6, overrides={"model.layers.0.*": None, "*.q_proj": 2, "*": 3})
    assert plan == {"model.layers.1.self_attn.q_proj": 2, "model.layers.1.mlp.up_proj": 3,
                    "model.layers.1.mlp.down_proj": 3}
    # lm_head can be included explicitly
    assert "lm_head" in plan_rtn(Tiny(), 4, 6, exclude=())


def test_bad_override_bits():
    with pytest.raises(RecipeError, match="bits must be an integer in 2..8"):
        quantize_rtn(Tiny(), 4, 6, overrides={"*": 12})


def test_no_layer_selected_is_an_error():
    with pytest.raises(RecipeError, match="no nn.Linear module matches"):
        quantize_rtn(Tiny(), 4, 6, include=("nothing.*",))


def test_non_divisible_group_names_module_and_divisors():
    model = Tiny()
    before = snapshot(model)
    with pytest.raises(RecipeError) as err:
        quantize_rtn(model, 4, 4)  # 12 % 4 == 0 but down_proj has in_features 18
    msg = str(err.value)
    assert "rtn-w4g4" in msg
    assert "'model.layers.0.mlp.down_proj'" in msg and "in_features=18" in msg
    assert "group size 4" in msg
    assert "divide all 6 quantized layers: 1, 2, 3, 6" in msg  # gcd(12, 18) = 6
    assert changed(model, before) == []  # nothing half quantized


def test_group_larger_than_in_features():
    model = Tiny()
    before = snapshot(model)
    with pytest.raises(RecipeError, match=r"'model.layers.0.self_attn.q_proj' has in_features=12"):
        quantize(model, "rtn-w4g24")
    assert changed(model, before) == []


def test_keeps_dtype_and_computes_in_float32():
    model = Tiny(torch.bfloat16)
    ref = model.model.layers[0].mlp.up_proj.weight.detach().float().clone()
    quantize_rtn(model, 4, 6)
    w = model.model.layers[0].mlp.up_proj.weight
    assert w.dtype == torch.bfloat16
    fake_quantize_(ref, 4, 6)
    assert torch.equal(w, ref.to(torch.bfloat16))


def test_backend_result_and_weight_bytes():
    model = nn.Module()
    model.proj = nn.Linear(8, 4, bias=True)
    model.lm_head = nn.Linear(8, 10, bias=False)
    res = quantize(model, "rtn-w4g4")
    # proj: 32 weights * 4 bits = 16 B; 4 rows * 2 groups * (fp16 scale + fp16 zero) = 32 B;
    # bias 4 * 4 B = 16 B; lm_head kept in fp32: 80 * 4 B = 320 B
    assert res.weight_bytes == 16 + 32 + 16 + 320
    assert res.details == {"proj": 4}
    assert (res.bits, res.group_size, res.library) == (4, 4, "pytest-qfacts")
    assert res.model is model and res.recipe.text == "rtn-w4g4" and res.seconds >= 0
    # symmetric: the zero point is fixed, only scales are stored
    res = quantize(model, "rtn-w4g4-sym")
    assert res.weight_bytes == 16 + 16 + 16 + 320
    assert res.summary()["recipe"] == "rtn-w4g4-sym"
