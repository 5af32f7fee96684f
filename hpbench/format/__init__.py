"""The hpbench HDF5 layout, format version 2 (docs/FORMAT.md is the contract).

``layout`` (what a file holds), ``digest`` (content hashes), ``writer`` (the streaming writer),
``update`` (adding a box or label source in place), ``reader`` (``HPFile``), ``validate`` and ``checked``
(validated before use, remembered while unchanged). This package is
the only one that spells key names.
"""

from hpbench.format.checked import check_before_use, check_unchanged
from hpbench.format.layout import (
    FORMAT_NAME,
    FORMAT_VERSION,
    IMAGE_FORMATS,
    META_KINDS,
    POSE_CONVENTION,
    TASKS,
    Field,
    FormatError,
    Layout,
    prepared_path,
)
from hpbench.format.reader import HPFile, find_prepared, open_h5, open_prepared
from hpbench.format.update import add_box_source, add_label_source
from hpbench.format.validate import Check, Validation, row_problems, validate
from hpbench.format.writer import Sample, Writer, sample_row

__all__ = [
    "FORMAT_NAME", "FORMAT_VERSION", "IMAGE_FORMATS", "META_KINDS", "POSE_CONVENTION", "TASKS", "Field",
    "FormatError", "Layout", "prepared_path", "HPFile", "find_prepared", "open_h5", "open_prepared", "add_box_source",
    "add_label_source", "Check",
    "Validation", "validate", "row_problems", "check_before_use", "check_unchanged", "Sample", "Writer", "sample_row",
]
