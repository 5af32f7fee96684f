"""``hpbench sensitivity MODEL --protocol P``: how much each evaluation choice moves a model's score.

The model is scored under the protocol's own setting, then under controlled changes of one choice at
a time (``SETTINGS``), each an option of ``evaluate`` (hpbench.tasks.EvaluationOptions) that the
protocol's task takes (a change it does not take is left out and said):

- **box and crop**: each other box source the prepared files hold; the box scaled ×0.8 … ×1.2 about
  its centre; shifted by ±1, ±2, ±4 px along x and along y; each other crop rule that draws nothing at
  random;
- **input**: the input size ±32 px; the other resize kernel; the channel order swapped; the crop
  re-encoded as JPEG at quality 50; down to 64 and to 32 px and back; a Gaussian blur of σ 2 px;
- **run**: batch size 1; 0 or 2 DataLoader workers; crops cut afresh instead of read from the cache.
  These must not move the score at all: any difference is flagged as a defect of the model or the
  pipeline (a model whose BatchNorm reads batch statistics, a loader that is not deterministic).

Per test set the report gives the primary metric under each setting, its change, the spread of each
group and the worst case against the protocol's own setting, and one line a paper can quote. A model
that scores the same with its channels swapped is flagged too (it may not look at the image). Every
changed input is deterministic and keyed in the crop cache, so a second report costs the forward
passes only.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Callable

from hpbench.data.crops import CROP_RULES, RESIZE_KERNELS
from hpbench.data.perturb import BoxChange, Degradation
from hpbench.errors import HpbenchError
from hpbench.evaluation.evaluate import Evaluation, evaluate
from hpbench.metrics import Column
from hpbench.models.inference import checked_device
from hpbench.models.loading import load_model
from hpbench.protocols import Protocol, load_protocol
from hpbench.tasks import TASKS

logger = logging.getLogger(__name__)

GROUPS = ("box and crop", "input", "run")
RUN_TOLERANCE = 1e-3  # a "run" setting may move the metric by float rounding only (measured: < 1e-5°)
SWAP_SUSPICIOUS = 0.01  # a channel swap that moves the metric by less than 1 % is suspicious


@dataclass(frozen=True)
class Setting:
    """One controlled change: its group, its name and the ``evaluate`` keywords that make it."""

    group: str
    name: str
    options: dict = field(default_factory=dict)


def settings_for(protocol: Protocol, box_sources: list[str], kernel: str, workers: int,
                 groups=GROUPS) -> list[Setting]:
    """The settings of a report: every change of ``groups`` (``box_sources``: those the test files hold;
    ``kernel``: the resize kernel the model's own setting uses; ``workers``: the loader workers it uses)."""
    made: list[Setting] = []
    own = {entry.boxes or entry.reference for entry in protocol.entries(protocol.test_split)}
    made += [Setting("box and crop", f"boxes {source}", {"boxes": source}) for source in box_sources
             if source not in own]
    made += [Setting("box and crop", f"box × {scale:g}", {"box_change": BoxChange(scale=scale)})
             for scale in (0.8, 0.9, 1.1, 1.2)]
    made += [Setting("box and crop", f"shift {axis} {step:+d} px",
                     {"box_change": BoxChange(dx=step if axis == "x" else 0, dy=step if axis == "y" else 0)})
             for axis in ("x", "y") for step in (-4, -2, -1, 1, 2, 4)]
    made += [Setting("box and crop", f"crop {name}", {"crop": name}) for name, rule in CROP_RULES.items()
             if not rule.random and name != protocol.crop]
    made += [Setting("input", f"input {protocol.input_size + step} px", {"input_size": protocol.input_size + step})
             for step in (-32, 32) if protocol.input_size + step >= 32]
    made += [Setting("input", f"resize {other}", {"resize_kernel": other}) for other in RESIZE_KERNELS if other != kernel]
    made += [Setting("input", "channels swapped", {"swap_channels": True})]
    made += [Setting("input", str(degradation), {"degrade": degradation})
             for degradation in (Degradation("jpeg", 50), Degradation("downscale", 64), Degradation("downscale", 32),
                                 Degradation("blur", 2))
             if degradation.kind != "downscale" or degradation.value < protocol.input_size]
    made += [Setting("run", "batch 1", {"batch_size": 1}),
             Setting("run", f"{2 if workers == 0 else 0} loader workers", {"workers": 2 if workers == 0 else 0}),
             Setting("run", "uncached crops", {"cache": False})]
    return [s for s in made if s.group in groups]


@dataclass
class Sensitivity:
    """The base evaluation and, per setting, the primary metric per test set (None: not applicable)."""

    base: Evaluation
    column: Column  # the protocol's primary column
    settings: list[Setting]
    values: list[dict[str, float] | None]  # per setting: test set → metric
    notes: list[str]  # per setting: why it does not apply, or ""
    seconds: dict[str, float] = field(default_factory=dict)  # forward passes and all, over every run

    def spread(self, dataset: str, group: str) -> tuple[float, float]:
        """The lowest and highest metric over the group's settings, the protocol's own included."""
        found = [v[dataset] for s, v in zip(self.settings, self.values) if s.group == group and v]
        found.append(self.base.record.results[dataset].metrics[self.column.key])
        return min(found), max(found)

    def worst(self, dataset: str) -> tuple[str, float] | None:
        """The setting that moves the metric furthest from the protocol's own setting, and by how much."""
        base = self.base.record.results[dataset].metrics[self.column.key]
        moved = [(s.name, v[dataset] - base) for s, v in zip(self.settings, self.values) if v]
        return max(moved, key=lambda item: abs(item[1])) if moved else None

    def flags(self) -> list[str]:
        """What the report warns of: a run setting that moves the score, a channel swap that does not."""
        flagged = []
        for setting, values in zip(self.settings, self.values):
            for dataset, value in (values or {}).items():
                base = self.base.record.results[dataset].metrics[self.column.key]
                if setting.group == "run" and abs(value - base) > RUN_TOLERANCE:
                    flagged.append(f"{dataset}: {setting.name} moves {self.column.header} by {value - base:+.4f}: the "
                                   "score depends on how it is run (BatchNorm in training mode? a random loader?)")
                if setting.name == "channels swapped" and abs(value / base - 1) < SWAP_SUSPICIOUS:
                    flagged.append(f"{dataset}: swapping the channels moves {self.column.header} by under "
                                   f"{SWAP_SUSPICIOUS:.0%}: does the model look at the image?")
        return flagged

    def summary(self, dataset: str) -> str:
        """One line a paper can quote."""
        base = self.base.record.results[dataset].metrics[self.column.key]
        line = f"{self.column.header} {base:.2f} under {self.base.record.protocol.name}"
        low, high = self.spread(dataset, "box and crop")
        line += f"; {low:.2f}–{high:.2f} over box sources, scales, shifts and crops"
        for name, show in (("batch 1", lambda v: f"{v - base:+.2f} batch"),
                           ("channels swapped", lambda v: f"×{v / base:.1f} channel swap")):
            value = self.value(name, dataset)
            if value is not None:
                line += f"; {show(value)}"
        return line

    def value(self, name: str, dataset: str) -> float | None:
        for setting, values in zip(self.settings, self.values):
            if setting.name == name and values:
                return values.get(dataset)
        return None

    def section(self) -> dict:
        """What the record keeps (``ResultRecord.sensitivity``)."""
        datasets = list(self.base.record.results)
        return {"metric": self.column.key,
                "settings": [{"group": s.group, "name": s.name, "values": v, "note": n}
                             for s, v, n in zip(self.settings, self.values, self.notes)],
                "spread": {d: {g: list(self.spread(d, g)) for g in GROUPS} for d in datasets},
                "summary": {d: self.summary(d) for d in datasets}, "flags": self.flags(), "seconds": self.seconds,
                "worst": {d: dict(zip(("setting", "change"), worst)) for d in datasets
                          if (worst := self.worst(d)) is not None}}


def sensitivity(model, protocol, data_dir="data", groups=GROUPS, workers: int = 0, device: str | None = None,
                batch_size: int = 64, progress: bool = True, arch: str | None = None, convention: str | None = None,
                trust: bool = False, on_setting: Callable[[int, int, str], None] | None = None) -> Sensitivity:
    """The report (module docstring) of ``model`` (a file, module or callable) under ``protocol``."""
    protocol = protocol if isinstance(protocol, Protocol) else load_protocol(protocol)
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise HpbenchError(f"sensitivity groups {', '.join(sorted(unknown))}: choose among {', '.join(GROUPS)}")
    device = checked_device(device)
    loaded = load_model(model, arch=arch, convention=convention, trust=trust, device=device)
    common = dict(data_dir=data_dir, device=device, batch_size=batch_size, workers=workers, progress=progress)
    base = evaluate(loaded, protocol, **common)
    seconds = {"forward": 0.0, "total": 0.0}

    def count(made: Evaluation) -> None:
        for result in made.record.results.values():
            for name in seconds:
                seconds[name] += (result.seconds or {}).get(name, 0.0)

    count(base)
    sources = sorted({s for scored in base.predictions for s in scored.selection.data.layout.box_sources})
    task = TASKS.get(protocol.task)
    settings = settings_for(protocol, sources, base.record.evaluation.resize_kernel, workers, groups)
    values, notes = [], []
    for number, setting in enumerate(settings, start=1):
        if on_setting is not None:
            on_setting(number, len(settings), setting.name)
        needs = [name for name in setting.options if name not in ("batch_size", "workers", "cache")]
        if any(name not in task.options for name in needs):
            values.append(None)
            notes.append(f"{task.title} takes no {', '.join(needs)}")
            continue
        try:
            made = evaluate(loaded, protocol, **{**common, **setting.options})
        except HpbenchError as err:  # e.g. a box source one test file lacks, a graph of one input size
            values.append(None)
            notes.append(str(err))
            continue
        except (RuntimeError, ValueError) as err:  # the model's own failure under this setting (a size it refuses)
            values.append(None)
            notes.append(f"the model failed: {type(err).__name__}: {str(err).splitlines()[0][:120]}")
            continue
        count(made)
        values.append({d: r.metrics[protocol.primary.key] for d, r in made.record.results.items()})
        notes.append("")
    result = Sensitivity(base, protocol.primary, settings, values, notes, {k: round(v, 3) for k, v in seconds.items()})
    base.record.sensitivity = result.section()
    return result


def sensitivity_table(result: Sensitivity) -> str:
    """The printed report: per setting its group, the metric per test set and its change."""
    from tabulate import tabulate

    datasets = list(result.base.record.results)
    base = {d: result.base.record.results[d].metrics[result.column.key] for d in datasets}
    rows = [["", "the protocol's setting", *(f"{base[d]:.2f}" for d in datasets), ""]]
    for setting, values, note in zip(result.settings, result.values, result.notes):
        cells = [f"{values[d]:.2f} ({values[d] - base[d]:+.2f})" if values and not math.isnan(values[d]) else "—"
                 for d in datasets]
        rows.append([setting.group, setting.name, *cells, note[:80]])
    table = tabulate(rows, headers=["group", "setting", *(f"{d} {result.column.header}" for d in datasets), "note"],
                     disable_numparse=True)
    lines = [table, "", *(f"{d}: {result.summary(d)}" for d in datasets)]
    lines += ["{}: the worst case: {} ({:+.2f})".format(d, *worst) for d in datasets
              if (worst := result.worst(d)) is not None]
    lines += [f"flag: {flag}" for flag in result.flags()]
    return "\n".join(lines)
