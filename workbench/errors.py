"""The one base class of every error the workbench raises on purpose.

Each stage defines its own subclass (TargetError, EngineError, CatalogError, ...); the CLI
prints any WorkbenchError as one clear line instead of a traceback.
"""


class WorkbenchError(Exception):
    """An error with a message meant for the user: it names the file, field and value at fault."""


class DashboardError(WorkbenchError, RuntimeError):
    """A dashboard that cannot be built or served; the message says what is missing."""
