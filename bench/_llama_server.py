"""Run `python -m llama_cpp.server` with llama.cpp's extra weight buffers off.

The comparison server needs the same workaround as the gateway's loader (with this
llama-cpp-python build, AMX weight buffers crash the first multi-token decode on this
machine's CPU). Run with an interpreter that has `llama-cpp-python[server]` installed:

    /path/to/python bench/_llama_server.py --model FILE --port N [server options]
"""

from __future__ import annotations

import runpy
import sys

import llama_cpp.llama as llama_module

_module = llama_module.llama_cpp
_original = _module.llama_model_default_params


def _defaults():  # type: ignore[no-untyped-def]
    params = _original()
    params.use_extra_bufts = False
    return params


_module.llama_model_default_params = _defaults
sys.argv = ["llama_cpp.server", *sys.argv[1:]]
runpy.run_module("llama_cpp.server", run_name="__main__")
