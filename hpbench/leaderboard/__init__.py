"""``hpbench leaderboard build [--check]``: reported numbers + result records → CSV, Markdown, charts.

Inputs: ``leaderboards/reported.yaml`` (published numbers with their sources) and
``leaderboards/results/*.json`` (records written by ``hpbench evaluate --record``, validated on read).
Outputs, per protocol with rows: ``leaderboards/<protocol>.csv`` and ``<protocol>.png``, and one
``leaderboards/README.md``. The output is a pure function of the inputs — stable sort, fixed number
format, no time stamps but the records' own — so a rebuild of unchanged inputs is byte-identical and
``--check`` can compare the committed files with a rebuild.

``rows`` reads the inputs into rows and decides each protocol's board (its columns, from the
protocol's metrics and task); ``render`` writes the CSV and Markdown, ``chart`` the picture, ``build``
the files. What may be ranked is decided by hpbench.evaluation.conformance.
"""
