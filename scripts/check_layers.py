#!/usr/bin/env python3
"""Fails when a project include crosses the runtime's layers.

The layers (docs/architecture.md, "Where things live"): each folder below may
include project headers only from the folders listed for it. Everything under
runtime/ is MLIR-free and model-free, so none of it includes compiler/,
dialects/, models/, tools/ or test/. A backend (runtime/cpu, runtime/cuda)
never includes the other; the core (runtime/exec) and the parallel groups
(runtime/parallel) include no backend; only front-end code (runtime/serve,
tools/) sees every layer.

Usage: scripts/check_layers.py [REPO_ROOT]   (exit 1 and one line per
offending include, "file:line: includes X, outside LAYER's layers ...").
"""
import os
import re
import sys

LEAVES = ["runtime/support"]
RULES = {
    "runtime/support": LEAVES,
    "runtime/checkpoint": LEAVES + ["runtime/checkpoint"],
    "runtime/plan": LEAVES + ["runtime/plan"],
    "runtime/tokenizer": LEAVES + ["runtime/tokenizer"],
    "runtime/comm": LEAVES + ["runtime/comm"],
    "runtime/exec": LEAVES + ["runtime/checkpoint", "runtime/plan", "runtime/exec"],
    "runtime/parallel": LEAVES + ["runtime/checkpoint", "runtime/plan", "runtime/exec",
                                  "runtime/comm", "runtime/parallel"],
    "runtime/cpu": LEAVES + ["runtime/checkpoint", "runtime/plan", "runtime/exec",
                             "runtime/comm", "runtime/parallel", "runtime/cpu", "kernels/cpu"],
    "runtime/cuda": LEAVES + ["runtime/checkpoint", "runtime/plan", "runtime/exec",
                              "runtime/comm", "runtime/parallel", "runtime/cuda", "kernels/cuda"],
    "runtime/serve": LEAVES + ["runtime/checkpoint", "runtime/plan", "runtime/exec",
                               "runtime/comm", "runtime/parallel", "runtime/cpu", "runtime/cuda",
                               "runtime/tokenizer", "runtime/serve"],
    "kernels/cpu": ["kernels/cpu"],
    "kernels/cuda": LEAVES + ["kernels/cuda"],
}
# Known exceptions, each with its reason; keep this list short.
EXCEPTIONS = {
    # The KV cache's bookkeeping hands the CPU kernels a view of its host
    # pools; the view type is plain data (kernels/cpu/paged_kv.h).
    ("runtime/exec/kv_cache.h", "kernels/cpu/paged_kv.h"),
}
PROJECT_ROOTS = ("runtime/", "kernels/", "compiler/", "dialects/", "models/", "tools/", "test/")
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SOURCE_SUFFIXES = (".h", ".cpp", ".cu", ".cuh", ".inc")


def layer_of(path):
    for layer in sorted(RULES, key=len, reverse=True):
        if path.startswith(layer + "/"):
            return layer
    return None


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), ".."))
    problems = []
    checked = 0
    for top in ("runtime", "kernels"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if not name.endswith(SOURCE_SUFFIXES):
                    continue
                full = os.path.join(dirpath, name)
                rel = os.path.relpath(full, root)
                layer = layer_of(rel)
                if layer is None:
                    problems.append(f"{rel}: in no layer of scripts/check_layers.py (add its folder)")
                    continue
                checked += 1
                with open(full, encoding="utf-8", errors="replace") as f:
                    for number, line in enumerate(f, 1):
                        m = INCLUDE.match(line)
                        if not m or not m.group(1).startswith(PROJECT_ROOTS):
                            continue
                        target = m.group(1)
                        if (rel, target) in EXCEPTIONS:
                            continue
                        if not any(target.startswith(a + "/") for a in RULES[layer]):
                            problems.append(f"{rel}:{number}: includes {target}, outside "
                                            f"{layer}'s layers ({', '.join(RULES[layer])})")
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} include(s) cross the runtime's layers")
        return 1
    print(f"check_layers: {checked} files keep to their layers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
