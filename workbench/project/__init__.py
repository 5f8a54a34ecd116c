"""GPU cells that were not measured: the roofline, the memory-bandwidth probe of this CPU, its
calibration on measured sweeps (with its error), and the bound of a measured GPU point.

Importing this package imports none of its modules; ``workbench.project.<module>`` loads one
on first use."""

from .. import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
