"""The chart of a protocol's leaderboard: the primary metric per test set, ranked rows first."""

from __future__ import annotations

import io

from hpbench.leaderboard.render import named
from hpbench.leaderboard.rows import Row, board_for, datasets_of, ranked, sorted_rows

LABEL_WIDTH = 64  # characters per line of a chart's row label


def _label(row: Row) -> str:
    """A row's name on the chart with its source, broken at its " · " parts into lines of at most
    LABEL_WIDTH characters (a part longer than that stays whole), so that variants stay apart."""
    lines: list[str] = []
    for part in f"{named(row)} ({row.source})".replace("$", r"\$").split(" · "):  # no mathtext from a file
        if lines and len(lines[-1]) + 3 + len(part) <= LABEL_WIDTH:
            lines[-1] += " · " + part
        else:
            lines.append(part)
    return "\n".join(lines)


def protocol_chart(protocol: str, rows: list[Row]) -> bytes:
    """Horizontal bars of the primary metric per test dataset (MAE; body pose: PCK, or the loss where
    no row has a PCK), each bar labelled with its value; the ranked rows first, then (hatched, grey
    labels, below a line) the rows shown apart."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets, board = datasets_of(protocol), board_for(protocol)
    shown = board.primary
    if board.second and not any(shown.board in r.results.get(d, {}) for r in rows for d in datasets):
        shown = board.second
    metric, unit, higher = shown.board, shown.unit, shown.higher_is_better
    ordered = [r for r in sorted_rows(rows, datasets, board) if any(metric in r.results.get(d, {}) for d in datasets)]
    ordered = [r for r in ordered if ranked(r)] + [r for r in ordered if not ranked(r)]
    labels = [_label(r) for r in ordered]
    lines = max((label.count("\n") + 1 for label in labels), default=1)
    slot = max(0.2 * len(datasets) + 0.12, 0.17 * lines + 0.06)  # inches per row: its bars, or its label's lines
    figure, axis = plt.subplots(figsize=(11, 1.4 + slot * len(ordered)), dpi=100)
    bar = 0.8 / len(datasets)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    largest = max((r.results.get(d, {}).get(metric, 0) for r in ordered for d in datasets), default=1) or 1
    for k, dataset in enumerate(datasets):
        for i, row in enumerate(ordered):
            value = row.results.get(dataset, {}).get(metric)
            if value is None:
                continue
            apart = not ranked(row)
            axis.barh(i + k * bar, value, height=bar, color=colours[k % len(colours)], alpha=0.45 if apart else 1,
                      hatch="//" if apart else None, edgecolor="white" if apart else None,
                      label=dataset if i == 0 else None)
            axis.text(value + largest * 0.005, i + k * bar, f"{value:.2f}", va="center", fontsize=8)
    axis.set_yticks([i + bar * (len(datasets) - 1) / 2 for i in range(len(ordered))])
    axis.set_yticklabels(labels, fontsize=9)
    for tick, row in zip(axis.get_yticklabels(), ordered):
        if not ranked(row):
            tick.set_color("grey")
    count = sum(ranked(r) for r in ordered)
    if 0 < count < len(ordered):
        axis.axhline(count - 0.5 + bar * (len(datasets) - 1) / 2, color="black", linewidth=0.8)
    apart = "; hatched rows below the line are shown apart, not ranked" if count < len(ordered) \
        else ""
    axis.set_ylim(len(ordered) - 0.2, -0.6)
    axis.set_xlim(0, largest * 1.25)  # room for the values, and for the legend beside the longest bars
    axis.set_xlabel(f"{unit}{apart}", fontsize=10)
    axis.set_title(f"{protocol}: {shown.title} per test set ({'higher' if higher else 'lower'} is better)", fontsize=11)
    handles, labels = axis.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axis.legend(unique.values(), unique.keys(), fontsize=9, loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": f"matplotlib {matplotlib.__version__}"})
    plt.close(figure)
    return buffer.getvalue()


def pareto(points: list[tuple[float, float]], higher_is_better: bool) -> list[int]:
    """The indices of the points no other point beats on both latency (lower) and score: the front."""
    def beats(a, b):
        better = a[1] >= b[1] if higher_is_better else a[1] <= b[1]
        strictly = a[1] > b[1] if higher_is_better else a[1] < b[1]
        return a[0] <= b[0] and better and (a[0] < b[0] or strictly)

    return [i for i, p in enumerate(points) if not any(beats(q, p) for j, q in enumerate(points) if j != i)]


def speed_chart(protocol: str, rows: list[Row]) -> bytes | None:
    """The primary metric on the first test set against measured batch-1 latency, one marker per machine
    (rows measured on different machines are never compared: each has its own Pareto front, drawn as a
    line); None where no row has a latency."""
    timed = [r for r in rows if r.latency]
    datasets, board = datasets_of(protocol), board_for(protocol)
    points = [(r, r.results.get(datasets[0], {}).get(board.primary.board)) for r in timed]
    points = [(r, v) for r, v in points if v is not None]
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5), dpi=100)
    machines = sorted({r.latency[1] for r, _ in points})
    markers = "osD^v<>"
    for k, machine in enumerate(machines):
        mine = [(r, v) for r, v in points if r.latency[1] == machine]
        xy = [(r.latency[0], v) for r, v in mine]
        axis.scatter(*zip(*xy), marker=markers[k % len(markers)], label=machine.replace("$", r"\$"))
        for (r, v), (x, y) in zip(mine, xy):
            axis.annotate(named(r).replace("$", r"\$"), (x, y), fontsize=7, xytext=(3, 3), textcoords="offset points")
        front = sorted(xy[i] for i in pareto(xy, board.primary.higher_is_better))
        axis.plot(*zip(*front), linewidth=0.8)
    axis.set_xscale("log")
    axis.set_xlabel("batch-1 latency, ms (measured; log scale)")
    better = "higher" if board.primary.higher_is_better else "lower"
    axis.set_ylabel(f"{datasets[0]} {board.primary.header} ({better} is better)")
    axis.set_title(f"{protocol}: accuracy against measured latency, one front per machine", fontsize=10)
    axis.legend(fontsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": f"matplotlib {matplotlib.__version__}"})
    plt.close(figure)
    return buffer.getvalue()
