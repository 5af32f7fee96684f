"""Training: recipes (``recipe``), the shared task-generic loop (``loop``), optimisers (``optim``),
the baselines' losses (``losses``), KD's teacher cache (``teacher``) and ``hpbench train`` (``train``)."""
