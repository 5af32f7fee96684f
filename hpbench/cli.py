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
    if args.dataset == "wider":
        print(f"next: hpbench detector prepare-wider --src {out} --out wider-yolo")
    else:
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


def cmd_protocols(args) -> int:
    from tabulate import tabulate

    from hpbench.protocols import list_protocols, load_protocol, select

    if args.action == "list":
        rows = [(p.name, f"v{p.version}", p.origin, p.title) for p in list_protocols()]
        print(tabulate(rows, headers=("protocol", "version", "origin", "title")))
        return 0
    protocol = load_protocol(args.name)
    print(f"{protocol.name} v{protocol.version} ({protocol.origin}): {protocol.title}")
    print(f"source: {protocol.source}")
    limit = f"every present angle within ±{protocol.filter_limit:g}° (inclusive)" if protocol.filter_limit else "none"
    print(f"filter: {limit}; crop: {protocol.crop}; input size: {protocol.input_size}; "
          f"metrics: {', '.join(protocol.metrics)}; a test sample without a detected face: {protocol.missing_face}")
    if protocol.notes:
        print(f"notes: {protocol.notes}")
    for change in protocol.changelog:
        print(f"  v{change.get('version')} ({change.get('date')}): {change.get('change')}")
    rows = []
    for split, entries in protocol.splits.items():
        for entry in entries:
            rule = ", ".join(f"{k}={v}" for k, v in entry.select.items())
            rows.append((split, entry.dataset, rule, entry.boxes or "—", entry.reference or "—"))
    print(tabulate(rows, headers=("split", "dataset", "selection", "boxes", "fallback")))
    if args.data:
        rows = []
        for split in protocol.splits:
            for selection in select(protocol, split, args.data):
                published = protocol.published_counts.get(split, {}).get(selection.dataset)
                published = f"{published:,}" if published is not None else "—"
                counts = " → ".join(f"{name} {value:,}" for name, value in selection.counts.items())
                rows.append((split, selection.dataset, counts, published, selection.keys_sha256[:16]))
        print()
        print(tabulate(rows, headers=("split", "dataset", "counts", "published", "keys sha256")))
    return 0


def cmd_evaluate(args) -> int:
    from hpbench.evaluate import evaluate, results_table, write_record

    record = evaluate(args.model, args.protocol, data_dir=args.data, arch=args.arch, convention=args.convention,
                      trust=args.trust_checkpoint, device=args.device, batch_size=args.batch_size,
                      workers=args.workers, boxes=args.boxes, crop=args.crop, ensemble=args.ensemble,
                      save_predictions=args.save_predictions)
    print(results_table(record))
    out = args.out or Path("results") / f"{record['protocol']['name']}_{Path(args.model).stem}.json"
    print(f"record: {write_record(record, out)}")
    if args.record is not None:
        from hpbench.leaderboard import leaderboards_dir

        folder = Path(args.record) if args.record else leaderboards_dir() / "results"
        name = f"{record['protocol']['name']}__{record['model']['arch']}__{record['model']['sha256'][:12]}.json"
        print(f"leaderboard record: {write_record(record, folder / name)} (then: hpbench leaderboard build)")
    if args.save_predictions:
        print(f"predictions: {args.save_predictions}")
    return 0


def cmd_train(args) -> int:
    from hpbench.train import train

    train(args.recipe, args.protocol, data_dir=args.data, out=args.out, overrides=args.set or (),
          pretrained=args.pretrained, device=args.device, workers=args.workers, restart=args.restart)
    return 0


def cmd_demo(args) -> int:
    from hpbench.demo import run_demo

    run_demo(args.out, train_images=args.train_images, test_images=args.test_images, epochs=args.epochs,
             workers=args.workers)
    return 0


def cmd_leaderboard(args) -> int:
    from hpbench.leaderboard import build, check

    folder = Path(args.dir) if args.dir else None
    if args.check:
        problems = check(folder)
        for problem in problems:
            print(problem)
        print("leaderboards differ from a rebuild: run hpbench leaderboard build" if problems
              else "leaderboards are up to date")
        return 1 if problems else 0
    for path in build(folder):
        print(f"wrote {path}")
    return 0


def cmd_detector(args) -> int:
    if args.action == "prepare-wider":
        from hpbench.bboxes.wider import prepare_wider

        if not args.src or not args.out:
            raise HpbenchError("prepare-wider needs --src WIDER_ROOT and --out DIR")
        for split, counts in prepare_wider(args.src, args.out).items():
            print(f"{split}: {counts.images:,} images, {counts.faces:,} faces; dropped {counts.invalid:,} invalid and "
                  f"{counts.zero_size:,} zero-size boxes; kept {counts.kept:,}; "
                  f"{counts.images_without_faces:,} images without faces, {counts.images_missing:,} images missing")
        print(f"dataset: {Path(args.out).resolve() / 'data.yaml'}")
        return 0
    from hpbench.bboxes.detector import train_detector

    if not args.data:
        raise HpbenchError("detector train needs --data DIR/data.yaml (see: hpbench detector prepare-wider)")
    weights = train_detector(args.data, args.model, epochs=args.epochs, imgsz=args.imgsz, batch=args.batch,
                             device=args.device, out=args.out or "runs/detector", workers=args.workers,
                             mosaic=args.mosaic)
    print(f"weights: {weights}\nrecord:  {weights.with_suffix('.json')}")
    return 0


def cmd_bboxes(args) -> int:
    from hpbench.protocols import prepared_path

    path = prepared_path(args.data, args.dataset)
    if args.action == "relabel":
        from hpbench.bboxes.relabel import relabel

        if not args.weights:
            raise HpbenchError("relabel needs --weights (a YOLO .pt from hpbench detector train)")
        summary = relabel(args.dataset, args.weights, args.data, args.out or "bboxes", batch_size=args.batch,
                          imgsz=args.imgsz, conf=args.conf, min_iou=args.min_iou, device=args.device)
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(summary["counts"].items()))
        print(f"{args.dataset}: {counts}; mean IoU with the reference box {summary['mean_iou_ref']:.3f}")
        print(f"box file: {summary['csv']}\nwritten into: {summary['file']} (bbox/yolo)")
    elif args.action == "import":
        from hpbench.bboxes.boxfiles import import_kd_json

        if not args.kd_json:
            raise HpbenchError("import needs --kd-json FILE")
        print(import_kd_json(path, args.kd_json, args.name).summary(args.dataset, args.name))
    elif args.action == "export":
        from hpbench.bboxes.boxfiles import export_kd_json, write_box_csv
        from hpbench.format import HPFile

        if not (args.kd_json or args.csv):
            raise HpbenchError("export needs --kd-json OUT.json and/or --csv OUT.csv")
        if args.kd_json:
            print(f"wrote {export_kd_json(path, args.name, args.kd_json)}")
        if args.csv:
            data = HPFile(path)
            print(f"wrote {write_box_csv(args.csv, data.keys, data.box(args.name), header={'source': args.name})}")
    else:
        from hpbench.bboxes.show import box_grid

        print(f"wrote {box_grid(path, args.name, args.n, args.out or f'{args.dataset}-{args.name}-boxes.png')}")
    return 0


def cmd_models(args) -> int:
    from hpbench.models import list_models

    print("\n".join(list_models(args.pattern)))
    return 0


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

    protocols = commands.add_parser("protocols", help="list the protocols, or show one (with --data: its counts)")
    protocols.add_argument("action", choices=["list", "show"])
    protocols.add_argument("name", nargs="?", help="protocol name (show)")
    protocols.add_argument("--data", help="folder of prepared files: print counts per split and filter step")
    protocols.set_defaults(run=cmd_protocols)

    evaluate = commands.add_parser("evaluate", help="score a model on a protocol's test sets")
    evaluate.add_argument("model", help="TorchScript file, hpbench checkpoint, or state dict (with --arch)")
    evaluate.add_argument("--protocol", required=True, help="protocol name or number, or a protocol YAML file")
    evaluate.add_argument("--data", default="data", help="folder of prepared files (default: data)")
    evaluate.add_argument("--arch", help="architecture of a bare state dict (see: hpbench models)")
    evaluate.add_argument("--convention", help="pose convention of the model's outputs (hpbench, kd, hopenet, 6drepnet)")
    evaluate.add_argument("--trust-checkpoint", action="store_true", help="unpickle arbitrary objects (runs code!)")
    evaluate.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda when present)")
    evaluate.add_argument("--batch-size", type=_positive_int, default=64)
    evaluate.add_argument("--workers", type=int, default=2, help="DataLoader workers (default: 2)")
    evaluate.add_argument("--boxes", help="box source instead of the protocol's: 'reference' (each dataset's own "
                          "box), or a source name such as kd; recorded")
    evaluate.add_argument("--crop", help="crop rule instead of the model's or the protocol's; recorded")
    evaluate.add_argument("--ensemble", help="score an RvC model as KD's convolutional ensemble, e.g. p=15,s=5")
    evaluate.add_argument("--save-predictions", help="CSV file for the per-sample predictions")
    evaluate.add_argument("--out", help="record file (default: results/PROTOCOL_MODEL.json)")
    evaluate.add_argument("--record", nargs="?", const="", metavar="DIR",
                          help="also add the record to the leaderboard's results (default: leaderboards/results/)")
    evaluate.set_defaults(run=cmd_evaluate)

    train = commands.add_parser("train", help="train a baseline recipe (baselines/*.yaml) on a protocol")
    train.add_argument("recipe", help="recipe file or name (e.g. baselines/kd-base-resnet50.yaml, hopenet-alpha2)")
    train.add_argument("--protocol", required=True, help="protocol whose train split to use")
    train.add_argument("--data", default="data", help="folder of prepared files (default: data)")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe value (repeatable)")
    train.add_argument("--pretrained", help="local torchvision ImageNet state dict for the backbone")
    train.add_argument("--out", help="run folder (default: runs/RECIPE-PROTOCOL); an unfinished run there resumes")
    train.add_argument("--restart", action="store_true", help="start over even if the run folder holds a checkpoint")
    train.add_argument("--device", help="cpu, cuda … (default: cuda when present)")
    train.add_argument("--workers", type=int, default=2, help="DataLoader workers (default: 2)")
    train.set_defaults(run=cmd_train)

    demo = commands.add_parser("demo", help="the whole pipeline on synthetic data: synth, prepare, train, evaluate")
    demo.add_argument("--out", default="hpbench-demo", help="folder for everything it writes (default: hpbench-demo)")
    demo.add_argument("--train-images", type=_positive_int, default=3000)
    demo.add_argument("--test-images", type=_positive_int, default=400)
    demo.add_argument("--epochs", type=_positive_int, help="training epochs (default: the demo recipe's 3)")
    demo.add_argument("--workers", type=int, default=2)
    demo.set_defaults(run=cmd_demo)

    leaderboard = commands.add_parser("leaderboard", help="rebuild the leaderboards from reported numbers and records")
    leaderboard.add_argument("action", choices=["build"])
    leaderboard.add_argument("--check", action="store_true", help="compare the committed files with a rebuild")
    leaderboard.add_argument("--dir", help="leaderboards folder (default: the project's)")
    leaderboard.set_defaults(run=cmd_leaderboard)

    detector = commands.add_parser("detector", help="WIDER FACE → YOLO labels, and face-detector training")
    detector.add_argument("action", choices=["prepare-wider", "train"])
    detector.add_argument("--src", help="prepare-wider: the WIDER FACE folder (wider_face_split/, WIDER_train/ …)")
    detector.add_argument("--out", help="prepare-wider: output folder; train: run folder (default runs/detector)")
    detector.add_argument("--data", help="train: the data.yaml made by prepare-wider")
    detector.add_argument("--model", default="yolov5n.yaml", help="an ultralytics model YAML or a .pt to fine-tune")
    detector.add_argument("--epochs", type=_positive_int, default=30)
    detector.add_argument("--imgsz", type=_positive_int, default=320)
    detector.add_argument("--batch", type=_positive_int, default=16)
    detector.add_argument("--device", default="cpu")
    detector.add_argument("--workers", type=int, default=2)
    detector.add_argument("--mosaic", type=float, default=0.0, help="mosaic augmentation probability (default 0)")
    detector.set_defaults(run=cmd_detector)

    bboxes = commands.add_parser("bboxes", help="relabel faces with the detector, import / export box files, show boxes")
    bboxes.add_argument("action", choices=["relabel", "import", "export", "show"])
    bboxes.add_argument("dataset")
    bboxes.add_argument("--data", default="data", help="folder of prepared files (default: data)")
    bboxes.add_argument("--weights", help="relabel: YOLO weights (.pt)")
    bboxes.add_argument("--name", default="yolo", help="box source to import, export or show (default: yolo)")
    bboxes.add_argument("--kd-json", help="import / export: a box file in the KD repository's JSON format")
    bboxes.add_argument("--csv", help="export: an hpbench box CSV")
    bboxes.add_argument("--out", help="relabel: box-file folder (default: bboxes); show: picture file")
    bboxes.add_argument("--batch", type=_positive_int, default=16)
    bboxes.add_argument("--imgsz", type=_positive_int, help="relabel: detector input size (default: its training size)")
    bboxes.add_argument("--conf", type=float, default=0.25)
    bboxes.add_argument("--min-iou", type=float, default=0.1, help="relabel: IoU with the reference box to accept")
    bboxes.add_argument("--device", default="cpu")
    bboxes.add_argument("--n", type=_positive_int, default=16, help="show: how many samples")
    bboxes.set_defaults(run=cmd_bboxes)

    models = commands.add_parser("models", help="list the registered architectures")
    models.add_argument("pattern", nargs="?", default="*")
    models.set_defaults(run=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "protocols" and args.action == "show" and not args.name:
        parser.error("protocols show needs a protocol name")
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
