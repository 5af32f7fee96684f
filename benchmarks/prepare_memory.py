"""Peak memory of ``hpbench prepare 300w_lp`` for 2,000 and 20,000 samples: it must not grow with N.

    python benchmarks/prepare_memory.py [--sizes 2000 20000] [--work /tmp/hpbench-bench]

Each conversion runs in a fresh process; its peak resident set size is read from the kernel.
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
report = prepare("300w_lp", sys.argv[1], sys.argv[2], workers=1, progress=False)
print(report.written, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--work", type=Path, default=Path("/tmp/hpbench-bench"))
    args = parser.parse_args()
    results = {}
    for n in args.sizes:
        raw = args.work / f"raw-300w_lp-{n}"
        if not raw.exists():
            write_sample("300w_lp", raw, n, seed=0, workers=2)
        out = args.work / f"mem-{n}"
        shutil.rmtree(out, ignore_errors=True)
        done = subprocess.run([sys.executable, "-c", CHILD, str(raw), str(out)], capture_output=True, text=True,
                              check=True)
        written, peak_kib = map(int, done.stdout.split())
        results[str(n)] = {"written": written, "peak_rss_mib": round(peak_kib / 1024, 1)}
        print(f"300w_lp n={n}: peak RSS {peak_kib / 1024:.1f} MiB")
    sizes = [str(n) for n in args.sizes]
    results["ratio_largest_to_smallest"] = round(
        results[sizes[-1]]["peak_rss_mib"] / results[sizes[0]]["peak_rss_mib"], 3
    )
    print(f"ratio {results['ratio_largest_to_smallest']}")
    record("prepare_memory", results)


if __name__ == "__main__":
    main()
