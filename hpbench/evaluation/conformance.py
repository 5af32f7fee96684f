"""Whether a result may be ranked under its protocol: the rules the leaderboard, ``compare`` and
``hpbench evaluate`` share.

A record conforms when it was measured as its protocol says, by a model its record identifies (a
file's or a module's weights; a callable without weights is shown apart): the same protocol content, crop rule,
input size and box sources, a result on every test set and no other, the frozen key list where the
protocol freezes one, and no selected sample left unscored. Where the protocol freezes no key list,
records are ranked only on the test set most of them share (``same_test_sets``). An older protocol
version makes a record stale, which is checked apart.
"""

from __future__ import annotations

from hpbench.errors import HpbenchError
from hpbench.evaluation.records import ResultRecord
from hpbench.protocols import load_protocol


def conformance(record: ResultRecord, spec) -> list[str]:
    """Why a record cannot be ranked under its protocol (``spec``, hpbench.protocols.Protocol); empty
    when it conforms (the protocol version is checked apart: an older one is "stale")."""
    reasons = []
    settings = record.evaluation
    measured = record.protocol
    if record.model.kind == "callable":
        reasons.append("a callable without weights: nothing identifies what was scored")
    if measured.sha256 and measured.version == spec.version and measured.sha256 != spec.sha256:
        reasons.append(f"measured under another protocol file named {spec.name} v{spec.version} (its content "
                       f"{measured.sha256[:12]}… is not the bundled one's, {spec.sha256[:12]}…)")
    if settings.changes:
        reasons.append("inputs changed on purpose: " + ", ".join(f"{k} {v}" for k, v in settings.changes.items()))
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


def same_test_sets(rows: list, spec) -> None:
    """Where the protocol freezes no key list, reproduced rows (hpbench.leaderboard.rows.Row) are ranked
    only on the test set most of them share (a tie in count goes to the larger set); a row on another
    one is marked not comparable, with both sizes. When no set leads, every row is: only a frozen key
    list can settle it."""
    for dataset in (entry.dataset for entry in spec.entries(spec.test_split)):
        if dataset in spec.frozen_keys_sha256:
            continue
        scored = [r for r in rows if dataset in r.keys_sha256]
        groups: dict[str, list] = {}
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


def verdict(record: ResultRecord, scored_under) -> str:
    """One line: whether the leaderboard would rank this record, and if not, why. ``scored_under``: the
    Protocol it was scored with (a bundled one, or a file: the leaderboard ranks bundled ones only)."""
    name = record.protocol.name
    try:
        spec = load_protocol(name, bundled=True)
        bundled = spec.sha256 == scored_under.sha256
    except HpbenchError:
        spec, bundled = scored_under, False
    reasons = ([] if bundled else [f"{scored_under.path or name} is not a bundled protocol (the leaderboard ranks "
                                   "those only)"]) + conformance(record, spec)
    if record.protocol.version < spec.version:
        reasons.insert(0, f"protocol v{record.protocol.version} is older than the current v{spec.version}")
    if reasons:
        return f"leaderboard: would be shown apart, not ranked: {'; '.join(reasons)}"
    return f"leaderboard: conforms to {name} v{spec.version}; --record adds it to the ranked rows"
