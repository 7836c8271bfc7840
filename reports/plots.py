"""Matplotlib figures for lowbit results. Plots draw; they never compute costs.

Every function takes plain data (lists, dicts, arrays produced by `search` and
`hwsim`), draws one figure, saves it to `path` (PNG) and returns the path.
Callers convert units for display (s -> ms, J -> mJ, bytes -> MB) and say so in
the axis label they pass. Figures are built with `matplotlib.figure.Figure`
(no pyplot state, no global backend switch), so plotting is safe from any thread
and does not disturb an interactive session.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib as mpl
import matplotlib.ticker
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

__all__ = [
    "FORMATS",
    "allocation_chart",
    "check_formats",
    "design_space_scatter",
    "energy_breakdown_chart",
    "format_mix_chart",
    "pareto_plot",
    "roofline_chart",
]

_DPI = 110
_NAMED = 8  # roofline: name the points when there are at most this many layers
_MARKERS = "os^DvP*XhX"


def _color(i: int, n: int = 10) -> tuple[float, float, float, float]:
    cmap = mpl.colormaps["tab10" if n <= 10 else "tab20"]
    return cmap(i % cmap.N)


#: formats a figure may also be written in (`formats=`), for papers.
FORMATS = ("png", "svg", "pdf")


def check_formats(formats: Sequence[str]) -> tuple[str, ...]:
    """The figure formats asked for ('png', 'svg', 'pdf'), in order, without repeats;
    InvalidSpecError naming an unknown one."""
    from lowbit.kernels_ref.errors import InvalidSpecError

    out: list[str] = []
    for f in formats:
        f = str(f).strip().lower().lstrip(".")
        if f not in FORMATS:
            raise InvalidSpecError(f"figure format {f!r}: expected one of {', '.join(FORMATS)}")
        if f not in out:
            out.append(f)
    return tuple(out)


def _save(fig: Figure, path: str | Path, formats: Sequence[str] = ()) -> Path:
    """Save as PNG at `path` (what the HTML embeds) and beside it in every other of `formats`
    (same stem: figure.svg, figure.pdf)."""
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # a user's layer/model name may hold a character the font lacks: drawn as a box (the
        # HTML tables carry the real name), not a warning printed beside the report
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from font")
        fig.tight_layout()
        fig.savefig(p, dpi=_DPI, bbox_inches="tight", pad_inches=0.1)
        for f in check_formats(formats):
            if f != "png":
                fig.savefig(p.with_suffix(f".{f}"), bbox_inches="tight", pad_inches=0.1,
                            metadata={"Date": None} if f == "svg" else None)
    return p


def _spans_decades(v: np.ndarray, ratio: float = 20.0) -> bool:
    """All values finite and positive, the largest over `ratio` times the smallest: log axis."""
    return bool(len(v) and np.isfinite(v).all() and (v > 0).all() and v.max() / v.min() > ratio)


def _plain_log(axis: Any) -> None:
    """Log axis labelled 0.3, 1, 20 ... rather than 3x10^-1 (the values are already scaled
    to ms, mJ, MB, so they span few decades)."""
    fmt = mpl.ticker.FuncFormatter(lambda v, _pos: f"{v:g}")
    axis.set_major_formatter(fmt)
    axis.set_minor_formatter(mpl.ticker.FuncFormatter(
        lambda v, _pos: f"{v:g}" if f"{v:.1e}"[0] in "25" else ""))


def _legend_below(ax: Axes, **kw: object) -> None:
    """Legend under the x axis, so it never hides a point."""
    n = len(kw.get("handles") or ax.get_legend_handles_labels()[0])  # type: ignore[arg-type]
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2 if n > 1 else 1,
              frameon=False, **kw)  # type: ignore[arg-type]


def _quality_scale(ax: Axes, ys: np.ndarray) -> None:
    """Log y when every loss is positive; symlog (linear below the smallest positive
    loss) when some are 0; linear when none is positive."""
    ys = ys[np.isfinite(ys)]
    pos = ys[ys > 0]
    if len(pos) == 0:
        return
    if (ys > 0).all():
        if pos.max() / pos.min() > 20:
            ax.set_yscale("log")
        return
    ax.set_yscale("symlog", linthresh=float(pos.min()))


def pareto_plot(fronts: Mapping[str, Sequence[tuple[float, float]]], path: str | Path, *,
                xlabel: str, ylabel: str = "quality loss (sum of sensitivity)",
                uniform: Mapping[str, Mapping[str, tuple[float, float]]] | None = None,
                title: str = "", front_suffix: str = "ILP front",
                file_formats: Sequence[str] = ()) -> Path:
    """Quality against a cost, one staircase front per hardware design, uniform points marked.

    `fronts[design] = [(cost, quality_loss), ...]`; `uniform[design][label] = (cost, loss)`
    is drawn as open squares in the design's colour with the label beside them (in black,
    once, marked "(all)", when every design has the same point).
    """
    fig = Figure(figsize=(7.0, 4.6))
    ax = fig.subplots()
    n = len(fronts)
    xs: list[float] = []
    ys: list[float] = []
    # A uniform point identical for every design (e.g. weight memory) is drawn once, in black.
    per_label: dict[str, set[tuple[float, float]]] = {}
    for pts_u in (uniform or {}).values():
        for label, cq in pts_u.items():
            per_label.setdefault(label, set()).add((float(cq[0]), float(cq[1])))
    shared = {lab: next(iter(v)) for lab, v in per_label.items()
              if len(v) == 1 and len(uniform or {}) > 1
              and all(lab in u for u in (uniform or {}).values())}
    for i, (name, pts) in enumerate(fronts.items()):
        col = _color(i, n)
        if pts:
            arr = np.array(sorted(pts), dtype=float)
            # Earlier fronts drawn wider, so a front lying under a later one still shows.
            ax.step(arr[:, 0], arr[:, 1], where="post", color=col, lw=1.6 + 1.4 * (n - 1 - i),
                    alpha=0.9, label=f"{name} ({front_suffix})" if front_suffix else name)
            ax.plot(arr[:, 0], arr[:, 1], "o", color=col, ms=3.5)
            ys += list(arr[:, 1])
            xs += list(arr[:, 0])
        for label, (c, q) in (uniform or {}).get(name, {}).items():
            if label in shared:
                continue
            ax.plot([c], [q], marker="s", mfc="white", mec=col, mew=1.5, ms=7, ls="none")
            ax.annotate(label, (c, q), textcoords="offset points", xytext=(5, 3), fontsize=7,
                        color=col)
            ys.append(q)
            xs.append(c)
    for label, (c, q) in shared.items():
        ax.plot([c], [q], marker="s", mfc="white", mec="k", mew=1.5, ms=7, ls="none")
        ax.annotate(f"{label} (all)", (c, q), textcoords="offset points", xytext=(5, 3),
                    fontsize=7)
        ys.append(q)
        xs.append(c)
    if uniform:
        ax.plot([], [], marker="s", mfc="white", mec="k", ls="none", label="uniform precision")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if _spans_decades(np.asarray(xs, dtype=float)):
        ax.set_xscale("log")
        _plain_log(ax.xaxis)
    _quality_scale(ax, np.asarray(ys, dtype=float))
    ax.grid(alpha=0.3, which="both")
    _legend_below(ax)
    ax.set_title(title or f"Pareto front: quality vs {xlabel}", fontsize=11)
    return _save(fig, path, file_formats)


def _layer_axis(ax: Axes, layers: Sequence[str]) -> None:
    x = np.arange(len(layers))
    ax.set_xticks(x)
    ax.set_xticklabels(layers, rotation=90, fontsize=6 if len(layers) > 30 else 7)
    ax.set_xlim(-0.6, len(layers) - 0.4)


def allocation_chart(layers: Sequence[str], bits: Sequence[float], path: str | Path, *,
                     formats: Sequence[str] | None = None,
                     title: str = "Per-layer allocation", ylabel: str = "weight bits",
                file_formats: Sequence[str] = ()) -> Path:
    """Bits per weight chosen for each layer, bars coloured by format."""
    fig = Figure(figsize=(max(6.4, 0.2 * len(layers) + 2), 4.4))
    ax = fig.subplots()
    x = np.arange(len(layers))
    labels = list(formats) if formats is not None else [f"{b:g}b" for b in bits]
    uniq = sorted(set(labels), key=lambda u: (float(np.mean([b for b, lab in zip(bits, labels)
                                                             if lab == u])), u))
    colors = {u: _color(i, len(uniq)) for i, u in enumerate(uniq)}
    ax.bar(x, bits, color=[colors[lab] for lab in labels], width=0.85)
    for u in uniq:
        ax.bar([0], [0], color=colors[u], label=u)
    _layer_axis(ax, layers)
    ax.set_ylabel(ylabel)
    ax.set_ylim(0, max(float(np.max(bits, initial=1.0)) * 1.25, 1.0))
    ax.legend(fontsize=8, ncol=min(len(uniq), 6), loc="upper right", title="format",
              title_fontsize=8)
    ax.set_title(title, fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path, file_formats)


def format_mix_chart(groups: Sequence[str], counts: Mapping[str, Sequence[float]],
                     path: str | Path, *, title: str = "Formats along the network",
                     xlabel: str = "layers (network order)",
                     file_formats: Sequence[str] = ()) -> Path:
    """Stacked bars: how many layers of each group (a run of consecutive layers) run in each
    format; `counts[format]` has one count per group, formats stacked in the given order.
    The aggregate view of an allocation too long for one bar per layer."""
    fig = Figure(figsize=(max(6.4, 0.2 * len(groups) + 2), 4.4))
    ax = fig.subplots()
    x = np.arange(len(groups))
    bottom = np.zeros(len(groups))
    for i, (fmt, v) in enumerate(counts.items()):
        a = np.asarray(v, dtype=float)
        ax.bar(x, a, bottom=bottom, color=_color(i, len(counts)), label=fmt, width=0.85)
        bottom += a
    _layer_axis(ax, groups)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("layers")
    ax.set_ylim(0, max(float(bottom.max(initial=1.0)) * 1.25, 1.0))
    ax.legend(fontsize=8, ncol=min(len(counts), 6), loc="upper right", title="format",
              title_fontsize=8)
    ax.set_title(title, fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path, file_formats)


def energy_breakdown_chart(layers: Sequence[str], components: Mapping[str, Sequence[float]],
                           path: str | Path, *,
                           title: str = "Energy per layer and component",
                file_formats: Sequence[str] = ()) -> Path:
    """Stacked bars: energy of each layer split by component (joules in, µJ or mJ shown)."""
    fig = Figure(figsize=(max(6.4, 0.2 * len(layers) + 2), 4.4))
    ax = fig.subplots()
    x = np.arange(len(layers))
    arrs = {c: np.asarray(v, dtype=float) for c, v in components.items()}
    peak = float(np.sum(list(arrs.values()), axis=0).max(initial=0.0)) if arrs else 0.0
    scale, unit = (1e3, "mJ") if peak >= 1e-3 else (1e6, "µJ")
    bottom = np.zeros(len(layers))
    order = sorted(arrs, key=lambda c: -arrs[c].sum())  # biggest component at the bottom
    for i, comp in enumerate(order):
        v = arrs[comp] * scale
        if not v.any():
            continue
        ax.bar(x, v, bottom=bottom, color=_color(i, len(order)), label=comp, width=0.85)
        bottom += v
    _layer_axis(ax, layers)
    ax.set_ylabel(f"energy ({unit})")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), title="component",
              title_fontsize=8)
    ax.set_title(title, fontsize=11)
    ax.grid(axis="y", alpha=0.3)
    return _save(fig, path, file_formats)


def roofline_chart(intensity: Sequence[float], perf: Sequence[float], path: str | Path, *,
                   peak_ops_per_s: float | Mapping[str, float], bandwidth_bytes_per_s: float,
                   labels: Sequence[str] | None = None, groups: Sequence[str] | None = None,
                   title: str = "Roofline",
                file_formats: Sequence[str] = ()) -> Path:
    """Per-layer achieved ops/s against arithmetic intensity (ops/byte), under the roof.

    `peak_ops_per_s` is one peak, or one per group (e.g. per weight format on a bit-serial
    core, where narrower formats have a higher peak): then one roof per group, in the colour
    of that group's points. `groups` (one per point) colours the points; without it, points
    are named when few and coloured by position in the network when many.
    """
    fig = Figure(figsize=(7.0, 4.6))
    ax = fig.subplots()
    ai = np.asarray(intensity, dtype=float)
    pf = np.asarray(perf, dtype=float)
    bw = float(bandwidth_bytes_per_s)
    gnames = list(groups) if groups is not None else None
    order = sorted(set(gnames), key=gnames.index) if gnames is not None else []
    if isinstance(peak_ops_per_s, Mapping):
        roofs = {str(k): float(v) for k, v in peak_ops_per_s.items()}
        order += [k for k in roofs if k not in order]
    else:
        roofs = {"": float(peak_ops_per_s)}
    colors = {g: _color(i, len(order)) for i, g in enumerate(order)}
    ridges = [pk / bw for pk in roofs.values()]
    lo = min(ai.min(initial=min(ridges)), min(ridges)) / 4
    hi = max(ai.max(initial=max(ridges)), max(ridges)) * 4
    xs = np.logspace(np.log10(lo), np.log10(hi), 200)
    for g, pk in roofs.items():
        ax.plot(xs, np.minimum(pk, xs * bw), "-", color=colors.get(g, "k") if g else "k", lw=1.5,
                label=f"roof{' ' + g if g else ''}: {pk:.3g} ops/s")
        ax.axvline(pk / bw, color=colors.get(g, "k") if g else "k", ls=":", lw=0.8)
    if gnames is not None:
        for g in order:
            m = np.array([x == g for x in gnames], dtype=bool)
            if m.any():
                ax.scatter(ai[m], pf[m], s=22, color=colors[g], edgecolors="k", linewidths=0.3,
                           zorder=3, label=f"layers in {g}")
    elif labels is not None and len(labels) <= _NAMED:
        ax.scatter(ai, pf, s=18, color=_color(0), label="layers", zorder=3)
    else:  # too many names to print: colour = position in the network
        sc = ax.scatter(ai, pf, s=22, c=np.arange(len(ai)), cmap="viridis", label="layers",
                        zorder=3, edgecolors="k", linewidths=0.3)
        cb = fig.colorbar(sc, ax=ax, label="layer (network order)")
        if labels is not None and len(labels):
            cb.set_ticks([0, len(labels) - 1])
            cb.set_ticklabels([labels[0], labels[-1]], fontsize=7)
    if labels is not None and len(labels) <= _NAMED:
        for a, p, lab in zip(ai, pf, labels):
            ax.annotate(lab, (a, p), fontsize=7, textcoords="offset points", xytext=(4, 2))
    ax.set_xscale("log")
    ax.set_yscale("log")
    top = max(max(roofs.values()), float(pf.max(initial=0.0)))
    ax.set_ylim(min(float(pf.min(initial=top)), lo * bw) / 2, top * 3)
    ax.set_xlabel(f"arithmetic intensity (ops per DRAM byte; DRAM {bw:.3g} B/s)")
    ax.set_ylabel("achieved ops / s")
    ax.grid(alpha=0.3, which="both")
    _legend_below(ax)
    ax.set_title(title, fontsize=11)
    return _save(fig, path, file_formats)


def design_space_scatter(x: Sequence[float], y: Sequence[float], path: str | Path, *,
                         color: Sequence[float] | None = None, xlabel: str, ylabel: str,
                         clabel: str = "", front: Sequence[int] | None = None,
                         front_label: str = "non-dominated",
                         groups: Sequence[str] | None = None,
                         title: str = "Design space",
                file_formats: Sequence[str] = ()) -> Path:
    """Every design point of a sweep, optional colour dimension, front points ringed;
    `groups` (one name per point, e.g. the base design) picks each point's marker."""
    fig = Figure(figsize=(7.4, 4.6))
    ax = fig.subplots()
    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    ca = None if color is None else np.asarray(color, dtype=float)
    names = list(groups) if groups is not None else [""] * len(xa)
    uniq = sorted(set(names), key=names.index)
    norm = None if ca is None else mpl.colors.Normalize(float(np.nanmin(ca)), float(np.nanmax(ca)))
    sc = None
    for gi, g in enumerate(uniq):
        m = np.array([nm == g for nm in names], dtype=bool)
        sc = ax.scatter(xa[m], ya[m], c=None if ca is None else ca[m], norm=norm, s=22,
                        marker=_MARKERS[gi % len(_MARKERS)], edgecolors="k", linewidths=0.3,
                        cmap="viridis" if ca is not None else None, zorder=2)
    if ca is not None and sc is not None:
        fig.colorbar(sc, ax=ax, label=clabel)
    handles: list[Line2D] = []
    if len(uniq) > 1 or uniq[0]:  # marker shape only: colour belongs to the colour bar
        handles += [Line2D([], [], marker=_MARKERS[gi % len(_MARKERS)], ls="none", mfc="0.75",
                           mec="k", ms=6, label=g) for gi, g in enumerate(uniq)]
    if front:
        ax.scatter(xa[list(front)], ya[list(front)], s=90, facecolors="none", edgecolors="r",
                   linewidths=1.2, zorder=3)
        handles.append(Line2D([], [], marker="o", ls="none", mfc="none", mec="r", ms=9,
                              label=front_label))
    if handles:
        _legend_below(ax, handles=handles)
    if _spans_decades(xa):
        ax.set_xscale("log")
        _plain_log(ax.xaxis)
    if _spans_decades(ya):
        ax.set_yscale("log")
        _plain_log(ax.yaxis)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3, which="both")
    ax.set_title(title, fontsize=11)
    return _save(fig, path, file_formats)
