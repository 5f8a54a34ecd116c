"""Per workload: the priced options and their quality evidence (options), the gates and the
answer (decision), the orchestrator that reads like the design (pipeline) and what each
report parameter accepts (parameters).

Importing this package imports none of its modules; ``workbench.decide.<module>`` loads one
on first use."""

from .. import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
