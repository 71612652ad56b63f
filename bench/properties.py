#!/usr/bin/env python3
"""The readers' property-based tests with a long random example budget.

CI runs ``tests/test_properties.py`` with a small, derandomised budget (profile ``ci``). This
script runs the same tests with the ``long`` profile (400 random examples a test; builds: 30
by default) and prints, per test, its outcome and time::

    .venv/bin/python bench/properties.py [--builds 30] [-- extra pytest arguments]

A failure prints hypothesis's shrunk example: add it to the fixtures of the reader's tests.
Figures are recorded in docs/benchmarks.md ("Readers under random input").
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=30,
                        help="examples of the tests that build a warehouse (slow)")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    env = {**os.environ, "HYPOTHESIS_PROFILE": "long", "PROPERTY_BUILDS": str(args.builds)}
    started = time.perf_counter()
    code = subprocess.call(
        [sys.executable, "-m", "pytest", "tests/test_properties.py", "-q", "-p",
         "no:cacheprovider", "--durations=0", "--hypothesis-show-statistics", *args.pytest_args],
        cwd=ROOT, env=env)
    print(f"\nlong run: {time.perf_counter() - started:.0f} s, exit code {code}")
    return code


if __name__ == "__main__":
    sys.exit(main())
