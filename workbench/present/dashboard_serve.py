"""Serving the what-if dashboard: ``workbench dashboard`` runs Voila on 127.0.0.1 over
``notebooks/dashboard.ipynb`` (which builds :class:`workbench.present.dashboard.Dashboard`), prints
the URL, opens a browser, and stops Voila and its kernels on Ctrl-C or SIGTERM.

Light to import: no widgets, plotting or numerics here (``psutil`` is imported when stopping).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ..errors import DashboardError
from ..paths import REPO_DIR
from ..serving.processes import free_port

NOTEBOOK = REPO_DIR / "notebooks" / "dashboard.ipynb"


def serve(notebook: Path | str = NOTEBOOK, *, port: int | None = None,
          ready_timeout_s: float = 60.0, log=None) -> tuple[subprocess.Popen, str]:
    """Start Voila on 127.0.0.1 serving ``notebook`` (kernel ``python3`` of this venv) in its
    own process group; return ``(process, url)`` once the port accepts connections."""
    notebook = Path(notebook)
    if not notebook.is_file():
        raise DashboardError(f"{notebook}: dashboard notebook not found")
    port = port or free_port()
    cmd = [sys.executable, "-m", "voila", str(notebook), f"--port={port}", "--no-browser",
           "--Voila.ip=127.0.0.1", "--Voila.port_retries=0",
           "--VoilaConfiguration.show_tracebacks=True"]
    proc = subprocess.Popen(cmd, cwd=notebook.parent, stdout=log,
                            stderr=subprocess.STDOUT if log else None, start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + ready_timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise DashboardError(f"voila exited with status {proc.returncode} before serving "
                                 f"{notebook} on port {port} (is the port free? is voila installed?)")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, url
        except OSError:
            time.sleep(0.2)
    stop(proc)
    raise DashboardError(f"voila did not listen on port {port} within {ready_timeout_s:.0f} s")


def stop(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """Stop Voila and its kernels: SIGTERM to Voila's process group (it shuts its kernels
    down), then SIGKILL to whatever is left of it and of its descendants (kernels run in
    sessions of their own)."""
    import psutil

    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        kids = []
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout_s)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout_s)
    _, alive = psutil.wait_procs(kids, timeout=timeout_s)
    for p in alive:
        try:
            p.kill()
        except psutil.Error:
            pass


def add_cli_arguments(parser) -> None:
    parser.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--no-browser", action="store_true", help="only print the URL")
    parser.add_argument("--notebook", default=str(NOTEBOOK), help="notebook to serve")


def cli(args) -> int:
    # SIGTERM (kill, timeout, a service manager) must stop Voila too: it runs in its own session
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    proc, url = serve(args.notebook, port=args.port)
    print(f"dashboard: {url}  (Voila on loopback; Ctrl-C stops it)", flush=True)
    if not args.no_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        return proc.wait() or 0
    except KeyboardInterrupt:
        return 0
    finally:
        stop(proc)
