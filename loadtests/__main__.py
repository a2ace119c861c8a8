"""`python -m loadtests ARGS`: Locust on these profiles, wherever the package is installed.

The same as ``locust -f <this folder> ARGS``; handy after ``pip install 'inferno-harness[load]'``,
where the folder lies somewhere in site-packages.

``python -m loadtests compare A.json B.json [...]`` compares summaries instead (``_compare.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from locust.main import main as locust_main

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["compare"]:
        from loadtests._compare import main as compare_main

        return compare_main(args[1:])
    sys.argv = ["locust", "-f", str(Path(__file__).resolve().parent), *args]
    locust_main()  # exits the process itself
    return 0


if __name__ == "__main__":
    sys.exit(main())
