"""Evaluation: ``hpbench evaluate`` (``evaluate``), the result record schema (``records``) and the
leaderboards built from records and published numbers (``leaderboard``)."""
