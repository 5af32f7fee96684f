"""Peak memory of ``hpbench prepare`` and ``hpbench verify`` at two sizes: neither may grow with N.

    python benchmarks/prepare_memory.py [--dataset 300w_lp] [--sizes 2000 20000] [--work /tmp/hpbench-bench]

Each step runs in a fresh process; its peak resident set size (the largest of the process and its
reading workers) is read from the kernel.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from recording import record

from hpbench.synth.writers import write_sample

CHILD = """
import resource, sys
from hpbench.converters.prepare import prepare
from hpbench.format import validate
if sys.argv[1] == "prepare":
    print(prepare(sys.argv[2], sys.argv[3], sys.argv[4], workers=1, progress=False).written, end=" ")
else:
    print(int(validate(sys.argv[4] + "/" + sys.argv[2] + ".h5").ok), end=" ")
peak = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
print(peak)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataset", default="300w_lp")
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/hpbench-bench"))
    args = parser.parse_args()
    results = {}
    for n in args.sizes:
        raw = args.work / f"raw-{args.dataset}-{n}"
        if not raw.exists():
            write_sample(args.dataset, raw, n, seed=0, workers=2)
        out = args.work / f"mem-{args.dataset}-{n}"
        shutil.rmtree(out, ignore_errors=True)
        for step in ("prepare", "verify"):
            done = subprocess.run([sys.executable, "-c", CHILD, step, args.dataset, str(raw), str(out)],
                                  capture_output=True, text=True, check=True)
            value, peak_kib = map(int, done.stdout.split())
            results[f"{step} {n}"] = {"written" if step == "prepare" else "ok": value,
                                      "peak_rss_mib": round(peak_kib / 1024, 1)}
            print(f"{step} {args.dataset} n={n}: peak RSS {peak_kib / 1024:.1f} MiB")
    for step in ("prepare", "verify"):
        ratio = results[f"{step} {args.sizes[-1]}"]["peak_rss_mib"] / results[f"{step} {args.sizes[0]}"]["peak_rss_mib"]
        results[f"{step} ratio largest to smallest"] = round(ratio, 3)
        print(f"{step}: ratio {ratio:.3f}")
    record(f"prepare_memory_{args.dataset}", results)


if __name__ == "__main__":
    main()
