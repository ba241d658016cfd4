"""Small C++ programs compiled against csrc/ by the tests that check a header directly (the
portable code paths, the tridiagonal routines): skipped without the source checkout or a
compiler."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


# What every such program starts with: the header (in namespace infotheory::spectral) and rd(),
# which reads the next input number in C's hexadecimal float format (exact) or exits with 2.
_PRELUDE = r"""
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "core/{header}"
using namespace infotheory::spectral;
static double rd() {{ double x; if (std::scanf("%la", &x) != 1) std::exit(2); return x; }}
"""


def compile_program(tmp_path_factory, name: str, main: str, header: str) -> Path:
    """csrc/core/`header`, the prelude above and `main` built with -std=c++17 -O1 -Icsrc into a
    fresh temporary folder; the test skips where the header or a C++ compiler is missing."""
    cxx = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
    if cxx is None or not (ROOT / "csrc" / "core" / header).exists():
        pytest.skip("needs the source checkout and a C++ compiler")
    d = tmp_path_factory.mktemp(name)
    (d / "prog.cpp").write_text(_PRELUDE.format(header=header) + main)
    exe = d / "prog"
    subprocess.run(
        [cxx, "-std=c++17", "-O1", f"-I{ROOT / 'csrc'}", str(d / "prog.cpp"), "-o", str(exe)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return exe


def run_program(exe: Path, lines: list[str]) -> list[str]:
    """The program's whitespace-separated output for `lines` on its standard input."""
    return subprocess.run(
        [str(exe)], input="\n".join(lines), capture_output=True, text=True, check=True
    ).stdout.split()
