import subprocess
import sys

HEAVY = ("plotly", "ipywidgets", "papermill", "pynvml", "vllm", "torch", "pandas", "aiohttp", "asyncio")


def test_import_workbench_is_light():
    """`import workbench` (and its public names' lookup table) pulls in no heavy module and no event loop."""
    code = (
        "import sys, workbench; "
        "print(','.join(m for m in %r if m in sys.modules))" % (HEAVY,)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"import workbench imported: {out.stdout.strip()}"


def test_cli_help_does_not_import_heavy_modules():
    code = (
        "import sys\nfrom workbench import cli\n"
        "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('LOADED=' + ','.join(m for m in %r if m in sys.modules))" % (HEAVY,)
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "LOADED="
