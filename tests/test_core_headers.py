"""The header-only core compiles alone: C++17, no Python and no CUDA headers (DESIGN.md)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEADERS = sorted((ROOT / "csrc" / "core").glob("*.hpp")) if (ROOT / "csrc").exists() else []
CXX = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")


@pytest.mark.skipif(
    not HEADERS or CXX is None, reason="needs the source checkout and a C++ compiler"
)
@pytest.mark.parametrize("header", HEADERS, ids=lambda p: p.name)
def test_header_compiles_standalone(header, tmp_path):
    text = header.read_text()
    for forbidden in ("Python.h", "pybind11", "cuda_runtime", "torch/"):
        assert forbidden not in text, f"{header.name} must not include {forbidden}"
    src = tmp_path / "tu.cpp"
    src.write_text(f'#include "core/{header.name}"\nint main() {{ return 0; }}\n')
    res = subprocess.run(
        [
            CXX,
            "-std=c++17",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-Wno-unknown-pragmas",  # `#pragma omp` without -fopenmp is fine
            "-fsyntax-only",
            f"-I{ROOT / 'csrc'}",
            str(src),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert res.returncode == 0, res.stderr


IOSTREAM_TOKENS = (
    "<iostream>",
    "<sstream>",
    "<ostream>",
    "<fstream>",
    "ostringstream",
    "std::cout",
)


def _sources():
    if not (ROOT / "csrc").exists():
        return []
    return sorted(
        p for p in (ROOT / "csrc").rglob("*") if p.suffix in (".hpp", ".cpp", ".cu", ".cuh", ".h")
    )


@pytest.mark.skipif(not _sources(), reason="needs the source checkout")
def test_no_iostreams_in_compiled_sources():
    # A GPU machine's toolchain once linked a second libstdc++ into the module, and
    # `std::ostringstream << int64_t` in a shape error segfaulted in that copy's locale facets
    # (stop 14, found with cuda-gdb). Messages are built with std::to_string and string
    # concatenation instead.
    offenders = []
    for path in _sources():
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("//", 1)[0]
            if any(tok in code for tok in IOSTREAM_TOKENS):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert not offenders, "iostreams in compiled sources:\n" + "\n".join(offenders)
