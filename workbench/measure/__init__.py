"""Runs into the results store: load sweeps (harness, loadgen, telemetry, per-request metrics),
quality on workloads (evaluate, scorers, bootstrap statistics), and random-weight GPU
benches (gpu_bench).

Importing this package imports none of its modules; ``workbench.measure.<module>`` loads one
on first use."""

from .. import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
