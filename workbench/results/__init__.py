"""The results store (one append-only directory per run) and the schema of everything in it.

Importing this package imports none of its modules; ``workbench.results.<module>`` loads one
on first use."""

from .. import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
