"""The figures of the HTML report, drawn with matplotlib and returned as PNG bytes.

matplotlib is imported lazily, inside ``_figure``, and only its object-oriented API is
used (``Figure`` + the Agg canvas): no pyplot, no global backend switch, no state
shared with a user's own plots. PNGs are written without the "Software" metadata
chunk, so the same data gives the same bytes.

The numbers plotted (all taken from the JSON report, nothing recomputed from a model):

- per-relation drop bars: ``drop = reference_top1 - quantized_top1`` of each relation,
  in points (one bar per recipe);
- gold-rank histogram: the fraction of scored prompts whose gold rank falls in each
  bin of ``RANK_BINS`` (see ``rank_bin``), for the reference and each recipe;
- per-layer curves: any per-layer list (CKA, logit-lens median gold rank, lens gold
  probability, two-hop EntRec) against the layer index, one line per model.
"""
from __future__ import annotations

import io
import math

MISSING_MATPLOTLIB = 'the HTML report needs matplotlib: pip install "pytest-qfacts[html]"'
#: Labels of the gold-rank bins: rank 1, 2-10, 11-100, 101-1000, 1001-10000, above 10000.
RANK_BINS = ("1", "2–10", "11–100", "101–1k", "1k–10k", ">10k")
REFERENCE_COLOR = "#222222"
RECIPE_COLORS = ("#1f77b4", "#ff7f0e", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
MAX_RELATIONS = 40  # the drop-bar figure shows at most this many relations (those with the largest drop)
DPI = 100


def require_matplotlib(option: str = "") -> None:
    """Raise QFactsUsageError naming ``option`` and the install command when matplotlib cannot be imported."""
    from pytest_qfacts.errors import QFactsUsageError

    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise QFactsUsageError(f"{option}: {MISSING_MATPLOTLIB}" if option else MISSING_MATPLOTLIB) from None


def recipe_color(index: int) -> str:
    return RECIPE_COLORS[index % len(RECIPE_COLORS)]


def rank_bin(rank: int) -> int:
    """Index into RANK_BINS of a gold rank >= 1.

    ``0`` for rank 1, else ``min(5, number of decimal digits of rank - 1)``: 2..10 -> 1,
    11..100 -> 2, 101..1000 -> 3, 1001..10000 -> 4, above 10000 -> 5 (exact integer
    arithmetic, no floating-point log10 at the bin edges).
    """
    rank = int(rank)
    if rank < 1:
        raise ValueError(f"a gold rank is at least 1, got {rank}")
    return 0 if rank == 1 else min(len(RANK_BINS) - 1, len(str(rank - 1)))


def rank_histogram(ranks) -> list[int]:
    """Counts of ``ranks`` per bin of RANK_BINS (None entries are skipped)."""
    counts = [0] * len(RANK_BINS)
    for rank in ranks:
        if rank is not None:
            counts[rank_bin(rank)] += 1
    return counts


def _figure(width: float, height: float, ncols: int = 1):
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        from pytest_qfacts.errors import QFactsUsageError

        raise QFactsUsageError(MISSING_MATPLOTLIB) from None
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def to_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def _text(value) -> str:
    """A user string as matplotlib shows it literally: "$" would start mathtext, so it is escaped."""
    return str(value).replace("$", r"\$")


def _floats(values) -> list[float]:
    return [math.nan if v is None else float(v) for v in values]


def relation_drop_bars(relations: list[str], drops: dict[str, list[float | None]], title: str) -> bytes:
    """Horizontal grouped bars: the top-1 drop (points) of each relation, one bar per recipe.

    ``drops[recipe][i]`` is the drop (a fraction) of ``relations[i]``; None counts as 0.
    At most MAX_RELATIONS relations are drawn, those with the largest drop in any recipe.
    """
    values = {recipe: [0.0 if v is None else 100.0 * float(v) for v in row] for recipe, row in drops.items()}
    order = list(range(len(relations)))
    if len(order) > MAX_RELATIONS:
        order = sorted(order, key=lambda i: -max(row[i] for row in values.values()))[:MAX_RELATIONS]
        order.sort()
        title += f" (the {MAX_RELATIONS} of {len(relations)} relations with the largest drop)"
    n, k = len(order), max(1, len(values))
    fig, (ax,) = _figure(9.0, min(max(2.4, 1.2 + 0.22 * n * k + 0.1 * n), 16.0))
    height = 0.8 / k
    for j, (recipe, row) in enumerate(values.items()):
        ys = [i + (j - (k - 1) / 2) * height for i in range(n)]
        ax.barh(ys, [row[i] for i in order], height=height, color=recipe_color(j), label=_text(recipe))
    ax.set_yticks(range(n), [_text(relations[i]) for i in order], fontsize=8)
    ax.invert_yaxis()
    ax.axvline(0, color="#888888", linewidth=0.8)
    ax.set_xlabel("top-1 drop (points) = reference top-1 − quantized top-1")
    ax.set_title(_text(title), fontsize=10)
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    return to_png(fig)


def rank_histogram_plot(series: dict[str, list[int]], title: str) -> bytes:
    """Grouped bars: the fraction of prompts per gold-rank bin, one bar per model ("reference" first)."""
    fig, (ax,) = _figure(9.0, 3.4)
    k = max(1, len(series))
    width = 0.8 / k
    recipe_index = 0
    for j, (label, ranks) in enumerate(series.items()):
        counts = rank_histogram(ranks)
        total = sum(counts) or 1
        if label == "reference":
            color = REFERENCE_COLOR
        else:
            color, recipe_index = recipe_color(recipe_index), recipe_index + 1
        xs = [b + (j - (k - 1) / 2) * width for b in range(len(RANK_BINS))]
        ax.bar(xs, [c / total for c in counts], width=width, color=color, label=_text(label))
    ax.set_xticks(range(len(RANK_BINS)), RANK_BINS)
    ax.set_xlabel("gold rank (1 = top-1 correct)")
    ax.set_ylabel("fraction of prompts")
    ax.set_ylim(0, 1.05)
    ax.set_title(_text(title), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return to_png(fig)


def layer_curves(panels: list[dict], title: str) -> bytes:
    """Per-layer line plots, one panel per dict.

    A panel is ``{"series": {label: [value per layer]}, "ylabel": str, "log": bool,
    "subtitle": str}``; the label "reference" is drawn black, dashed; recipes in
    RECIPE_COLORS order. None values leave a gap.
    """
    fig, axes = _figure(4.6 * len(panels) + 0.4, 3.4, ncols=len(panels))
    for ax, panel in zip(axes, panels):
        recipe_index = 0
        for label, values in panel["series"].items():
            ys = _floats(values)
            xs = list(range(len(ys)))
            if label == "reference":
                ax.plot(xs, ys, color=REFERENCE_COLOR, linestyle="--", marker="o", markersize=3, label=_text(label), zorder=3)
            else:
                ax.plot(xs, ys, color=recipe_color(recipe_index), marker="o", markersize=3, label=_text(label))
                recipe_index += 1
        if panel.get("log"):
            ax.set_yscale("log")
        ax.set_xlabel("layer")
        ax.set_ylabel(panel["ylabel"])
        ax.set_title(panel.get("subtitle", ""), fontsize=9)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(_text(title), fontsize=10)
    return to_png(fig)
