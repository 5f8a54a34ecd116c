"""What answers requests, and the one seam to it: managed engines (vLLM, llama.cpp) and their
lifecycle, the embedded SmolLM2 model, the streaming client with kernel receive timestamps,
and the loopback test doubles (a fake OpenAI server, a fault-injecting proxy).

Importing this package imports none of its modules; ``workbench.serving.<module>`` loads one
on first use."""

from .. import lazy_submodules

__getattr__ = lazy_submodules(__name__, __path__)
