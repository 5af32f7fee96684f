"""Face boxes: WIDER FACE → YOLO, detector training, relabelling, box files (import / export), pictures.

This package is the only place that imports ultralytics (AGPL-3.0, the ``[yolo]`` extra), and only
lazily, inside the functions that train or run the detector.
"""
