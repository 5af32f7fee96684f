"""Registered model architectures, timm-style: ``@register_model``, ``list_models``, ``create_model``.

Names read ``family.backbone`` (``kd_student.resnet18``, ``hopenet.resnet50``). Every model is a
``HeadPoseModel``: ``forward`` gives the raw outputs its loss needs, ``predict`` the angles in the
model's own ``convention`` (hpbench.pose), which evaluation converts to the canonical one. A family
is one module of this package with its ``@register_model`` factories: the registry imports every
module of the package on first use.
"""

from __future__ import annotations

import fnmatch
from typing import Callable

from hpbench.models.base import HeadPoseModel
from hpbench.registry import Registry

MODELS: Registry[Callable[..., HeadPoseModel]] = Registry("model", package=__name__)


def register_model(name: str):
    """Register a factory ``fn(**config) -> HeadPoseModel`` under ``name``."""
    return MODELS.register(name)


def list_models(pattern: str = "*") -> list[str]:
    return [name for name in MODELS.names() if fnmatch.fnmatch(name, pattern)]


def create_model(name: str, **config) -> HeadPoseModel:
    model = MODELS.get(name)(**config)
    model.arch, model.config = name, dict(config)
    return model
