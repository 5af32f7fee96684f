"""What the Python API costs over the CLI: one set of weights (a ResNet-18 HopeNet at 64 px) scored on
synthetic AFLW2000 as a module through ``hpbench.evaluate``, as a checkpoint through ``hpbench.evaluate``,
as that checkpoint through the ``hpbench evaluate`` command (in-process, without printing), and its
saved predictions through ``hpbench score``. Median of ``--repeats`` runs each, in one process; the
metrics of all four must agree.

    python benchmarks/api_overhead.py [--n 400] [--repeats 5] [--work /tmp/hpbench-bench]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import statistics
import time
from pathlib import Path

import torch
from recording import record
from samples import aflw2000_protocol, prepared_sample

import hpbench
from hpbench.cli import main as cli
from hpbench.evaluation.records import ResultRecord
from hpbench.models import create_model
from hpbench.models.checkpoint import Checkpoint


def interleaved(runs: dict, repeats: int) -> tuple[dict[str, float], dict[str, object]]:
    """The median seconds of each run and its last result, the runs taking turns (no run gains from
    going first or last on a machine whose speed drifts)."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, object] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            started = time.perf_counter()
            results[name] = run()
            seconds[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in seconds.items()}, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--work", type=Path, default=Path("/tmp/hpbench-bench"))
    args = parser.parse_args()
    data = prepared_sample("aflw2000", args.n, args.work)
    protocol = aflw2000_protocol(args.work, "api-bench", 64, ("mae", "geodesic"))
    torch.manual_seed(0)
    model = create_model("hopenet.resnet18", input_size=64).eval()
    checkpoint = Checkpoint.of_model(model).save(args.work / "api-hopenet.pt")
    common = dict(data=data, workers=0, progress=False, device="cpu")
    cli_args = ["--protocol", str(protocol), "--data", str(data), "--workers", "0", "--device", "cpu"]
    out, saved = args.work / "api-cli.json", args.work / "api-predictions.csv"

    def through_the_cli():
        with contextlib.redirect_stdout(io.StringIO()):
            cli(["evaluate", str(checkpoint), *cli_args, "--out", str(out), "--save-predictions", str(saved)])
        return ResultRecord.load(out)

    through_the_cli()  # the predictions file that score reads
    runs = {
        "api_module": lambda: hpbench.evaluate(model, protocol, **common).record,
        "api_checkpoint": lambda: hpbench.evaluate(checkpoint, protocol, **common).record,
        "cli_checkpoint": through_the_cli,
        "score_predictions": lambda: hpbench.score(saved, protocol, data=data).record,
    }
    results = {"machine": platform.machine(), "processor": platform.processor(), "torch": torch.__version__,
               "torch_threads": torch.get_num_threads(), "n": args.n, "repeats": args.repeats}
    seconds, records = interleaved(runs, args.repeats)
    results["seconds"] = {name: round(value, 3) for name, value in seconds.items()}
    metrics = {name: made.results["aflw2000"].metrics for name, made in records.items()}
    reference = metrics["api_module"]
    results["largest_metric_difference"] = max(abs(m[k] - reference[k]) for m in metrics.values() for k in reference)
    results["api_over_cli"] = round(results["seconds"]["api_checkpoint"] / results["seconds"]["cli_checkpoint"], 3)
    results["mae"] = reference["mae"]
    for name, value in results["seconds"].items():
        print(f"{name:>18}: {value:.3f} s")
    print(f"API / CLI on the same checkpoint: {results['api_over_cli']:.3f}; largest metric difference "
          f"{results['largest_metric_difference']:.2e}")
    record("api_overhead", results)


if __name__ == "__main__":
    main()
