"""Evolutionary search of small heads over a frozen backbone (Matak, Enhancing transfer learning for
pose estimation using evolutionary computing; docs/SEARCH.md).

``genome`` decodes a point of [0, 1]^13 into a head, ``heads`` builds and measures it, ``features``
computes the frozen backbone's features once per sample, ``objective`` trains a candidate on them and
logs it, ``optimizers`` drive the search, ``run`` ties them to a recipe and a protocol.
"""
