"""hpbench: a benchmark and dataset-standardisation toolkit for head-pose estimation."""

__version__ = "0.1.0"
