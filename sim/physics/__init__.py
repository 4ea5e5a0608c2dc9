"""Process physics of the cell: GMAW weld process twin (arc, thin-plate thermal FD model, bead, ISO 5817).

Modules: ``joint`` (the seeded joints), ``arc`` (the process model's constants and formulas), ``weld``
(the procedure and the process model: ``WeldProcess``, and ``WeldBatch`` for many welds at once),
``weld_kernel`` (the process model's step, numba, for one weld or many),
``thermal`` (the plate's thermal field), ``pool`` (the melt pool's 3-D corrected field and fused zone,
numba kernels), ``iso5817`` (limits and levels), ``weld_report`` (the graded weld), ``flow`` (the
part flow), ``plot`` (figures).
"""
from .iso5817 import ACCEPTANCE_LEVEL, IMPERFECTIONS, LEVELS
from .joint import JointGeometry, generate_joint
from .weld import (
    NOMINAL_PROCEDURE,
    PARAMETER_LIMITS,
    NominalProcedure,
    ProcessSample,
    WeldBatch,
    WeldProcess,
    run_fixed_recipe,
)
from .weld_report import WeldReport

__all__ = [
    "ACCEPTANCE_LEVEL",
    "IMPERFECTIONS",
    "LEVELS",
    "NOMINAL_PROCEDURE",
    "PARAMETER_LIMITS",
    "JointGeometry",
    "NominalProcedure",
    "ProcessSample",
    "WeldBatch",
    "WeldProcess",
    "WeldReport",
    "generate_joint",
    "run_fixed_recipe",
]
