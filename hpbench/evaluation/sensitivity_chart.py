"""The picture of a sensitivity report for one test set: per setting, one bar of how far it moves the
primary metric from the protocol's own setting (the zero line), coloured by group, labelled with the
metric itself."""

from __future__ import annotations

import io


def sensitivity_chart(result, dataset: str) -> bytes:
    """PNG bytes (hpbench.evaluation.sensitivity.Sensitivity, one test set)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base = result.base.record.results[dataset].metrics[result.column.key]
    shown = [(s, v[dataset]) for s, v in zip(result.settings, result.values) if v and v.get(dataset) is not None]
    groups = list(dict.fromkeys(s.group for s, _ in shown))
    colours = dict(zip(groups, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    figure, axis = plt.subplots(figsize=(10, 1.2 + 0.24 * len(shown)), dpi=100)
    largest = max([abs(v - base) for _, v in shown] + [1e-9])
    for row, (setting, value) in enumerate(shown):
        change = value - base
        axis.barh(row, change, color=colours[setting.group], label=setting.group)
        axis.text(change + (largest * 0.02 if change >= 0 else -largest * 0.02), row, f"{value:.2f}", va="center",
                  ha="left" if change >= 0 else "right", fontsize=8)
    axis.axvline(0, color="black", linewidth=1.0)
    axis.set_yticks(range(len(shown)))
    axis.set_yticklabels([s.name.replace("$", r"\$") for s, _ in shown], fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(-largest * 1.35, largest * 1.35)
    better = "higher" if result.column.higher_is_better else "lower"
    axis.set_xlabel(f"change of {result.column.header} on {dataset} from the protocol's setting ({base:.2f}; "
                    f"{better} is better)")
    axis.set_title(f"{result.base.record.model.file} under {result.base.record.protocol.name}: one change at a time",
                   fontsize=10)
    handles, labels = axis.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axis.legend(unique.values(), unique.keys(), fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()
