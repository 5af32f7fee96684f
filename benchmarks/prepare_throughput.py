"""Converter throughput on a synthetic raw sample with 1 and 2 reading workers, and the HDF5 size.

    python benchmarks/prepare_throughput.py [--dataset aflw2000] [--n 2000] [--work /tmp/hpbench-bench]
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from recording import record

from hpbench.converters import CONVERTERS
from hpbench.converters.prepare import prepare
from hpbench.synth.writers import write_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--dataset", default="aflw2000", choices=sorted(CONVERTERS.names()))
    parser.add_argument("--work", type=Path, default=Path("/tmp/hpbench-bench"))
    args = parser.parse_args()
    raw = args.work / f"raw-{args.dataset}-{args.n}"
    if not raw.exists():
        write_sample(args.dataset, raw, args.n, seed=0, workers=2)
    results = {"dataset": args.dataset, "n": args.n, "raw_bytes": sum(p.stat().st_size for p in raw.rglob("*") if p.is_file())}
    for workers in (1, 2):
        out = args.work / f"data-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        report = prepare(args.dataset, raw, out, workers=workers, progress=False)
        rate = report.found / report.seconds
        size = (out / f"{args.dataset}.h5").stat().st_size
        results[f"workers_{workers}"] = {"samples_per_s": round(rate, 1), "seconds": round(report.seconds, 2),
                                         "h5_bytes": size, "digest": report.content_sha256}
        print(f"{args.dataset} n={args.n} workers={workers}: {rate:.0f} samples/s, "
              f"HDF5 {size / results['raw_bytes']:.2f}× the raw size")
    assert results["workers_1"]["digest"] == results["workers_2"]["digest"]
    record(f"prepare_throughput_{args.dataset}", results)


if __name__ == "__main__":
    main()
