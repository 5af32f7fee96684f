"""From prepared files to tensors: preprocessing (``transforms``), crop rules (``crops``),
augmentation with pose correction (``augment``) and the torch Datasets (``headpose``).

Import from the submodules; this package re-exports nothing, so that importing ``transforms`` (as the
models do, for ``Preprocessing``) does not pull in the torch Datasets.
"""
