"""What a user sees: plotly figures, the papermill report and in-kernel display, the claims
checked against our numbers, and the what-if dashboard (model, rendering, Voila).

Importing this package imports none of its modules; ``workbench.present.<module>`` loads one
on first use."""

from .. import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
