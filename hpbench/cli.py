"""The ``hpbench`` command: parses arguments and calls one function per subcommand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from hpbench import __version__
from hpbench.errors import HpbenchError


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def cmd_synth(args) -> int:
    from tqdm import tqdm

    from hpbench.synth.writers import write_sample

    out = Path(args.out or f"synth/{args.dataset}")
    with tqdm(total=args.n, unit="img", desc=f"synth {args.dataset}") as bar:
        size = {"size": args.size} if args.size else {}
        records = write_sample(args.dataset, out, args.n, seed=args.seed, workers=args.workers, progress=bar.update,
                               **size)
    print(f"wrote {len(records):,} synthetic {args.dataset} samples to {out}")
    print(f"next: hpbench prepare {args.dataset} --src {out}")
    return 0


def cmd_prepare(args) -> int:
    from hpbench.datasets.prepare import prepare

    options = {"with_depth": True} if args.with_depth else {}
    if args.annotations:
        options["annotations"] = args.annotations
    report = prepare(args.dataset, args.src, args.out, workers=args.workers, skip_bad=args.skip_bad,
                     overwrite=args.overwrite, **options)
    print(report.summary())
    return 0


def cmd_verify(args) -> int:
    from tabulate import tabulate

    from hpbench.verify import verify_file

    failed = False
    for path in args.files:
        report = verify_file(path)
        rows = [(check.name, check.status.upper(), check.message) for check in report.checks]
        print(f"{path}:")
        print(tabulate(rows, headers=("check", "status", "detail"), tablefmt="simple", maxcolwidths=[None, None, 90]))
        failed |= not report.ok
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    from hpbench.datasets import CONVERTERS
    from hpbench.synth.writers import WRITERS

    parser = argparse.ArgumentParser(prog="hpbench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"hpbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    synth = commands.add_parser("synth", help="write a synthetic sample in a dataset's raw format")
    synth.add_argument("dataset", choices=WRITERS.names())
    synth.add_argument("--out", help="folder to create (default: synth/DATASET)")
    synth.add_argument("--n", type=_positive_int, default=200, help="number of images (default: 200)")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--size", type=_positive_int, help="image side in pixels (default: the dataset's own)")
    synth.add_argument("--workers", type=_positive_int, default=1, help="rendering processes")
    synth.set_defaults(run=cmd_synth)

    prepare = commands.add_parser("prepare", help="convert a raw dataset folder to data/DATASET.h5")
    prepare.add_argument("dataset", choices=CONVERTERS.names())
    prepare.add_argument("--src", required=True, help="the raw dataset folder")
    prepare.add_argument("--out", default="data", help="output folder (default: data)")
    prepare.add_argument("--workers", type=_positive_int, default=1, help="reading processes (default: 1)")
    prepare.add_argument("--skip-bad", action="store_true", help="skip unreadable samples and list them in a report")
    prepare.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    prepare.add_argument("--with-depth", action="store_true", help="biwi: also store the depth frames")
    prepare.add_argument("--annotations", help="mpii: an HRNet/MMPose JSON annotation list instead of the .mat")
    prepare.set_defaults(run=cmd_prepare)

    verify = commands.add_parser("verify", help="check prepared files: layout, values, digest, counts")
    verify.add_argument("files", nargs="+", type=Path)
    verify.set_defaults(run=cmd_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except HpbenchError as err:
        print(f"hpbench {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"hpbench {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
