"""A protocol's leaderboard as CSV (every column, every row) and as a Markdown section (the ranked
table with the best value of each column in bold, then the rows shown apart with their reasons)."""

from __future__ import annotations

import csv
import io
import math

from hpbench.leaderboard.rows import Row, board_for, datasets_of, ranked, sorted_rows
from hpbench.protocols import load_protocol

TRAILING_COLUMNS = ("box_source", "params_m", "gflops", "memory_mb", "protocol_version", "hpbench_version",
                    "code_commit", "weights_sha256", "date", "reference", "variant", "note")


def number(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def protocol_csv(protocol: str, rows: list[Row]) -> str:
    datasets, board = datasets_of(protocol), board_for(protocol)
    header = ["protocol", "model", "source", "status", "comparable"]
    header += [f"{d}_{c.board}" for d in datasets for c in board.csv_columns] + list(TRAILING_COLUMNS)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(header)
    for row in sorted_rows(rows, datasets, board):
        cells = [protocol, row.model, row.source, "stale" if row.stale else "current", "yes" if row.comparable else "no"]
        for dataset in datasets:
            values = row.results.get(dataset, {})
            cells += [number(values.get(c.board), c.digits) for c in board.csv_columns]
        cells += [row.box_source, number(row.params_m, 3), number(row.gflops, 3), number(row.memory_mb, 3),
                  row.protocol_version or "",
                  row.hpbench_version, row.code_commit, row.weights_sha256, row.date, row.reference, row.variant,
                  row.note]
        out.writerow(cells)
    return buffer.getvalue()


def named(row: Row) -> str:
    """The model cell: a reproduced row also names its weights (two runs of one architecture differ), a
    reported one its variant where rows of one method differ in it."""
    if row.weights_sha256:
        return f"{row.model} ({row.weights_sha256[:8]})"
    return f"{row.model} · {row.variant}" if row.variant else row.model


def _md(text: str) -> str:
    """Text from a file, safe in a Markdown table cell: one line, pipes escaped, HTML inert (a record
    is a stranger's file: it must not add rows, links or markup to the README)."""
    text = " ".join(str(text).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def protocol_markdown(protocol: str, rows: list[Row], speed_chart: bool = False) -> str:
    """The protocol's section: the ranked table (comparable, current rows; the best value of each
    column in bold), then the rows shown apart with the reason each cannot be ranked; ``speed_chart``: the
    protocol has an accuracy-against-latency picture too."""
    from tabulate import tabulate

    spec, board = load_protocol(protocol, bundled=True), board_for(protocol)
    datasets = datasets_of(protocol)
    ordered = sorted_rows(rows, datasets, board)
    columns = [(d, c.board) for d in datasets for c in board.columns]
    higher = {c.board: c.higher_is_better for c in board.columns}
    first, apart = [r for r in ordered if ranked(r)], [r for r in ordered if not ranked(r)]
    best = {}
    for column in columns:
        values = [r.results.get(column[0], {}).get(column[1]) for r in first]
        values = [v for v in values if v is not None]
        best[column] = (max if higher[column[1]] else min)(values) if values else None
    sized = any(r.params_m is not None for r in rows)  # records measure their models; reported rows do not
    headers = ["model", "source"] + [f"{d} {c.header}" for d in datasets for c in board.columns]
    headers += ["n", "boxes"]
    headers += ["M params · GFLOPs · MB"] if sized else []
    timed = any(r.latency for r in rows)  # records of evaluate --bench: measured, on the machine named
    headers += ["batch-1 ms (measured on)"] if timed else []

    def cells(row: Row, bold: bool) -> list[str]:
        out = []
        for column in columns:
            value = row.results.get(column[0], {}).get(column[1])
            text = number(value)
            text = f"**{text}**" if bold and value is not None and value == best[column] else text
            if column[1] == board.primary.board and column[0] in row.spread:  # a sensitivity report's spread
                text += " ({}–{})".format(*(number(v) for v in row.spread[column[0]]))
            out.append(text)
        counts = [number(row.results.get(d, {}).get("n_eval")) for d in datasets]
        size = [" · ".join(number(v, 3) or "—" for v in (row.params_m, row.gflops, row.memory_mb))] if sized else []
        speed = [f"{row.latency[0]:.2f} ({_md(row.latency[1])})" if row.latency else "—"] if timed else []
        return out + ["/".join(c or "—" for c in counts), _md(row.box_source) or "—"] + size + speed

    table, footnotes = [], []
    for row in first:
        marks = ""
        if row.note:
            if row.note not in footnotes:  # one footnote for rows that share a note
                footnotes.append(row.note)
            marks = f" [{footnotes.index(row.note) + 1}]"
        table.append([_md(named(row)) + marks, _md(row.source), *cells(row, bold=True)])
    lines = [f"## {spec.name} — {spec.title} (v{spec.version})", "",
             tabulate(table, headers=headers, tablefmt="github", disable_numparse=True), ""]
    lines += [f"[{i}] {_md(note)}" + "  " for i, note in enumerate(footnotes, start=1)]
    if apart:
        lines += ["", f"Shown apart, not ranked ({len(apart)}): measured another way than {spec.name} says, or "
                  "under an older version of it.", ""]
        table = [[_md(named(row)), _md(row.source) + (" · stale" if row.stale else ""), *cells(row, bold=False),
                  _md(row.note) or "not comparable"] for row in apart]
        lines.append(tabulate(table, headers=headers + ["why"], tablefmt="github", disable_numparse=True))
    lines += ["", f"![{spec.name}]({spec.name}.png)", ""]
    lines += [f"![{spec.name}: accuracy against measured latency]({spec.name}-speed.png)", ""] if speed_chart else []
    return "\n".join(lines)
