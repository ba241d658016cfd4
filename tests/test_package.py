"""Packaging, configuration and the command line."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import infotheory


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    """Run this Python from a neutral folder (not the source root, whose unbuilt ``infotheory/``
    would shadow the installed package)."""
    with tempfile.TemporaryDirectory() as neutral:
        return subprocess.run(
            [sys.executable, *args],
            capture_output=True,
            text=True,
            cwd=cwd or neutral,
            env=dict(os.environ),
            timeout=300,
            check=False,
        )


def test_show_config_keys():
    cfg = infotheory.show_config()
    for key in (
        "version",
        "compiler",
        "openmp",
        "threads",
        "with_cuda",
        "cuda_devices",
        "torch",
        "numpy",
        "python",
    ):
        assert key in cfg
    assert cfg["version"] == infotheory.__version__
    assert isinstance(cfg["with_cuda"], bool) and cfg["threads"] >= 1
    assert cfg["cuda_devices"] == infotheory._core.cuda_device_count()
    if (
        shutil.which("nvcc")
        and os.environ.get("INFOTHEORY_CUDA", "AUTO").upper() != "OFF"
        and os.environ.get("CI")
    ):
        assert cfg["with_cuda"], "built on a machine with nvcc, so the CUDA kernels must be in"


def test_threads_setting_round_trips():
    old = infotheory.get_num_threads()
    try:
        infotheory.set_num_threads(1)
        assert infotheory.get_num_threads() == 1
        with pytest.raises(ValueError, match="threads must be >= 1, got 0"):
            infotheory.set_num_threads(0)
        with pytest.raises(TypeError, match="threads must be an int"):
            infotheory.set_num_threads(1.5)  # type: ignore[arg-type]
    finally:
        infotheory.set_num_threads(old)


def test_numerics_do_not_import_torch():
    code = (
        "import sys, infotheory, infotheory.channels; "
        "infotheory.channels.reverse_waterfill([1.0, 2.0], 1.0); "
        "print('torch' in sys.modules)"
    )
    out = _run("-c", code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_info_command(tmp_path):
    out = _run("-m", "infotheory", "info", "--json")
    assert out.returncode == 0, out.stderr
    cfg = json.loads(out.stdout)
    assert cfg["version"] == infotheory.__version__
    exe = shutil.which("infotheory")
    if exe:  # the console script, where the package is installed
        res = subprocess.run(
            [exe, "info"], capture_output=True, text=True, timeout=120, check=False
        )
        assert res.returncode == 0 and "with_cuda" in res.stdout


def test_demo_quick_writes_its_outputs(tmp_path):
    out = _run("-m", "infotheory", "demo", "--quick", "--out", str(tmp_path / "demo"))
    assert out.returncode == 0, out.stderr
    assert "math.md" in out.stdout
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "Reverse water-filling" in report
    doc = json.loads((tmp_path / "demo" / "results.json").read_text())
    assert max(r["abs_error"] for r in doc["worked_example"]) < 5e-7


def test_unknown_command_fails_cleanly():
    out = _run("-m", "infotheory", "no-such-command")
    assert out.returncode != 0 and "invalid choice" in out.stderr


def test_readme_test_command_is_what_ci_runs():
    root = Path(__file__).resolve().parents[1]
    readme, ci = root / "README.md", root / ".ci" / "run"
    if not (readme.exists() and ci.exists()):
        pytest.skip("not running from a source checkout")
    blocks = readme.read_text().split("```bash\n")[1:3]
    commands = [b.split("\n```")[0].strip() for b in blocks]
    assert commands[1].endswith("pytest"), "the README's second command must run the tests"
    ci_lines = [ln.strip() for ln in ci.read_text().splitlines() if not ln.lstrip().startswith("#")]
    assert commands[1] in ci_lines, ".ci/run must run exactly the README's test command"
    assert commands[0].endswith("infotheory demo")


def test_missing_core_says_how_to_build(tmp_path):
    pkg = Path(infotheory.__file__).resolve().parent
    shutil.copytree(pkg, tmp_path / "infotheory", ignore=shutil.ignore_patterns("_core*"))
    out = _run("-c", "import infotheory", cwd=tmp_path)
    assert out.returncode != 0
    assert "could not be imported" in out.stderr and "pip install" in out.stderr
