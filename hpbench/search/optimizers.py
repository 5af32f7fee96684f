"""The optimisers of the search, each from a maintained library, all seeded (extra ``[search]``).

| name | library (licence) | settings |
|---|---|---|
| ``random`` | numpy | uniform points of [0, 1]^13: the baseline |
| ``cmaes`` | ``cma`` (BSD-3) | σ₀ 0.3 from the centre, population 10, bounds [0, 1]; restarts from a random point |
| ``ga`` | ``pymoo`` (Apache-2.0) | population 10, tournaments of 3, SBX crossover, Gaussian mutation p 0.3 σ 0.3; the best 10 of parents and offspring survive (the best half) |
| ``pso`` | ``pymoo`` | 10 particles, ω 0.5, φp 0.4, φg 0.6 (not adapted) |
| ``cobyqa`` | ``scipy`` (BSD-3) | Powell-style trust region on quadratic models within the bounds, initial radius 0.3, restarts from random points |

BOBYQA itself is not offered: PDFO 2.2's wheels do not import with numpy 2, Py-BOBYQA is
GPL-3.0 and NLopt LGPL. COBYQA (Ragonneau & Zhang, in scipy ≥ 1.14) is the maintained successor of
Powell's BOBYQA for the same bound-constrained problem; ``bobyqa`` says so. Each optimiser runs
until the objective's budget is spent (``BudgetSpent``).
"""

from __future__ import annotations

import numpy as np

from hpbench.errors import HpbenchError
from hpbench.search.genome import GENOME_LENGTH
from hpbench.search.objective import BudgetSpent, Objective

POPULATION = 10
SIGMA = 0.3


def _random(objective: Objective, rng: np.random.Generator) -> None:
    while True:
        objective(rng.uniform(size=GENOME_LENGTH))


def _cmaes(objective: Objective, rng: np.random.Generator) -> None:
    import cma

    start = np.full(GENOME_LENGTH, 0.5)
    while True:
        options = {"popsize": POPULATION, "bounds": [0.0, 1.0], "seed": int(rng.integers(1, 2**31 - 1)),
                   "verbose": -9, "verb_log": 0}
        strategy = cma.CMAEvolutionStrategy(start, SIGMA, options)
        while not strategy.stop():
            candidates = strategy.ask()
            strategy.tell(candidates, [objective(x) for x in candidates])
        start = rng.uniform(size=GENOME_LENGTH)


def _pymoo(objective: Objective, rng: np.random.Generator, algorithm) -> None:
    from pymoo.core.evaluator import Evaluator
    from pymoo.core.problem import Problem
    from pymoo.core.termination import NoTermination
    from pymoo.problems.static import StaticProblem

    problem = Problem(n_var=GENOME_LENGTH, n_obj=1, xl=0.0, xu=1.0)
    algorithm.setup(problem, seed=int(rng.integers(0, 2**31 - 1)), termination=NoTermination(), verbose=False)
    while True:
        population = algorithm.ask()
        values = np.array([[objective(x)] for x in population.get("X")])
        Evaluator().eval(StaticProblem(problem, F=values), population)
        algorithm.tell(infills=population)


def _ga(objective: Objective, rng: np.random.Generator) -> None:
    from pymoo.algorithms.soo.nonconvex.ga import GA, comp_by_cv_and_fitness
    from pymoo.operators.mutation.gauss import GaussianMutation
    from pymoo.operators.selection.tournament import TournamentSelection

    _pymoo(objective, rng, GA(pop_size=POPULATION, n_offsprings=POPULATION, eliminate_duplicates=False,
                              selection=TournamentSelection(pressure=3, func_comp=comp_by_cv_and_fitness),
                              mutation=GaussianMutation(sigma=SIGMA, prob=0.3)))


def _pso(objective: Objective, rng: np.random.Generator) -> None:
    from pymoo.algorithms.soo.nonconvex.pso import PSO

    _pymoo(objective, rng, PSO(pop_size=POPULATION, w=0.5, c1=0.4, c2=0.6, adaptive=False))


def _cobyqa(objective: Objective, rng: np.random.Generator) -> None:
    from scipy.optimize import Bounds, minimize

    start = np.full(GENOME_LENGTH, 0.5)
    while True:
        minimize(objective, start, method="COBYQA", bounds=Bounds(np.zeros(GENOME_LENGTH), np.ones(GENOME_LENGTH)),
                 options={"initial_tr_radius": SIGMA, "maxfev": max(objective.remaining, 1)})
        start = rng.uniform(size=GENOME_LENGTH)


OPTIMIZERS = {"random": _random, "cmaes": _cmaes, "ga": _ga, "pso": _pso, "cobyqa": _cobyqa}


def check_optimizer(name: str) -> None:
    if name == "bobyqa":
        raise HpbenchError("bobyqa: no maintained BSD/MIT build runs with numpy 2 (PDFO 2.2's wheels fail to import; "
                           "Py-BOBYQA is GPL-3.0, NLopt LGPL); --optimizer cobyqa is scipy's successor method for the "
                           "same bound-constrained problem (docs/SEARCH.md)")
    if name not in OPTIMIZERS:
        raise HpbenchError(f"optimizer {name!r}: one of {', '.join(OPTIMIZERS)}")
    if name in ("cmaes", "ga", "pso"):
        module = "cma" if name == "cmaes" else "pymoo"
        try:
            __import__(module)
        except ImportError:
            raise HpbenchError(f"--optimizer {name} needs {module}: pip install 'hpbench[search]'") from None


def run_optimizer(name: str, objective: Objective, seed: int = 0) -> None:
    """Run ``name`` on ``objective`` until its budget is spent."""
    check_optimizer(name)
    if name in ("ga", "pso"):
        from pymoo.config import Config

        Config.warnings["not_compiled"] = False
    try:
        OPTIMIZERS[name](objective, np.random.default_rng([seed, list(OPTIMIZERS).index(name)]))
    except BudgetSpent:
        pass
