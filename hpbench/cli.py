"""The ``hpbench`` command: argument parsers only. Every command calls one function, named by its
parser and imported when the command runs, with the parsed arguments as keywords."""

from __future__ import annotations

import argparse
import importlib
import math
import os
import sys
from pathlib import Path

from hpbench import __version__
from hpbench.errors import HpbenchError
from hpbench.logs import console


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _command(commands, name: str, target: str, help: str, example: str = "") -> argparse.ArgumentParser:
    parser = commands.add_parser(name, help=help, description=help, epilog=f"example:\n  {example}" if example else None,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(target=target)
    return parser


def default_workers() -> int:
    """DataLoader workers by default: one per core beyond the main process, at most 4 (on 2 cores, 1:
    measured 20 % faster than 2 for training)."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _workers_option(parser) -> None:
    parser.add_argument("--workers", type=_count, default=default_workers(),
                        help=f"DataLoader worker processes (default on this machine: {default_workers()})")


def _actions(commands, name: str, help: str):
    """A command made of actions (``hpbench bboxes relabel …``): the subparsers of its actions."""
    return commands.add_parser(name, help=help).add_subparsers(dest="action", required=True, metavar="ACTION")


def _trust_option(parser, option: str) -> None:
    parser.add_argument("--trust-checkpoint", dest="trust", action="store_true",
                        help=f"load {option} with pickle, which runs any code the file holds (default: a loader "
                             "that reads tensors and known classes only)")


def _model_options(parser, device: bool = True) -> None:
    """How a model file is read: its architecture and convention where it records none, trust, device."""
    parser.add_argument("--arch", help="architecture of a bare state dict or Keras file")
    parser.add_argument("--convention", help="pose convention of the model's outputs")
    _trust_option(parser, "the model")
    if device:
        parser.add_argument("--device", help="cpu, cuda … (default: cuda when present)")


def _data_option(parser) -> None:
    parser.add_argument("--data", default="data", help="folder of prepared files (default: data)")


def _synth(commands) -> None:
    from hpbench.synth.writers import WRITERS

    synth = _command(commands, "synth", "hpbench.commands.synth:run",
                     "write a synthetic sample in a dataset's raw format", "hpbench synth aflw2000 --n 100 --out raw/aflw2000")
    synth.add_argument("dataset", choices=WRITERS.names(), help="the raw format to write: " + ", ".join(WRITERS.names()))
    synth.add_argument("--out", help="folder to create (default: synth/DATASET)")
    synth.add_argument("--n", type=_positive_int, default=200, help="number of images (default: 200)")
    synth.add_argument("--seed", type=int, default=0, help="random seed: the same seed writes the same files (default: 0)")
    synth.add_argument("--size", type=_positive_int, help="image side in pixels (default: the dataset's own)")
    synth.add_argument("--workers", type=_positive_int, default=1, help="rendering processes")


def _prepare(commands) -> None:
    from hpbench.converters import CONVERTERS

    prepare = commands.add_parser("prepare", help="convert a raw dataset folder to data/DATASET.h5")
    datasets = prepare.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    for name, converter in CONVERTERS.items():
        parser = datasets.add_parser(name, help=converter.citation, formatter_class=argparse.RawDescriptionHelpFormatter,
                                     description=sys.modules[converter.read.__module__].__doc__)
        parser.set_defaults(target="hpbench.commands.prepare:run")
        parser.add_argument("--src", required=True, help="the raw dataset folder (its tree: above)")
        parser.add_argument("--out", default="data", help="output folder (default: data)")
        parser.add_argument("--workers", type=_positive_int, default=1, help="reading processes (default: 1)")
        parser.add_argument("--skip-bad", action="store_true", help="skip unreadable samples, list them in a report")
        parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")
        for option in converter.options:
            flag = "--" + option.name.replace("_", "-")
            if option.flag:
                parser.add_argument(flag, action="store_true", help=option.help)
            else:
                parser.add_argument(flag, help=option.help)


def _verify(commands) -> None:
    verify = _command(commands, "verify", "hpbench.commands.verify:run",
                      "check prepared files: layout, values, digest, counts")
    verify.add_argument("files", nargs="+", type=Path)


def _protocols(commands) -> None:
    actions = _actions(commands, "protocols", "list the protocols, or show one (with --data: its counts)")
    _command(actions, "list", "hpbench.commands.protocols:list_all", "the versioned protocols")
    show = _command(actions, "show", "hpbench.commands.protocols:show", "one protocol's rules")
    show.add_argument("name", help="protocol name or number")
    show.add_argument("--data", help="folder of prepared files: print counts per split and filter step")
    keys = _command(actions, "keys", "hpbench.commands.protocols:keys",
                    "the samples of a protocol's test sets (dataset, key and the box the protocol crops), for "
                    "predictions made elsewhere (hpbench score)")
    keys.add_argument("name", help="protocol name or number, or a protocol YAML file")
    keys.add_argument("--data", required=True, help="folder of prepared files")
    keys.add_argument("--out", required=True, help="CSV file to write")


def _crop_rules() -> list[str]:
    from hpbench.data.crops import CROP_RULES

    return CROP_RULES.names()


def _evaluate(commands) -> None:
    evaluate = _command(commands, "evaluate", "hpbench.commands.evaluate:run",
                        "score a model on a protocol's test sets (or on one prepared file)",
                        "hpbench evaluate runs/hopenet-alpha2-p1/model.pt --protocol 1\n"
                        "  hpbench evaluate WHENet.h5 --arch whenet --test data/aflw2000.h5")
    evaluate.add_argument("model", help="hpbench checkpoint, TorchScript, a state dict or Keras .h5 (with --arch), "
                          "or an .onnx file (its preprocessing in MODEL.onnx.json); see: hpbench models")
    evaluate.add_argument("--protocol", help="protocol name or number, or a protocol YAML file (see: hpbench "
                          "protocols list; docs/PROTOCOLS.md)")
    evaluate.add_argument("--test", metavar="FILE", help="instead of a protocol: every sample of one prepared file "
                          "inside ±99°, its own box (or --boxes), the kd crop at 224 px")
    evaluate.add_argument("--data", dest="data_dir", default="data", help="folder of prepared files (default: data)")
    evaluate.add_argument("--arch", help="architecture of a bare state dict or Keras file (see: hpbench models)")
    evaluate.add_argument("--convention", help="pose convention of the model's outputs (hpbench, kd, hopenet, …)")
    _trust_option(evaluate, "the model")
    evaluate.add_argument("--device", help="cpu, cuda, cuda:1 … (default: cuda when present)")
    evaluate.add_argument("--batch-size", type=_positive_int, default=64, help="images per forward pass (default: 64)")
    _workers_option(evaluate)
    evaluate.add_argument("--boxes", help="box source instead of the protocol's: 'reference' (each dataset's own "
                          "box), or a source name such as kd; recorded")
    evaluate.add_argument("--crop", help="crop rule instead of the protocol's, one of: " + ", ".join(_crop_rules())
                          + "; recorded")
    evaluate.add_argument("--model-preprocessing", action="store_true",
                          help="crop rule and input size as the model file records them, instead of the protocol's; "
                          "recorded (the leaderboard shows such a row apart)")
    evaluate.add_argument("--override-convention", action="store_true",
                          help="accept a --convention that contradicts the one the model file records; recorded")
    _cache_option(evaluate)
    evaluate.add_argument("--ensemble", help="score an RvC model as KD's convolutional ensemble, e.g. p=15,s=5")
    evaluate.add_argument("--save-predictions", help="CSV file for the per-sample predictions")
    evaluate.add_argument("--analysis", metavar="DIR", help="also draw, per test set, the error against each true "
                          "angle and the worst predictions with their axes (PNG files in DIR)")
    evaluate.add_argument("--decode", choices=("parabola", "argmax"),
                          help="body pose: each joint at its belief map's argmax cell, moved by a parabola through "
                          "the neighbours (parabola, the default) or not (argmax); recorded")
    evaluate.add_argument("--out", help="record file (default: results/PROTOCOL_MODEL_SHA.json, SHA: the first 8 "
                          "digits of the model file's sha256)")
    evaluate.add_argument("--record", nargs="?", const="", metavar="DIR",
                          help="also add the record to the leaderboard's results (default: leaderboards/results/)")
    evaluate.add_argument("--bench", action="store_true", help="also measure latency, throughput and peak memory at "
                          "the input size scored (hpbench bench) and keep them in the record's speed section")
    evaluate.add_argument("--forward-timeout", type=_positive_float, metavar="S",
                          help="an untrusted TorchScript file's forward pass may take S seconds a batch before the "
                          "run is stopped (default: 300)")


def _train(commands) -> None:
    train = _command(commands, "train", "hpbench.training.train:train",
                     "train a baseline recipe (baselines/*.yaml) on a protocol",
                     "hpbench train hopenet-alpha2 --protocol 1 --pretrained resnet50-0676ba61.pth --set epochs=5")
    train.add_argument("recipe_path", metavar="RECIPE",
                       help="recipe file or name (e.g. baselines/kd-base-resnet50.yaml, hopenet-alpha2)")
    train.add_argument("--protocol", dest="protocol_name", required=True, help="protocol whose train split to use")
    train.add_argument("--data", dest="data_dir", default="data", help="folder of prepared files (default: data)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe value (repeatable)")
    train.add_argument("--pretrained", help="a local torchvision ImageNet state dict for the backbone, or an hpbench "
                       "checkpoint to fine-tune from (every tensor that fits is copied)")
    train.add_argument("--out", help="run folder (default: runs/RECIPE-PROTOCOL); an unfinished run there resumes")
    train.add_argument("--restart", action="store_true", help="start over even if the run folder holds a checkpoint")
    train.add_argument("--device", help="cpu, cuda … (default: cuda when present)")
    _workers_option(train)
    _cache_option(train)


def _cache_option(parser) -> None:
    parser.add_argument("--no-cache", dest="cache", action="store_false",
                        help="cut every crop from the image each time instead of reading the crop cache (used where "
                             "the crop rule draws nothing at random; $HPBENCH_CACHE/crops)")


def _search(commands) -> None:
    search = _command(commands, "search", "hpbench.search.run:search",
                      "evolutionary search of a small head over a frozen backbone (searches/*.yaml, docs/SEARCH.md)",
                      "hpbench search head-search-synthetic --protocol synthetic-7030 --optimizer cmaes --budget 30 "
                      "--backbone hpbench-demo/runs/demo-hopenet/model.pt")
    search.add_argument("recipe_name", metavar="RECIPE", help="search recipe file or name (head-search, "
                        "head-search-synthetic)")
    search.add_argument("--protocol", dest="protocol_name", required=True,
                        help="a protocol with train and validation splits (300wlp-7030, synthetic-7030)")
    search.add_argument("--optimizer", default="cmaes", choices=("cmaes", "ga", "pso", "cobyqa", "random", "bobyqa"),
                        help="cmaes (cma), ga and pso (pymoo), cobyqa (scipy; BOBYQA's successor), random (default: "
                             "cmaes; all but random and cobyqa need the [search] extra)")
    search.add_argument("--budget", type=_positive_int, help="objective evaluations (default: the recipe's)")
    search.add_argument("--backbone", help="the backbone's weights: an hpbench checkpoint, or a state dict with --arch")
    search.add_argument("--arch", help="the backbone's architecture (default: the recipe's)")
    search.add_argument("--pretrained", help="local weights for the recipe's architecture (its config's pretrained)")
    search.add_argument("--layer", help="the module to cut the backbone at (default: the recipe's)")
    search.add_argument("--data", dest="data_dir", default="data", help="folder of prepared files (default: data)")
    search.add_argument("--out", help="run folder (default: runs/search-RECIPE-PROTOCOL); its OPTIMIZER.jsonl log "
                        "resumes an interrupted search")
    search.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a recipe value (repeatable), e.g. candidate.epochs=3")
    search.add_argument("--retrain-epochs", type=int, help="epochs to retrain the winner (0: none; default: the recipe's)")
    search.add_argument("--device", default="cpu", help="where the backbone computes the features (default: cpu)")
    _workers_option(search)
    _trust_option(search, "--backbone")


def _demo(commands) -> None:
    demo = _command(commands, "demo", "hpbench.commands.demo:run",
                    "the whole pipeline on synthetic data: synth, prepare, train, evaluate",
                    "hpbench demo --train-images 1000 --epochs 1")
    demo.add_argument("--out", default="hpbench-demo", help="folder for everything it writes (default: hpbench-demo)")
    demo.add_argument("--train-images", type=_positive_int, default=3000, help="synthetic 300W-LP images (default: 3000)")
    demo.add_argument("--test-images", type=_positive_int, default=400, help="synthetic AFLW2000 images (default: 400)")
    demo.add_argument("--epochs", type=_positive_int, help="training epochs (default: the demo recipe's 3)")
    _workers_option(demo)


def _leaderboard(commands) -> None:
    actions = _actions(commands, "leaderboard", "rebuild the leaderboards from reported numbers and records")
    build = _command(actions, "build", "hpbench.commands.leaderboard:run",
                     "regenerate leaderboards/ (CSV, chart and README per protocol)")
    build.add_argument("--check", dest="check_only", action="store_true",
                       help="compare the committed files with a rebuild instead")
    build.add_argument("--dir", dest="folder", help="leaderboards folder (default: the project's)")


def _detector(commands) -> None:
    actions = _actions(commands, "detector", "WIDER FACE → YOLO labels, and face-detector training")
    wider = _command(actions, "prepare-wider", "hpbench.commands.detector:prepare_wider_dataset",
                     "WIDER FACE ground truth → a YOLO dataset (links to the images, labels, data.yaml)")
    wider.add_argument("--src", required=True, help="the WIDER FACE folder (wider_face_split/, WIDER_train/ …)")
    wider.add_argument("--out", required=True, help="output folder")
    train = _command(actions, "train", "hpbench.commands.detector:train", "train a YOLO face detector offline")
    train.add_argument("--data", required=True, help="the data.yaml made by prepare-wider")
    train.add_argument("--model", default="yolov5n.yaml", help="an ultralytics model YAML or a .pt to fine-tune")
    train.add_argument("--out", help="run folder (default: runs/detector)")
    train.add_argument("--epochs", type=_positive_int, default=30)
    train.add_argument("--imgsz", type=_positive_int, default=320)
    train.add_argument("--batch", type=_positive_int, default=16)
    train.add_argument("--device", default="cpu")
    train.add_argument("--workers", type=_count, default=2)
    train.add_argument("--mosaic", type=float, default=0.0, help="mosaic augmentation probability (default 0)")
    _trust_option(train, "--model")


def _bboxes(commands) -> None:
    actions = _actions(commands, "bboxes", "relabel faces with the detector, import / export box files, show boxes")
    relabel = _command(actions, "relabel", "hpbench.commands.bboxes:relabel_boxes",
                       "one detector's face box for every sample (bbox/yolo and bboxes/DATASET.yolo.csv)")
    relabel.add_argument("--weights", required=True, help="YOLO weights (.pt) from hpbench detector train")
    relabel.add_argument("--out", help="box-file folder (default: bboxes/ beside the --data folder)")
    relabel.add_argument("--batch", type=_positive_int, default=16, help="images per detector batch (default: 16)")
    relabel.add_argument("--imgsz", type=_positive_int, help="detector input size (default: its training size)")
    relabel.add_argument("--conf", type=float, default=0.25, help="the detector's score threshold (default: 0.25)")
    relabel.add_argument("--min-iou", type=float, default=0.1, help="IoU with the reference box to accept")
    relabel.add_argument("--device", default="cpu", help="cpu, 0, cuda:0 … (default: cpu)")
    _trust_option(relabel, "--weights")
    imported = _command(actions, "import", "hpbench.commands.bboxes:import_boxes",
                        "read a peer's box file (KD JSON, headposeplus .npz, opal23 list) into bbox/NAME")
    imported.add_argument("--file", help="the box file")
    imported.add_argument("--format", dest="file_format", choices=("kd", "headposeplus", "opal23"), default="kd",
                          help="kd: kd_oe_hpe data/*.json; headposeplus: data/*.npz; opal23: annotations/*_ann.txt")
    imported.add_argument("--kd-json", help="a box file in the KD repository's JSON format (as --file F --format kd)")
    imported.add_argument("--name", help="the box source to write (default: the format's name)")
    imported.add_argument("--with-labels", action="store_true",
                          help="also store the file's pose labels as labels/NAME (headposeplus, opal23)")
    imported.add_argument("--replace", action="store_true",
                          help="allow overwriting a box the converter wrote (the dataset's own, e.g. landmarks)")
    export = _command(actions, "export", "hpbench.commands.bboxes:export_boxes",
                      "write bbox/NAME as a KD-format JSON and / or an hpbench CSV")
    export.add_argument("--name", default="yolo", help="the box source to export (default: yolo)")
    export.add_argument("--kd-json", help="output in the KD repository's JSON format")
    export.add_argument("--csv", dest="csv_file", help="output as an hpbench box CSV")
    show = _command(actions, "show", "hpbench.commands.bboxes:show_boxes",
                    "a picture of samples with the reference and the NAME boxes")
    show.add_argument("--name", default="yolo", help="the box source to show (default: yolo)")
    show.add_argument("--n", type=_positive_int, default=16, help="how many samples")
    show.add_argument("--out", help="picture file (default: DATASET-NAME-boxes.png)")
    for parser in (relabel, imported, export, show):
        parser.add_argument("dataset")
        _data_option(parser)


def _score(commands) -> None:
    score = _command(commands, "score", "hpbench.commands.score:run",
                     "score a predictions file made anywhere (CSV or JSON, one row per test sample) on a protocol",
                     "hpbench protocols keys p1 --data data --out p1-keys.csv   # the samples to predict\n"
                     "  hpbench score my-predictions.csv --protocol p1 --data data")
    score.add_argument("predictions", help="CSV (with a header) or JSON list of rows: dataset, key, then yaw, pitch, "
                       "roll in --convention (or r11 … r33 for a matrix convention), optional run_time; body pose: "
                       "dataset, key, joint, x, y (docs/API.md)")
    score.add_argument("--protocol", required=True, help="protocol name or number, or a protocol YAML file")
    score.add_argument("--data", dest="data_dir", default="data", help="folder of prepared files (default: data)")
    score.add_argument("--convention", help="how the file's head-pose values read (default: hpbench's yaw, pitch, "
                       "roll; 6drepnet or biwi for rotation matrices)")
    score.add_argument("--out", help="record file (default: results/PROTOCOL_FILE_SHA.json)")
    score.add_argument("--record", nargs="?", const="", metavar="DIR",
                       help="also add the record to the leaderboard's results (default: leaderboards/results/)")


def _sensitivity(commands) -> None:
    sensitivity = _command(commands, "sensitivity", "hpbench.commands.sensitivity:run",
                           "how much each evaluation choice moves a model's score: boxes, crops, input, the run "
                           "itself, one change at a time", "hpbench sensitivity runs/kd-p1/model.pt --protocol 1")
    sensitivity.add_argument("model", help="any model evaluate reads (see: hpbench evaluate --help)")
    sensitivity.add_argument("--protocol", required=True, help="protocol name or number, or a protocol YAML file")
    sensitivity.add_argument("--data", dest="data_dir", default="data", help="folder of prepared files (default: data)")
    sensitivity.add_argument("--groups", help="a comma-separated choice of: box and crop, input, run (default: all)")
    _model_options(sensitivity)
    sensitivity.add_argument("--batch-size", type=_positive_int, default=64, help="images per forward pass (default: 64)")
    sensitivity.add_argument("--workers", type=_count, default=0, help="DataLoader workers of the protocol's own "
                             "setting (default: 0; the run group tries 2)")
    sensitivity.add_argument("--charts", metavar="DIR", help="folder for one chart per test set (default: results)")
    sensitivity.add_argument("--out", help="record file, with its sensitivity section (default: results/…)")
    sensitivity.add_argument("--record", nargs="?", const="", metavar="DIR",
                             help="also add the record to the leaderboard's results (its spread is shown there)")


def _bench(commands) -> None:
    bench = _command(commands, "bench", "hpbench.commands.bench:run",
                     "latency, throughput, peak memory and size of a model, measured (torch, and onnxruntime "
                     "through an ONNX export whose parity holds)", "hpbench bench runs/kd-p1/model.pt --protocol 1")
    bench.add_argument("model", help="any model evaluate reads (see: hpbench evaluate --help)")
    bench.add_argument("--protocol", help="take the input size from this protocol")
    bench.add_argument("--input-size", type=_positive_int, help="input size (default: the protocol's, else the "
                       "model's own, else 224)")
    bench.add_argument("--batch", type=_positive_int, default=32, help="the throughput batch (default: 32)")
    bench.add_argument("--repeats", type=_positive_int, default=20, help="timed passes per run (default: 20)")
    bench.add_argument("--warmup", type=_count, default=3, help="untimed passes first (default: 3)")
    bench.add_argument("--no-onnx", dest="onnx", action="store_false", help="time PyTorch only")
    _model_options(bench)
    bench.add_argument("--out", help="write the speed section as JSON here")


def _export(commands) -> None:
    export = _command(commands, "export", "hpbench.commands.export:run",
                      "a model as an ONNX graph with its sidecar, written only when onnxruntime predicts what torch "
                      "does", "hpbench export runs/kd-p1/model.pt --onnx kd.onnx --protocol 1 --data data")
    export.add_argument("model", help="any model evaluate reads but an ONNX file (see: hpbench evaluate --help)")
    export.add_argument("--onnx", required=True, help="the graph to write (its sidecar: ONNX.json)")
    export.add_argument("--protocol", help="also check parity on this protocol's test crops (and take its input size)")
    export.add_argument("--data", dest="data_dir", default="data", help="folder of prepared files (default: data)")
    export.add_argument("--input-size", type=_positive_int, help="input size (default: the protocol's, else the "
                        "model's own, else 224)")
    export.add_argument("--tolerance", type=_positive_float, help="the largest difference allowed, in the outputs' "
                        "unit (default: 0.001)")
    _model_options(export, device=False)
    _workers_option(export)


def _compare(commands) -> None:
    compare = _command(commands, "compare", "hpbench.commands.compare:run",
                       "result records side by side, with what each was measured on and whether it conforms",
                       "hpbench compare results/p1_*.json")
    compare.add_argument("records", nargs="+", metavar="RECORD", help="result records (JSON) of hpbench evaluate")


def _models(commands) -> None:
    models = _command(commands, "models", "hpbench.commands.models:run",
                      "list the registered architectures and the model file formats evaluate reads",
                      "hpbench models resnet50")
    models.add_argument("pattern", nargs="?", default="",
                        help="show only architectures whose name contains this text (or matches it as a glob: 'kd*')")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hpbench", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="hpbench: a benchmark and dataset-standardisation toolkit for head-pose estimation",
        epilog="the pipeline:\n"
               "  hpbench prepare aflw2000 --src /data/AFLW2000       raw dataset → data/aflw2000.h5\n"
               "  hpbench bboxes relabel aflw2000 --weights yolo.pt   one detector's face boxes\n"
               "  hpbench train hopenet-alpha2 --protocol 1           a baseline recipe on a protocol\n"
               "  hpbench evaluate runs/hopenet-alpha2-p1/model.pt --protocol 1\n"
               "  hpbench score predictions.csv --protocol 1          predictions made anywhere\n"
               "  hpbench search head-search --protocol 300wlp-7030       a small head over a frozen backbone\n"
               "  hpbench demo                                        all of it on synthetic heads\n"
               "hpbench COMMAND --help describes each command.")
    parser.add_argument("--version", action="version", version=f"hpbench {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_synth, _prepare, _verify, _protocols, _evaluate, _score, _sensitivity, _bench, _export, _compare, _train, _search, _demo, _leaderboard,
                _detector, _bboxes, _models):
        add(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = vars(build_parser().parse_args(argv))
    target = args.pop("target")
    command = " ".join(str(args.pop(name)) for name in ("command", "action") if args.get(name))
    module, function = target.split(":")
    try:
        with console():
            result = getattr(importlib.import_module(module), function)(**args)
    except HpbenchError as err:
        print(f"hpbench {command}: error: {err}", file=sys.stderr)
        return 1
    except OSError as err:  # the machine's side (a permission, a full disk, a file gone): name the file
        where = f"{err.filename}: " if err.filename else ""
        print(f"hpbench {command}: error: {where}{err.strerror or err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"hpbench {command}: interrupted", file=sys.stderr)
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    raise SystemExit(main())
