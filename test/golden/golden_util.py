"""Shared by make_goldens.py and the golden_* modules: the environment
defaults, log, and the per-step error guard (guarded, FAILURES).

Every golden_* module imports this one before torch, transformers or
tokenizers, so the environment defaults are set before those load.
"""

import os
import sys
import traceback

os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FAILURES = []


def log(*args):
    print(*args, flush=True)


def guarded(label, fn, *args, **kwargs):
    """Runs fn; on error records it and returns None so later steps run."""
    try:
        return fn(*args, **kwargs)
    except Exception:  # noqa: BLE001 - report everything, keep going
        log(f"FAILED: {label}")
        traceback.print_exc(file=sys.stdout)
        sys.stdout.flush()
        FAILURES.append(label)
        return None
