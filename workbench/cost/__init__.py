"""Pure cost functions: $/request, $/Mtok, replicas and monthly cost vs volume (``cost``), and
the volumes at which the cheapest option changes (``breakeven``, ``envelope``).

Importing this package imports none of its modules; ``workbench.cost.<module>`` loads one
on first use."""

from .. import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
