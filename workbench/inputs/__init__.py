"""What is measured and priced, read from data/ and the user's files: targets (what to send
requests to, and the deployment that prices it), workloads (spec + items) and the catalog
(API prices, GPU instances, model architectures, published quality).

Importing this package imports none of its modules; ``workbench.inputs.<module>`` loads one
on first use."""

from .. import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
