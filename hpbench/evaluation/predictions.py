"""``hpbench score PREDICTIONS --protocol P``: predictions made anywhere (another framework, another
machine), scored as ``hpbench evaluate`` scores a model.

A predictions file is a CSV with a header, or a JSON list of objects with the same fields: one row per
test sample (body pose: per sample and joint), keyed by ``dataset`` (may be left out where the protocol
has one test set) and ``key``, the dataset's own sample key (``hpbench protocols keys P --data DIR``
lists them). The values are the task's (hpbench.tasks): head pose three angles named as the
``--convention``'s values (``yaw, pitch, roll`` for hpbench's) or a rotation matrix ``r11 … r33``
(row-major) for a matrix convention; body pose ``joint, x, y`` in original-image pixels. A column may
carry ``pred_`` before its name, as ``evaluate --save-predictions`` writes; other columns are ignored
but ``run_time`` (seconds for that image), which the record keeps.

Every problem is one error naming the file and the first few rows: a key the prepared file does not
hold, a row given twice, a value that is missing, not a number or not finite. A key of the dataset
that the protocol does not select (outside its angle filter, another split) is ignored and counted;
a selected key without a row is counted, said, and the record then shows fewer scored than selected,
so the leaderboard shows it apart — never scored on fewer in silence.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from pathlib import Path

import numpy as np

from hpbench.errors import HpbenchError
from hpbench.jsonfiles import parse_json

logger = logging.getLogger(__name__)

MAX_SHOWN = 3  # rows named in an error


def read_rows(path: Path) -> list[dict[str, str]]:
    """The rows of a CSV or JSON predictions file, each field as text."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise HpbenchError(f"{path}: not readable ({err.strerror or err})") from None
    if path.suffix.lower() == ".json":
        content = parse_json(raw, str(path))
        if not isinstance(content, list) or not all(isinstance(row, dict) for row in content):
            raise HpbenchError(f"{path}: a JSON predictions file is a list of objects, one per row")
        return [{str(k): "" if v is None else str(v) for k, v in row.items()} for row in content]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HpbenchError(f"{path}: not UTF-8 text (a CSV file is expected)") from None
    rows = list(csv.DictReader(io.StringIO(text)))
    if rows and None in rows[0]:
        raise HpbenchError(f"{path}: row 1 has more fields than the header")
    return rows


def _shown(items) -> str:
    items = list(items)
    return ", ".join(map(str, items[:MAX_SHOWN])) + (f" … ({len(items)} in all)" if len(items) > MAX_SHOWN else "")


def rows_by_dataset(path: Path, rows: list[dict[str, str]], datasets: list[str]) -> dict[str, list[dict[str, str]]]:
    """The rows of each test set; ``dataset`` may be left out where there is one."""
    if not rows:
        raise HpbenchError(f"{path}: no rows")
    if "key" not in rows[0]:
        raise HpbenchError(f"{path}: no 'key' column (its columns: {', '.join(rows[0])})")
    if "dataset" not in rows[0]:
        if len(datasets) > 1:
            raise HpbenchError(f"{path}: the protocol has {len(datasets)} test sets ({', '.join(datasets)}): add a "
                               "'dataset' column")
        return {datasets[0]: rows}
    grouped: dict[str, list[dict[str, str]]] = {dataset: [] for dataset in datasets}
    unknown = []
    for number, row in enumerate(rows, start=2):
        if row.get("dataset") in grouped:
            grouped[row["dataset"]].append(row)
        else:
            unknown.append(f"line {number}: {row.get('dataset')!r}")
    if unknown:
        raise HpbenchError(f"{path}: rows of a dataset that is not a test set of the protocol ({', '.join(datasets)}): "
                           f"{_shown(unknown)}")
    empty = [dataset for dataset, found in grouped.items() if not found]
    if empty:
        raise HpbenchError(f"{path}: no rows for {', '.join(empty)}, a test set of the protocol")
    return grouped


def indexed(path: Path, dataset: str, rows: list[dict[str, str]], fields: tuple[str, ...]) -> dict[tuple, dict]:
    """The rows by the values of ``fields`` (``key``; body pose ``key, joint``); a row given twice is an error."""
    table: dict[tuple, dict] = {}
    twice = []
    for row in rows:
        identity = tuple(row.get(name, "") for name in fields)
        if identity in table:
            twice.append("/".join(identity))
        table[identity] = row
    if twice:
        raise HpbenchError(f"{path}: {dataset}: rows given twice: {_shown(twice)}")
    return table


def checked_keys(path: Path, selection, given) -> tuple[np.ndarray, list[str]]:
    """The positions in ``selection`` (hpbench.protocols.Selection) of the selected keys that have rows,
    in selection order, and those keys; a key of ``given`` the prepared file does not hold is an error.
    Says what is missing or ignored."""
    dataset, given = selection.dataset, set(given)
    unknown = sorted(given - set(map(str, selection.data.keys)))
    if unknown:
        raise HpbenchError(f"{path}: {dataset}: keys that {dataset}'s prepared file does not hold: {_shown(unknown)} "
                           "(hpbench protocols keys lists the protocol's)")
    chosen = [str(key) for key in selection.data.keys[selection.indices]]
    positions = np.array([i for i, key in enumerate(chosen) if key in given], dtype=np.intp)
    missing = [key for key in chosen if key not in given]
    if missing:
        logger.warning(f"{path}: {dataset}: {len(missing)} of the {len(chosen)} selected samples have no row "
                       f"({_shown(missing)}): the record counts them as not scored")
    ignored = len(given - set(chosen))
    if ignored:
        logger.info(f"{path}: {dataset}: {ignored} rows of samples the protocol does not select are ignored")
    return positions, [chosen[i] for i in positions]


def column(rows: list[dict], names: tuple[str, ...], path: Path, dataset: str, labels: list[str]) -> np.ndarray:
    """(len(rows), len(names)) float64 values of the named columns (each may carry ``pred_``); a missing,
    unreadable or non-finite value is an error naming the first rows."""
    if not rows:
        return np.zeros((0, len(names)))
    header = rows[0]
    chosen = []
    for name in names:
        found = next((c for c in (name, f"pred_{name}") if c in header), None)
        if found is None:
            raise HpbenchError(f"{path}: no column {name!r} (or pred_{name}); its columns: {', '.join(header)}")
        chosen.append(found)
    values = np.full((len(rows), len(names)), np.nan)
    bad = []
    for i, row in enumerate(rows):
        for j, name in enumerate(chosen):
            try:
                values[i, j] = float(row.get(name) or "nan")
            except ValueError:
                pass
            if not math.isfinite(values[i, j]):
                bad.append(f"{labels[i]} {name}={row.get(name)!r}")
    if bad:
        raise HpbenchError(f"{path}: {dataset}: values that are missing, not numbers or not finite: {_shown(bad)}")
    return values


def run_times(path: Path, dataset: str, rows: list[dict], labels: list[str]) -> float | None:
    """The sum of the rows' ``run_time`` seconds, where the file gives them (every row, or none)."""
    if not rows or "run_time" not in rows[0]:
        return None
    seconds = column(rows, ("run_time",), path, dataset, labels)[:, 0]
    if (seconds < 0).any():
        raise HpbenchError(f"{path}: {dataset}: a negative run_time")
    return float(seconds.sum())
