"""``hpbench prepare``: convert a raw dataset folder into ``<out>/<dataset>.h5``.

Streaming and constant-memory: samples are read in worker processes (one by default), checked
against the format's value rules, written in order in batches, and the file appears only when
complete. A bad source file (unreadable, wrong values, or one that kills its reader) stops the run
with a message naming it, or, with ``skip_bad``, is listed in the report and the run goes on.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

from tqdm import tqdm

from hpbench import __version__
from hpbench.converters import SourceItem, Sources, get_converter
from hpbench.errors import BadSourceFile, HpbenchError
from hpbench.format import Layout, Writer, prepared_path, row_problems, sample_row
from hpbench.io import write_text_atomic
from hpbench.locks import output_lock
from hpbench.parallel import capped_workers, ordered_map
from hpbench.pose import inside_range


@dataclass
class PrepareReport:
    dataset: str
    source: str
    output: str
    found: int  # samples the source lists
    written: int = 0
    inside_99: int | None = None  # head pose only
    skipped: list[dict] = field(default_factory=list)  # bad source files: path, reason, samples lost
    excluded: list[dict[str, str]] = field(default_factory=list)  # left out by the dataset's rules
    notes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    workers: int = 1
    options: dict = field(default_factory=dict)
    content_sha256: str = ""
    published_count: int | None = None
    hpbench_version: str = __version__

    @property
    def report_path(self) -> Path:
        return Path(self.output).with_suffix(".prepare.json")

    def summary(self) -> str:
        rate = self.found / self.seconds if self.seconds else 0.0
        published = f" of {self.published_count:,} published" if self.published_count else ""
        lost = sum(entry["samples"] for entry in self.skipped)
        inside = f" ({self.inside_99:,} inside ±99°)" if self.inside_99 is not None else ""
        lines = [
            f"{self.dataset}: wrote {self.written:,} samples{published} to {self.output}{inside}, "
            f"skipped {lost:,} of {self.found:,} found; "
            f"{self.seconds:.1f} s, {rate:,.0f} samples/s with {self.workers} worker(s)",
        ]
        lines += [f"  {what}: {count:,}" if isinstance(count, int) else f"  {what}: {count}"
                  for what, count in self.notes.items()]
        reasons = Counter(entry["why"] for entry in self.excluded)
        lines += [f"  excluded by the dataset's rules, {why}: {count:,}" for why, count in sorted(reasons.items())]
        lines += [f"  skipped {entry['path']}: {entry['reason']}" for entry in self.skipped[:10]]
        if len(self.skipped) > 10:
            lines.append(f"  … {len(self.skipped) - 10} more skipped files are listed in the report")
        lines.append(f"report: {self.report_path}")
        return "\n".join(lines)


def source_manifest_sha256(items: list[SourceItem], src: Path) -> str:
    """Hash of the sorted (relative path, size) list of every source file (−1 for an absent file)."""
    entries = set()
    for item in items:
        for path in item.paths:
            size = path.stat().st_size if path.is_file() else -1
            entries.add((path.relative_to(src).as_posix() if path.is_relative_to(src) else str(path), size))
    digest = hashlib.sha256()
    for name, size in sorted(entries):
        digest.update(f"{name}\t{size}\n".encode())
    return digest.hexdigest()


CHECK_BATCH = 64  # items whose rows the value rules check at once


def _read_or_report(dataset: str, layout: Layout, item: SourceItem) -> list[dict] | BadSourceFile:
    """The item's samples as the rows to write (checked by ``_checked``), or what is wrong with its files."""
    if isinstance(item.info, BadSourceFile):  # found bad while listing (a path that leaves the root, a NaN row)
        return item.info
    try:
        result = get_converter(dataset).read(item)
    except BadSourceFile as err:
        return err
    except Exception as err:  # noqa: BLE001 - a reader choking on bytes it was not written for: one bad item
        return BadSourceFile(_blamed(item), f"cannot be converted ({type(err).__name__}: {err}); if the file is "
                                            "intact, this is an hpbench bug: please report it")
    rows = []
    for sample in result if isinstance(result, list) else [result]:
        try:
            rows.append(sample_row(sample, layout))
        except ValueError as err:
            return BadSourceFile(_blamed(item), f"sample {sample.key}: {err}")
    return rows


def _checked(batch: list[tuple[SourceItem, list | BadSourceFile]], layout: Layout):
    """The batch's items with the format's value rules applied to their rows: in one vectorised pass
    over the whole batch, and item by item only where that pass finds a problem (to name the item)."""
    rows = [row for _, result in batch if not isinstance(result, BadSourceFile) for row in result]
    if not rows or not row_problems(rows, layout):
        return batch
    checked = []
    for item, result in batch:
        for row in result if not isinstance(result, BadSourceFile) else ():
            if problems := row_problems([row], layout):
                result = BadSourceFile(_blamed(item), f"sample {row['key']}: {'; '.join(problems)}")
                break
        checked.append((item, result))
    return checked


def _blamed(item: SourceItem) -> str:
    """The file a bad item is reported under: its annotation where it has one (read after the image)."""
    return item.files[1] if len(item.files) > 1 else (item.files[0] if item.files else item.key)


def _crashed(item: SourceItem) -> BadSourceFile:
    return BadSourceFile(_blamed(item), "crashed the process reading it (a corrupt file that makes a parser "
                                        f"fail hard; files: {', '.join(Path(f).name for f in item.files)})")


def _write_samples(writer: Writer, sources: Sources, report: PrepareReport, skip_bad: bool, workers: int,
                   progress: bool) -> None:
    """Read every item in ``workers`` worker processes (one by default, so a parser that crashes
    costs one item) and append its samples in order."""
    reader = partial(_read_or_report, report.dataset, sources.layout)
    results = ordered_map(reader, sources.items, workers=workers, on_crash=_crashed)  # a crash costs one item
    with tqdm(total=report.found, unit="sample", desc=f"prepare {report.dataset}", disable=not progress) as bar:
        for batch in _batches(zip(sources.items, results), CHECK_BATCH):
            for item, result in _checked(batch, sources.layout):
                bar.update(item.count)
                if isinstance(result, BadSourceFile):
                    if not skip_bad:
                        raise BadSourceFile(result.path, result.reason + " (pass --skip-bad to convert the rest)")
                    report.skipped.append({"path": result.path, "reason": result.reason, "samples": item.count})
                    continue
                for row in result:
                    writer.append_row(row)
                    if report.inside_99 is not None:
                        report.inside_99 += bool(inside_range(row["pose/ypr"]))


def _batches(pairs, size: int):
    batch = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _check_output(out_dir: Path, output: Path, overwrite: bool) -> None:
    """--out must be (or be creatable as) a writable folder, and the output a file to create or
    replace; nothing is created here (a run refused later leaves no folder behind)."""
    existing = next(p for p in (out_dir, *out_dir.parents) if p.exists() or p == p.parent)
    if not existing.is_dir():
        where = "is a file" if existing == out_dir else f"is below {existing}, a file"
        raise HpbenchError(f"--out {out_dir}: {where}, not a folder; choose another --out")
    if not os.access(existing, os.W_OK):
        raise HpbenchError(f"--out {out_dir}: {existing} is not writable; choose another --out")
    if output.is_dir():
        raise HpbenchError(f"{output} is a folder; remove it or choose another --out")
    if output.exists() and not overwrite:
        raise HpbenchError(f"{output} already exists; pass --overwrite to replace it")


def prepare(
    dataset: str,
    src: str | Path,
    out_dir: str | Path = "data",
    workers: int = 1,
    skip_bad: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    **options,
) -> PrepareReport:
    """Convert ``src`` into ``out_dir/<dataset>.h5``; ``options`` go to the converter (e.g. with_depth)."""
    converter = get_converter(dataset)
    known = [option.name for option in converter.options]
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise HpbenchError(f"{dataset} takes no option {', '.join(unknown)} (it takes: {', '.join(known) or 'none'})")
    src, out_dir = Path(src), Path(out_dir)
    if not src.is_dir():
        raise HpbenchError(f"--src {src}: no such folder")
    output = prepared_path(out_dir, dataset)
    _check_output(out_dir, output, overwrite)
    with output_lock(output):
        return _prepare(converter, src, output, workers, skip_bad, overwrite, progress, options)


def _prepare(converter, src: Path, output: Path, workers: int, skip_bad: bool, overwrite: bool, progress: bool,
             options: dict) -> PrepareReport:
    """``prepare`` itself, under the output's lock (the output is checked again: another run may have
    written it while this one waited to start)."""
    dataset = converter.name
    _check_output(output.parent, output, overwrite)
    started = time.perf_counter()
    sources = converter.find_sources(src, **options)
    workers = capped_workers(workers, len(sources.items))
    published = next((p.value for p in converter.published if p.what == "samples"), None)
    report = PrepareReport(dataset, str(src), str(output), found=sources.sample_count, workers=workers,
                           options=options, excluded=sources.excluded, notes=sources.notes, published_count=published)
    report.inside_99 = 0 if sources.layout.pose_angles else None  # a file of head poses
    try:
        with Writer(output, sources.layout, source_manifest_sha256(sources.items, src)) as writer:
            _write_samples(writer, sources, report, skip_bad, workers, progress)
            if writer.count == 0:
                raise HpbenchError(f"no sample of {src} could be converted ({len(report.skipped)} files skipped)")
            report.content_sha256 = writer.commit()
    except (OSError, RuntimeError) as err:  # h5py's write errors: a full disk, a folder made read-only
        raise HpbenchError(f"{output}: writing failed ({err}); is the disk full or the folder read-only? "
                           "Nothing was written (the partial file is removed)") from None
    report.written = writer.count
    report.seconds = time.perf_counter() - started
    write_text_atomic(report.report_path, json.dumps(asdict(report), indent=2) + "\n")
    return report
