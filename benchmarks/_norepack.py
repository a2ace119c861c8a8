"""`python -m benchmarks._norepack MODULE|SCRIPT.py ARGS...`: run it with llama.cpp weight
repacking off.

llama.cpp repacks quantised weights into CPU-specific layouts at load time. On some CPUs
(AVX-512 with AMX here) the repacked Q4_K kernels of the vendored revision crash in decode, for
Gemma 3 270M Q4_K_M among others. llama-server has `--no-repack`; the Python servers have no
such option, so this launcher sets the model parameter (`use_extra_bufts = false`) before the
module loads any model. It changes nothing else.
"""

from __future__ import annotations

import runpy
import sys


def disable_repack() -> None:
    import llama_cpp.llama_cpp as bindings

    default_params = bindings.llama_model_default_params

    def without_repack():  # type: ignore[no-untyped-def]
        params = default_params()
        params.use_extra_bufts = False
        return params

    # Llama.__init__ looks the function up on the module at call time, so this is enough.
    bindings.llama_model_default_params = without_repack


def main() -> None:
    if len(sys.argv) < 2:
        raise SystemExit("usage: python -m benchmarks._norepack MODULE|SCRIPT.py [ARGS...]")
    target = sys.argv[1]
    sys.argv = [target, *sys.argv[2:]]
    disable_repack()
    if target.endswith(".py"):
        runpy.run_path(target, run_name="__main__")
    else:
        runpy.run_module(target, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
