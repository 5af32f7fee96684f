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
from dataclasses import dataclass
from pathlib import Path

import yaml

from hpbench.errors import HpbenchError
from hpbench.evaluation.records import ResultRecord
from hpbench.io import write_bytes_atomic
from hpbench.protocols import load_protocol
from hpbench.resources import bundled_dir

COLUMNS_PER_DATASET = ("yaw", "pitch", "roll", "mae", "geodesic", "n_eval", "n_fallback")
TRAILING_COLUMNS = ("box_source", "params_m", "gflops", "protocol_version", "hpbench_version", "code_commit",
                    "weights_sha256", "date", "reference", "variant", "note")


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
    protocol_version: int | None = None
    hpbench_version: str = ""
    code_commit: str = ""
    weights_sha256: str = ""
    date: str = ""
    reference: str = ""
    variant: str = ""  # what distinguishes a method's rows: flag point, pretext task, pre-training …
    note: str = ""

    def mean_error(self, datasets: list[str]) -> float:
        for dataset in datasets:
            value = self.results.get(dataset, {}).get("mae")
            if value is not None:
                return value
        return math.inf


def leaderboards_dir() -> Path:
    return bundled_dir("leaderboards")


def load_reported(path: Path) -> list[Row]:
    try:
        content = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise HpbenchError(f"{path}: not readable ({err})") from None
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


def load_records(folder: Path) -> list[Row]:
    rows = []
    for path in sorted(folder.glob("*.json")):
        record = ResultRecord.load(path)
        protocol, model = record.protocol, record.model
        spec = load_protocol(protocol.name)
        ensemble = record.evaluation.ensemble
        name = model.arch + (f" + ensemble p={ensemble['pad']},s={ensemble['stride']}" if ensemble else "")
        results = {}
        for dataset, result in record.results.items():
            values = {k.removeprefix("mae_"): v for k, v in result.metrics.items() if isinstance(v, (int, float))}
            values.update(n_eval=result.counts["evaluated"], n_fallback=result.counts.get("fallback", 0))
            results[dataset] = values
        box_sources = sorted({r.box_source for r in record.results.values()})
        stale = int(protocol.version) < spec.version
        rows.append(Row(
            protocol=protocol.name, model=name,
            source="reproduced (synthetic data)" if spec.synthetic else "reproduced",
            results=results, stale=stale, box_source=", ".join(box_sources),
            params_m=model.parameters_m, gflops=model.gflops, protocol_version=int(protocol.version),
            hpbench_version=record.environment["hpbench_version"], code_commit=record.environment["code_commit"],
            weights_sha256=model.sha256, date=record.date, reference=path.name,
            note=f"protocol v{protocol.version} is older than the current v{spec.version}" if stale else "",
        ))
    return rows


# ---------------------------------------------------------------------------------------------


def _number(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and (math.isnan(value) or math.isinf(value))):
        return ""
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def _sorted(rows: list[Row], datasets: list[str]) -> list[Row]:
    return sorted(rows, key=lambda r: (not r.comparable, r.stale, r.mean_error(datasets), r.model, r.source,
                                       r.reference))


def _datasets(protocol: str) -> list[str]:
    spec = load_protocol(protocol)
    return [entry.dataset for entry in spec.entries(spec.test_split)]


def protocol_csv(protocol: str, rows: list[Row]) -> str:
    datasets = _datasets(protocol)
    header = ["protocol", "model", "source", "status", "comparable"]
    header += [f"{d}_{c}" for d in datasets for c in COLUMNS_PER_DATASET] + list(TRAILING_COLUMNS)
    buffer = io.StringIO()
    out = csv.writer(buffer, lineterminator="\n")
    out.writerow(header)
    for row in _sorted(rows, datasets):
        cells = [protocol, row.model, row.source, "stale" if row.stale else "current", "yes" if row.comparable else "no"]
        for dataset in datasets:
            values = row.results.get(dataset, {})
            cells += [_number(values.get(column)) for column in COLUMNS_PER_DATASET]
        cells += [row.box_source, _number(row.params_m, 3), _number(row.gflops, 3), row.protocol_version or "",
                  row.hpbench_version, row.code_commit, row.weights_sha256, row.date, row.reference, row.variant,
                  row.note]
        out.writerow(cells)
    return buffer.getvalue()


def protocol_markdown(protocol: str, rows: list[Row]) -> str:
    from tabulate import tabulate

    spec = load_protocol(protocol)
    datasets = _datasets(protocol)
    ordered = _sorted(rows, datasets)
    columns = [(d, c) for d in datasets for c in ("yaw", "pitch", "roll", "mae")]
    best = {}
    for column in columns:
        values = [r.results.get(column[0], {}).get(column[1]) for r in ordered if r.comparable and not r.stale]
        values = [v for v in values if v is not None]
        best[column] = min(values) if values else None
    table = []
    footnotes = []
    for row in ordered:
        marks = ""
        if not row.comparable or row.stale or row.note:
            footnotes.append(row.note or "")
            marks = f" [{len(footnotes)}]"
        cells = [row.model + marks, row.source + (" · stale" if row.stale else "")]
        for column in columns:
            value = row.results.get(column[0], {}).get(column[1])
            text = _number(value)
            cells.append(f"**{text}**" if value is not None and value == best[column] and row.comparable
                         and not row.stale else text)
        counts = [_number(row.results.get(d, {}).get("n_eval")) for d in datasets]
        cells += ["/".join(c or "—" for c in counts), row.box_source or "—"]
        table.append(cells)
    headers = ["model", "source"] + [f"{d} {c if c != 'mae' else 'MAE'}" for d, c in columns] + ["n", "boxes"]
    lines = [f"## {spec.name} — {spec.title} (v{spec.version})", "",
             tabulate(table, headers=headers, tablefmt="github", disable_numparse=True), ""]
    lines += [f"[{i}] {note}" + "  " for i, note in enumerate(footnotes, start=1)]
    lines += ["", f"![{spec.name}]({spec.name}.png)", ""]
    return "\n".join(lines)


def protocol_chart(protocol: str, rows: list[Row]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = _datasets(protocol)
    ordered = [r for r in _sorted(rows, datasets) if any("mae" in r.results.get(d, {}) for d in datasets)]
    height = 1.2 + 0.28 * len(ordered) * max(1, len(datasets))
    figure, axis = plt.subplots(figsize=(8, height), dpi=80)
    bar = 0.8 / max(1, len(datasets))
    for k, dataset in enumerate(datasets):
        values = [r.results.get(dataset, {}).get("mae", float("nan")) for r in ordered]
        positions = [i + k * bar for i in range(len(ordered))]
        axis.barh(positions, values, height=bar, label=dataset)
    axis.set_yticks([i + bar * (len(datasets) - 1) / 2 for i in range(len(ordered))])
    axis.set_yticklabels([f"{r.model} ({r.source}{'' if r.comparable else ', not comparable'})" for r in ordered],
                         fontsize=7)
    axis.invert_yaxis()
    axis.set_xlabel("MAE (degrees)")
    axis.set_title(f"{protocol}: mean absolute error (lower is better)", fontsize=9)
    axis.legend(fontsize=7)
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
                "CI rebuilds and compares. MAE in degrees, no angle wrapping; **bold**: the best comparable, "
                "current value in its column. A stale row was scored under an older protocol version.", ""]
    for protocol in sorted(by_protocol, key=lambda name: (load_protocol(name).synthetic, name)):
        files[f"{protocol}.csv"] = protocol_csv(protocol, by_protocol[protocol]).encode()
        files[f"{protocol}.png"] = protocol_chart(protocol, by_protocol[protocol])
        sections.append(protocol_markdown(protocol, by_protocol[protocol]))
    files["README.md"] = "\n".join(sections).encode()
    return files


def build(folder: Path | None = None) -> list[Path]:
    folder = folder or leaderboards_dir()
    written = []
    for name, content in build_files(folder).items():
        written.append(write_bytes_atomic(folder / name, content))
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
