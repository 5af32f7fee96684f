"""``hpbench leaderboard build [--check]``: reported numbers + result records → CSV, Markdown, charts.

Inputs: ``leaderboards/reported.yaml`` (published numbers with their sources) and
``leaderboards/results/*.json`` (records written by ``hpbench evaluate --record``, validated on read).
Outputs, per protocol with rows: ``leaderboards/<protocol>.csv`` and ``<protocol>.png``, and one
``leaderboards/README.md``. The output is a pure function of the inputs — stable sort, fixed number
format, no time stamps but the records' own — so a rebuild of unchanged inputs is byte-identical and
``--check`` can compare the committed files with a rebuild.
"""

from __future__ import annotations

import csv
import difflib
import io
import math
from dataclasses import dataclass, field
from pathlib import Path


from hpbench.errors import HpbenchError
from hpbench.evaluation.records import ResultRecord
from hpbench.io import write_bytes_atomic
from hpbench.paths import output_path
from hpbench.protocols import load_protocol
from hpbench.resources import bundled_dir
from hpbench.yamlfiles import read_yaml

COLUMNS_PER_DATASET = ("yaw", "pitch", "roll", "mae", "geodesic", "n_eval", "n_fallback")
BODY_COLUMNS_PER_DATASET = ("loss", "n_eval")  # after the protocol's metrics (pck@0.2 or pckh@0.5)
TRAILING_COLUMNS = ("box_source", "params_m", "gflops", "memory_mb", "protocol_version", "hpbench_version",
                    "code_commit", "weights_sha256", "date", "reference", "variant", "note")


@dataclass
class Row:
    protocol: str
    model: str
    source: str  # "reported", "reproduced", "reproduced (synthetic data)"
    results: dict[str, dict[str, float]]
    comparable: bool = True
    stale: bool = False
    box_source: str = ""
    params_m: float | None = None
    gflops: float | None = None
    memory_mb: float | None = None
    protocol_version: int | None = None
    hpbench_version: str = ""
    code_commit: str = ""
    weights_sha256: str = ""
    date: str = ""
    reference: str = ""
    variant: str = ""  # what distinguishes a method's rows: flag point, pretext task, pre-training …
    note: str = ""
    keys_sha256: dict[str, str] = field(default_factory=dict)  # a record's test key lists, per dataset

    def rank_value(self, datasets: list[str], board: "Board") -> tuple[float, float]:
        """The sort key: the board's primary value on the first test set that has it (negated where
        higher is better), then the loss (body pose: the reported rows have only it)."""
        primary = loss = math.inf
        for dataset in datasets:
            values = self.results.get(dataset, {})
            if primary == math.inf and values.get(board.primary) is not None:
                primary = -values[board.primary] if board.higher_is_better else values[board.primary]
            if loss == math.inf and values.get("loss") is not None:
                loss = values["loss"]
        return primary, loss


@dataclass(frozen=True)
class Board:
    """What a protocol's tables show per test set: (key, header, higher is better) columns, the
    primary one (the ranking and the chart), and the CSV's columns."""

    columns: tuple[tuple[str, str, bool], ...]
    primary: str
    higher_is_better: bool
    csv_columns: tuple[str, ...]
    unit: str


def board_for(protocol: str) -> Board:
    spec = load_protocol(protocol, bundled=True)
    if spec.task == "bodypose":
        metrics = tuple((m, m.upper(), True) for m in spec.metrics)
        return Board((*metrics, ("loss", "loss", False)), spec.metrics[0], True,
                     (*spec.metrics, *BODY_COLUMNS_PER_DATASET), "share of joints within the threshold")
    return Board((("yaw", "yaw", False), ("pitch", "pitch", False), ("roll", "roll", False), ("mae", "MAE", False)),
                 "mae", False, COLUMNS_PER_DATASET, "MAE (degrees)")


def leaderboards_dir() -> Path:
    return bundled_dir("leaderboards")


def load_reported(path: Path) -> list[Row]:
    content = read_yaml(path, "list of reported numbers")
    sources = content.get("sources", {})
    rows = []
    for number, raw in enumerate(content.get("rows", []), start=1):
        try:
            source = raw["source"]
            citation = sources[source["paper"]]
            table = f", table {source['table']}" if source.get("table", "-") != "-" else ""
            rows.append(Row(
                protocol=raw["protocol"], model=raw["model"], source="reported",
                results={d: {k: float(v) for k, v in values.items()} for d, values in raw["results"].items()},
                comparable=bool(raw.get("comparable", True)),
                reference=f"{citation}{table}, row “{source['row']}”",
                variant=" · ".join(f"{key.replace('_', ' ')} {value}"
                                   for key, value in raw.get("variant", {}).items()),
                note=("uses extra data; " if raw.get("extra_data") else "") + raw.get("note", ""),
            ))
        except (KeyError, TypeError, ValueError) as err:
            raise HpbenchError(f"{path}: row {number} ({raw.get('method', '?') if isinstance(raw, dict) else raw}) "
                               f"is malformed: {type(err).__name__} {err}") from None
    return rows


def conformance(record: ResultRecord, spec) -> list[str]:
    """Why a record cannot be ranked under its protocol: another crop, input size or box source than
    the protocol's, a test set other than its frozen key list, a missing dataset, dropped samples.
    Empty when it conforms (the protocol version is checked apart: an older one is "stale")."""
    reasons = []
    settings = record.evaluation
    measured = record.protocol
    if measured.sha256 and measured.version == spec.version and measured.sha256 != spec.sha256:
        reasons.append(f"measured under another protocol file named {spec.name} v{spec.version} (its content "
                       f"{measured.sha256[:12]}… is not the bundled one's, {spec.sha256[:12]}…)")
    if settings.crop != spec.crop:
        reasons.append(f"crop {settings.crop} (the protocol's: {spec.crop})")
    if settings.input_size != spec.input_size:
        reasons.append(f"input size {settings.input_size} (the protocol's: {spec.input_size})")
    entries = {entry.dataset: entry for entry in spec.entries(spec.test_split)}
    reasons += [f"no result on {dataset}" for dataset in entries if dataset not in record.results]
    for dataset, result in record.results.items():
        entry = entries.get(dataset)
        if entry is None:
            reasons.append(f"{dataset} is not a test set of the protocol")
            continue
        if entry.boxes and result.box_source != entry.boxes:
            reasons.append(f"{dataset} boxes {result.box_source} (the protocol's: {entry.boxes})")
        frozen = spec.frozen_keys_sha256.get(dataset)
        if frozen and result.keys_sha256 != frozen:
            reasons.append(f"{dataset}: not the protocol's frozen test list ({result.counts['evaluated']} samples)")
        inside = [v for k, v in result.counts.items() if k.startswith("inside")]  # after the angle filter
        expected = inside[0] if inside else result.counts.get("selected", result.counts["evaluated"])
        if result.counts["evaluated"] < expected:
            reasons.append(f"{dataset}: {expected - result.counts['evaluated']} selected samples not scored")
    return reasons


def _same_test_sets(rows: list[Row], spec) -> None:
    """Where the protocol freezes no key list, reproduced rows are ranked only on the test set most of
    them share (a tie in count goes to the larger set); a row on another one is shown apart, with both
    sizes. When no set leads, every row is shown apart: only a frozen key list can settle it."""
    for dataset in (entry.dataset for entry in spec.entries(spec.test_split)):
        if dataset in spec.frozen_keys_sha256:
            continue
        scored = [r for r in rows if dataset in r.keys_sha256]
        groups: dict[str, list[Row]] = {}
        for row in scored:
            groups.setdefault(row.keys_sha256[dataset], []).append(row)
        if len(groups) < 2:
            continue
        rank = sorted(groups.values(), key=lambda g: (len(g), g[0].results[dataset].get("n_eval", 0)), reverse=True)
        lead = rank[0]
        tied = (len(rank[1]), rank[1][0].results[dataset].get("n_eval", 0)) == \
            (len(lead), lead[0].results[dataset].get("n_eval", 0))
        size = lead[0].results[dataset].get("n_eval")
        for row in scored:
            if row in lead and not tied:
                continue
            reason = (f"{dataset}: the records' test sets differ and none leads (freeze the key list in the protocol)"
                      if tied else f"{dataset}: another test set than the other records' "
                      f"(n {row.results[dataset].get('n_eval')} vs {size})")
            row.comparable = False
            row.note = f"{row.note}; {reason}" if row.note else f"not comparable: {reason}"


def load_records(folder: Path) -> list[Row]:
    rows = []
    for path in sorted(folder.glob("*.json")):
        record = ResultRecord.load(path)
        protocol, model = record.protocol, record.model
        spec = load_protocol(protocol.name, bundled=True)
        ensemble = record.evaluation.ensemble
        name = model.arch + (f" + ensemble p={ensemble['pad']},s={ensemble['stride']}" if ensemble else "")
        results = {}
        for dataset, result in record.results.items():
            values = {k.removeprefix("mae_"): v for k, v in result.metrics.items() if isinstance(v, (int, float))}
            values.update(n_eval=result.counts["evaluated"], n_fallback=result.counts.get("fallback", 0))
            results[dataset] = values
        box_sources = sorted({r.box_source for r in record.results.values()})
        stale = int(protocol.version) < spec.version
        reasons = conformance(record, spec)
        notes = ([f"protocol v{protocol.version} is older than the current v{spec.version}"] if stale else []) + \
            ([f"not comparable: {'; '.join(reasons)}"] if reasons else [])
        rows.append(Row(
            protocol=protocol.name, model=name,
            source="reproduced (synthetic data)" if spec.synthetic else "reproduced",
            results=results, comparable=not reasons, stale=stale, box_source=", ".join(box_sources),
            params_m=model.parameters_m, gflops=model.gflops, memory_mb=model.memory_mb,
            protocol_version=int(protocol.version),
            hpbench_version=record.environment["hpbench_version"], code_commit=record.environment["code_commit"],
            weights_sha256=model.sha256, date=record.date, reference=path.name, note="; ".join(notes),
            keys_sha256={d: r.keys_sha256 for d, r in record.results.items()},
        ))
    by_protocol: dict[str, list[Row]] = {}
    for row in rows:
        by_protocol.setdefault(row.protocol, []).append(row)
    for protocol, group in by_protocol.items():
        _same_test_sets([r for r in group if not r.stale], load_protocol(protocol, bundled=True))
    return rows


# ---------------------------------------------------------------------------------------------


def _number(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _sorted(rows: list[Row], datasets: list[str], board: Board) -> list[Row]:
    return sorted(rows, key=lambda r: (not r.comparable, r.stale, r.rank_value(datasets, board), r.model, r.source,
                                       r.reference))


def _datasets(protocol: str) -> list[str]:
    spec = load_protocol(protocol, bundled=True)
    return [entry.dataset for entry in spec.entries(spec.test_split)]


def protocol_csv(protocol: str, rows: list[Row]) -> str:
    datasets, board = _datasets(protocol), board_for(protocol)
    shares = {key for key, _, higher in board.columns if higher}  # PCK-like columns get four digits
    header = ["protocol", "model", "source", "status", "comparable"]
    header += [f"{d}_{c}" for d in datasets for c in board.csv_columns] + list(TRAILING_COLUMNS)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(header)
    for row in _sorted(rows, datasets, board):
        cells = [protocol, row.model, row.source, "stale" if row.stale else "current", "yes" if row.comparable else "no"]
        for dataset in datasets:
            values = row.results.get(dataset, {})
            cells += [_number(values.get(column), 4 if column in shares else 2) for column in board.csv_columns]
        cells += [row.box_source, _number(row.params_m, 3), _number(row.gflops, 3), _number(row.memory_mb, 3),
                  row.protocol_version or "",
                  row.hpbench_version, row.code_commit, row.weights_sha256, row.date, row.reference, row.variant,
                  row.note]
        out.writerow(cells)
    return buffer.getvalue()


def _named(row: Row) -> str:
    """The model cell: a reproduced row also names its weights (two runs of one architecture differ), a
    reported one its variant where rows of one method differ in it."""
    if row.weights_sha256:
        return f"{row.model} ({row.weights_sha256[:8]})"
    return f"{row.model} · {row.variant}" if row.variant else row.model


def _ranked(row: Row) -> bool:
    return row.comparable and not row.stale


def _md(text: str) -> str:
    """Text from a file, safe in a Markdown table cell: one line, pipes escaped, HTML inert (a record
    is a stranger's file: it must not add rows, links or markup to the README)."""
    text = " ".join(str(text).split())
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def protocol_markdown(protocol: str, rows: list[Row]) -> str:
    """The protocol's section: the ranked table (comparable, current rows; the best value of each
    column in bold), then the rows shown apart with the reason each cannot be ranked."""
    from tabulate import tabulate

    spec, board = load_protocol(protocol, bundled=True), board_for(protocol)
    datasets = _datasets(protocol)
    ordered = _sorted(rows, datasets, board)
    columns = [(d, key) for d in datasets for key, _, _ in board.columns]
    higher = {key: up for key, _, up in board.columns}
    ranked, apart = [r for r in ordered if _ranked(r)], [r for r in ordered if not _ranked(r)]
    best = {}
    for column in columns:
        values = [r.results.get(column[0], {}).get(column[1]) for r in ranked]
        values = [v for v in values if v is not None]
        best[column] = (max if higher[column[1]] else min)(values) if values else None
    sized = any(r.params_m is not None for r in rows)  # records measure their models; reported rows do not
    headers = ["model", "source"] + [f"{d} {label}" for d in datasets for _, label, _ in board.columns]
    headers += ["n", "boxes"]
    headers += ["M params · GFLOPs · MB"] if sized else []

    def cells(row: Row, bold: bool) -> list[str]:
        out = []
        for column in columns:
            value = row.results.get(column[0], {}).get(column[1])
            text = _number(value)
            out.append(f"**{text}**" if bold and value is not None and value == best[column] else text)
        counts = [_number(row.results.get(d, {}).get("n_eval")) for d in datasets]
        size = [" · ".join(_number(v, 3) or "—" for v in (row.params_m, row.gflops, row.memory_mb))] if sized else []
        return out + ["/".join(c or "—" for c in counts), _md(row.box_source) or "—"] + size

    table, footnotes = [], []
    for row in ranked:
        marks = ""
        if row.note:
            if row.note not in footnotes:  # one footnote for rows that share a note
                footnotes.append(row.note)
            marks = f" [{footnotes.index(row.note) + 1}]"
        table.append([_md(_named(row)) + marks, _md(row.source), *cells(row, bold=True)])
    lines = [f"## {spec.name} — {spec.title} (v{spec.version})", "",
             tabulate(table, headers=headers, tablefmt="github", disable_numparse=True), ""]
    lines += [f"[{i}] {_md(note)}" + "  " for i, note in enumerate(footnotes, start=1)]
    if apart:
        lines += ["", f"Shown apart, not ranked ({len(apart)}): measured another way than {spec.name} says, or "
                  "under an older version of it.", ""]
        table = [[_md(_named(row)), _md(row.source) + (" · stale" if row.stale else ""), *cells(row, bold=False),
                  _md(row.note) or "not comparable"] for row in apart]
        lines.append(tabulate(table, headers=headers + ["why"], tablefmt="github", disable_numparse=True))
    lines += ["", f"![{spec.name}]({spec.name}.png)", ""]
    return "\n".join(lines)


LABEL_WIDTH = 64  # characters per line of a chart's row label


def _label(row: Row) -> str:
    """A row's name on the chart with its source, broken at its " · " parts into lines of at most
    LABEL_WIDTH characters (a part longer than that stays whole), so that variants stay apart."""
    lines: list[str] = []
    for part in f"{_named(row)} ({row.source})".replace("$", r"\$").split(" · "):  # no mathtext from a file
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

    datasets, board = _datasets(protocol), board_for(protocol)
    metric, unit, higher = board.primary, board.unit, board.higher_is_better
    if not any(metric in r.results.get(d, {}) for r in rows for d in datasets):
        metric, unit, higher = "loss", "loss (the CPM release's unit)", False
    ordered = [r for r in _sorted(rows, datasets, board) if any(metric in r.results.get(d, {}) for d in datasets)]
    ordered = [r for r in ordered if _ranked(r)] + [r for r in ordered if not _ranked(r)]
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
            apart = not _ranked(row)
            axis.barh(i + k * bar, value, height=bar, color=colours[k % len(colours)], alpha=0.45 if apart else 1,
                      hatch="//" if apart else None, edgecolor="white" if apart else None,
                      label=dataset if i == 0 else None)
            axis.text(value + largest * 0.005, i + k * bar, f"{value:.2f}", va="center", fontsize=8)
    axis.set_yticks([i + bar * (len(datasets) - 1) / 2 for i in range(len(ordered))])
    axis.set_yticklabels(labels, fontsize=9)
    for tick, row in zip(axis.get_yticklabels(), ordered):
        if not _ranked(row):
            tick.set_color("grey")
    ranked = sum(_ranked(r) for r in ordered)
    if 0 < ranked < len(ordered):
        axis.axhline(ranked - 0.5 + bar * (len(datasets) - 1) / 2, color="black", linewidth=0.8)
    apart = "; hatched rows below the line are shown apart, not ranked" if ranked < len(ordered) \
        else ""
    axis.set_ylim(len(ordered) - 0.2, -0.6)
    axis.set_xlim(0, largest * 1.25)  # room for the values, and for the legend beside the longest bars
    axis.set_xlabel(f"{unit}{apart}", fontsize=10)
    name = "mean absolute error" if metric == "mae" else metric.upper() if metric != "loss" else "loss"
    axis.set_title(f"{protocol}: {name} per test set ({'higher' if higher else 'lower'} is better)", fontsize=11)
    handles, labels = axis.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axis.legend(unique.values(), unique.keys(), fontsize=9, loc="lower right")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": f"matplotlib {matplotlib.__version__}"})
    plt.close(figure)
    return buffer.getvalue()


def build_files(folder: Path | None = None) -> dict[str, bytes]:
    """Every generated file (name → bytes) from ``folder``'s reported.yaml and results/."""
    folder = folder or leaderboards_dir()
    rows = load_reported(folder / "reported.yaml") + load_records(folder / "results")
    by_protocol: dict[str, list[Row]] = {}
    for row in rows:
        by_protocol.setdefault(row.protocol, []).append(row)
    files = {}
    sections = ["# Leaderboards", "",
                "Generated by `hpbench leaderboard build` from `reported.yaml` (published numbers, with their "
                "sources) and `results/*.json` (records of `hpbench evaluate --record`). Do not edit by hand: "
                "CI rebuilds and compares. MAE in degrees, no angle wrapping; **bold**: the best value in its column "
                "of the ranked table. A row measured another way than its protocol says (another crop, input size, "
                "box source or test set, dropped samples, a wrapped error) or under an older protocol version "
                "(stale) is shown apart with the reason, never ranked.", ""]
    for protocol in sorted(by_protocol, key=lambda name: (load_protocol(name, bundled=True).synthetic, name)):
        files[f"{protocol}.csv"] = protocol_csv(protocol, by_protocol[protocol]).encode()
        files[f"{protocol}.png"] = protocol_chart(protocol, by_protocol[protocol])
        sections.append(protocol_markdown(protocol, by_protocol[protocol]))
    files["README.md"] = "\n".join(sections).encode()
    return files


def build(folder: Path | None = None) -> list[Path]:
    folder = folder or leaderboards_dir()
    written = []
    for name, content in build_files(folder).items():
        written.append(write_bytes_atomic(output_path(folder, name), content))
    return written


def _png_software(content: bytes) -> str:
    """The PNG's tEXt "Software" value (the matplotlib that drew it)."""
    position = 8  # after the signature: chunks of length, type, data, CRC
    while position + 8 <= len(content):
        length = int.from_bytes(content[position:position + 4], "big")
        kind, data = content[position + 4:position + 8], content[position + 8:position + 8 + length]
        if kind == b"tEXt" and data.startswith(b"Software\x00"):
            return data[len(b"Software\x00"):].decode("latin1")
        position += 12 + length
    return ""


def check(folder: Path | None = None) -> list[str]:
    """Differences between the committed files and a rebuild (empty when they agree)."""
    folder = folder or leaderboards_dir()
    problems = []
    for name, content in build_files(folder).items():
        path = folder / name
        if not path.is_file():
            problems.append(f"{name}: missing (run hpbench leaderboard build)")
            continue
        committed = path.read_bytes()
        if committed == content:
            continue
        if name.endswith(".png"):
            if _png_software(committed) != _png_software(content):
                continue  # drawn by another matplotlib: pixels may differ, the data is checked in the CSV
            problems.append(f"{name}: the chart differs from a rebuild")
            continue
        diff = difflib.unified_diff(committed.decode().splitlines(), content.decode().splitlines(),
                                    f"committed/{name}", f"rebuilt/{name}", lineterm="", n=1)
        problems.append("\n".join(diff))
    return problems


def build_or_check(folder: str | Path | None = None, check_only: bool = False) -> int:
    """``hpbench leaderboard build [--check]``: rebuild the files, or report how the committed ones differ."""
    folder = Path(folder) if folder else None
    if check_only:
        problems = check(folder)
        for problem in problems:
            print(problem)
        print("leaderboards differ from a rebuild: run hpbench leaderboard build" if problems
              else "leaderboards are up to date")
        return 1 if problems else 0
    for path in build(folder):
        print(f"wrote {path}")
    return 0


def compare_records(records: list[str]) -> int:
    """``hpbench compare RECORD…``: result records side by side, each with what it was measured on and
    why it would not be ranked under its protocol."""
    from tabulate import tabulate

    if not records:
        raise HpbenchError("name one or more result records (results/*.json)")
    loaded = [(Path(path), ResultRecord.load(path)) for path in records]
    datasets = list(dict.fromkeys(d for _, record in loaded for d in record.results))
    rows = []
    for path, record in loaded:
        settings = record.evaluation
        try:
            reasons = conformance(record, load_protocol(record.protocol.name, bundled=True))
        except HpbenchError:  # a --test file, or a protocol file not at hand
            reasons = ["no protocol to check it against"]
        row = [path.name, f"{record.protocol.name} v{record.protocol.version}", record.model.arch,
               record.model.sha256[:8], f"{settings.crop} @ {settings.input_size}"]
        for dataset in datasets:
            result = record.results.get(dataset)
            metrics = result.metrics if result else {}
            row += [_number(metrics.get(k)) for k in ("mae_yaw", "mae_pitch", "mae_roll", "mae")]
            row.append(result.counts["evaluated"] if result else "")
        rows.append(row + ["; ".join(reasons) or "conforms"])
    headers = ["record", "protocol", "model", "weights", "crop"]
    headers += [f"{d} {c}" for d in datasets for c in ("yaw", "pitch", "roll", "MAE", "n")] + ["conformance"]
    print(tabulate(rows, headers=headers, disable_numparse=True))
    return 0
