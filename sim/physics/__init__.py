"""Process physics of the cell: GMAW weld process twin (arc, thin-plate thermal FD model, bead, ISO 5817)."""
from .weld import (
    ACCEPTANCE_LEVEL,
    IMPERFECTIONS,
    LEVELS,
    NOMINAL_PROCEDURE,
    PARAMETER_LIMITS,
    JointGeometry,
    NominalProcedure,
    ProcessSample,
    WeldProcess,
    WeldReport,
    generate_joint,
    run_fixed_recipe,
)

__all__ = [
    "ACCEPTANCE_LEVEL",
    "IMPERFECTIONS",
    "LEVELS",
    "NOMINAL_PROCEDURE",
    "PARAMETER_LIMITS",
    "JointGeometry",
    "NominalProcedure",
    "ProcessSample",
    "WeldProcess",
    "WeldReport",
    "generate_joint",
    "run_fixed_recipe",
]
