"""Hostile and broken inputs (tests/hostile_cases.py), each run as ``python -m hpbench`` processes.

    python benchmarks/hostile_inputs.py                       # this checkout
    python benchmarks/hostile_inputs.py --hpbench /path/to/other/checkout --name before
    python benchmarks/hostile_inputs.py --fuzz 40          # also 40 fuzzed inputs per converter

Inputs are built with this checkout's code; the commands run the hpbench found in ``--hpbench``
(its folder goes first on PYTHONPATH), so one case list measures any version. Prints the outcome of
every case and the totals per outcome (clear, ok, traceback, crash, silent, unclear, refused, harm).
With ``--fuzz N``, tests/fuzz_inputs.py damages one raw file per seed for every converter (and WIDER)
and runs ``prepare --skip-bad``: each run is ``clear`` (one error line), ``ok`` (a report that adds
up, only intact images stored, ``verify`` passes), ``silent`` (a damaged image stored, samples
unaccounted for or a file that fails ``verify``), ``traceback`` or ``crash`` (the process died; the
remaining seeds run in a new one).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.recording import record  # noqa: E402
from tests.fuzz_inputs import judge  # noqa: E402
from tests.hostile_cases import CASES, RAW, RawSamples, classify, run_steps  # noqa: E402


def command_runner(checkout: Path, cache: Path, timeout: float):
    os.environ["HPBENCH_CACHE"] = str(cache)  # the cases' own steps (a forged verified.json) see it too
    env = {**os.environ, "PYTHONPATH": str(checkout)}

    def run(argv: list[str]) -> tuple[int, str]:
        try:
            done = subprocess.run([sys.executable, "-m", "hpbench", *argv], capture_output=True, text=True, env=env,
                                  timeout=timeout, cwd=checkout)  # -m puts the working folder first on sys.path
        except subprocess.TimeoutExpired as hung:
            output = (hung.stdout or b"").decode(errors="replace") + (hung.stderr or b"").decode(errors="replace")
            return -9, f"{output}\n(hung: killed after {timeout:g} s)"
        return done.returncode, done.stdout + done.stderr

    return run


def fuzz(checkout: Path, raw: RawSamples, work: Path, seeds: int) -> Counter:
    """Outcomes of ``seeds`` fuzzed inputs per dataset, the commands run by ``checkout``'s hpbench."""
    import json

    outcomes: Counter = Counter()
    env = {**os.environ, "PYTHONPATH": str(checkout), "HPBENCH_CACHE": str(work / "cache")}
    for dataset in RAW:
        source, seed = raw.copy(dataset, work / f"fuzz-{dataset}"), 0
        while seed < seeds:
            done = subprocess.run([sys.executable, str(ROOT / "tests/fuzz_inputs.py"), dataset, str(source),
                                   str(work / f"fuzz-{dataset}-work"), str(seed), str(seeds - seed), "--unjudged"],
                                  capture_output=True, text=True, env=env, timeout=1800, cwd=checkout)
            results = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
            for result in results:  # judged by this checkout's rules, whichever hpbench ran
                if result["code"] == 0:
                    result.update(judge(dataset, Path(result["folder"])))
                if result["traceback"]:
                    outcome = "traceback"
                elif result["code"] != 0:
                    outcome = "clear" if result["said"].startswith("hpbench ") else "unclear"
                else:
                    outcome = "ok" if result["adds_up"] and result["images_intact"] and result["verifies"] else "silent"
                outcomes[outcome] += 1
            seed += len(results)
            if done.returncode != 0:  # the process died on this seed
                outcomes["crash"] += 1
                seed += 1
            shutil.rmtree(work / f"fuzz-{dataset}-work", ignore_errors=True)
        print(f"fuzz {dataset}: {dict(outcomes)}", flush=True)
    return outcomes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hpbench", type=Path, default=ROOT, help="checkout whose hpbench runs the commands")
    parser.add_argument("--name", default="after", help="name of the record (results/hostile_inputs_NAME.json)")
    parser.add_argument("--only", help="run the cases whose name contains this text")
    parser.add_argument("--group", help="run the cases of one class of the second round: harm, crash, silent, "
                        "traceback (or 'round2' for all four)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds a command may run (default 300)")
    parser.add_argument("--fuzz", type=int, default=0, metavar="N", help="fuzzed inputs per converter (default 0)")
    args = parser.parse_args()
    outcomes, rows, by_group = Counter(), [], {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        raw, run = RawSamples(tmp / "raw"), command_runner(args.hpbench.resolve(), tmp / "cache", args.timeout)
        for index, case in enumerate(CASES):
            if args.only and args.only not in case.name:
                continue
            if args.group and not (case.group == args.group or (args.group == "round2" and case.group)):
                continue
            folder = tmp / f"case{index:03d}"
            folder.mkdir()
            code, output = run_steps(case.build(folder, raw), run)
            harm = case.check(folder, output) if case.check else None
            outcome = classify(case, code, output, harm)
            outcomes[outcome] += 1
            by_group.setdefault(case.group or "round 1", Counter())[outcome] += 1
            last = [line for line in output.strip().splitlines() if line.strip()][-1:] or [""]
            said = (harm or last[0]).replace(str(folder), "CASE")  # no machine paths in the record
            said = said.replace(str(args.hpbench.resolve()), "CHECKOUT").replace(str(ROOT), "CHECKOUT")[:160]
            rows.append({"case": case.name, "item": case.item, "group": case.group, "outcome": outcome, "code": code,
                         "said": said})
            print(f"{outcome:>9}  {case.group or f'#{case.item}':<9} {case.name}: {(harm or last[0])[:110]}",
                  flush=True)
        fuzzed = fuzz(args.hpbench.resolve(), raw, tmp, args.fuzz) if args.fuzz else Counter()
    print(f"\n{len(rows)} cases in {time.perf_counter() - started:.0f} s: "
          + ", ".join(f"{name} {count}" for name, count in outcomes.most_common()))
    for group, counts in by_group.items():
        print(f"  {group}: " + ", ".join(f"{name} {count}" for name, count in counts.most_common()))
    if args.fuzz:
        print(f"{sum(fuzzed.values())} fuzzed inputs ({args.fuzz} per converter): "
              + ", ".join(f"{name} {count}" for name, count in fuzzed.most_common()))
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.hpbench, capture_output=True,
                            text=True).stdout.strip()
    record(f"hostile_inputs_{args.name}", {"commit": commit or "unknown", "totals": dict(outcomes),
                                           "by_group": {group: dict(counts) for group, counts in by_group.items()},
                                           "fuzz_per_converter": args.fuzz, "fuzz_totals": dict(fuzzed),
                                           "cases": rows})


if __name__ == "__main__":
    main()
