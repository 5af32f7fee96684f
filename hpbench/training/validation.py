"""Validation after each epoch, for every task: the protocol's validation sets predicted and scored by
the task (hpbench.tasks), exactly as ``hpbench evaluate`` scores test sets."""

from __future__ import annotations

import numpy as np


class Validation:
    """The mean over the validation sets of the protocol's primary metric and of the task's own columns
    (body pose: the loss), as ``validation_<key>``."""

    def __init__(self, task, protocol, sets: list, device: str, workers: int, batch_size: int):
        self.task, self.protocol, self.sets = task, protocol, sets
        self.device, self.workers, self.batch_size = device, workers, batch_size

    def __call__(self, model) -> dict[str, float]:
        from_model = self.task.predictor(model, model.convention)
        results = [self.task.score(self.task.predict(dataset, selection, from_model, self.device, self.batch_size,
                                                     self.workers, progress=False), self.protocol)
                   for selection, dataset in self.sets]
        keys = [column.key for column in self.task.columns] + [self.protocol.primary.key]
        return {f"validation_{key}": float(np.mean([r.metrics[key] for r in results])) for key in keys}
