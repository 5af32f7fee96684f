"""The interface every registered model offers: ``PoseModel`` (any task), ``HeadPoseModel`` (angles)."""

from __future__ import annotations

import torch
from torch import nn

from hpbench.data.transforms import Preprocessing

DEFAULT_TASK = "headpose"  # the task of a model file that names none (TorchScript, ONNX, Keras ports)


class PoseModel(nn.Module):
    """Any task's model (hpbench.tasks): ``forward(images)`` → the raw outputs its loss needs;
    ``predict(images)`` → what its task scores, in ``self.convention``; ``preprocessing``, its
    parameter groups for per-group learning rates and its authors' state-dict layout."""

    task = DEFAULT_TASK
    convention = "hpbench"
    arch = ""
    config: dict = {}
    backbone_attribute = "backbone"  # the pretrained trunk: its parameters form the "backbone" group
    resize_kernel = "opencv-linear"  # how its authors resized crops (hpbench.data.crops.RESIZE_KERNELS)

    def __init__(self, input_size: int = 224):
        super().__init__()
        self.preprocessing = Preprocessing(input_size=input_size, resize_kernel=self.resize_kernel)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """The trunk's parameters ("backbone") and the rest ("heads"), for per-group learning rates."""
        trunk = {id(p) for p in getattr(self, self.backbone_attribute).parameters()}
        return {"backbone": [p for p in self.parameters() if id(p) in trunk],
                "heads": [p for p in self.parameters() if id(p) not in trunk]}

    @property
    def rvc_head(self) -> nn.Module | None:
        """The RvC head whose bins decode ``rvc_logits`` (None for models without one)."""
        return None

    def predict(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def training_transform(self):
        """A transform the training data must carry, with its labels (HMTL's pretext task), or None."""
        return None

    def adopt_state_dict(self, state: dict) -> dict:
        """A state dict in this model's own key layout from one in its authors' released layout (as it
        is, by default); ``hpbench evaluate --arch`` loads a released file through it."""
        return state


class HeadPoseModel(PoseModel):
    """``predict(images)`` → angles in ``self.convention``. Models with an RvC head also give
    ``rvc_logits`` (N, 3, bins) and name the head that decodes them (``rvc_head``): they can be
    evaluated as convolutional ensembles and teach KD students."""

    decoding = "centre"  # how rvc probabilities become angles: "centre" or HopeNet's "left-edge"

    def rvc_logits(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"{self.arch or type(self).__name__} has no RvC head")

    def decode_probabilities(self, probabilities: torch.Tensor) -> torch.Tensor:
        """Angles (N, 3) from averaged softmax probabilities of the RvC head."""
        return self.rvc_head.expectation(probabilities, self.decoding)
