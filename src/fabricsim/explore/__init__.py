"""Design-space sweeps: a sweep file, its points, local or Ray engines, a resumable Parquet store, reports."""

from fabricsim.explore.sweep import SweepRun, run_sweep

__all__ = ["SweepRun", "run_sweep"]
