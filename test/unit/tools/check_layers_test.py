#!/usr/bin/env python3
"""scripts/check_layers.py on small hand-made trees: an include that crosses
a layer is reported with its file and line and fails the check; includes
inside the rules pass; a file in a folder the rules do not know fails too.

Usage: check_layers_test.py REPO_ROOT
"""
import os
import subprocess
import sys
import tempfile
import unittest

ROOT = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../..")
CHECK = os.path.join(ROOT, "scripts", "check_layers.py")


def run_on(files):
    with tempfile.TemporaryDirectory() as tree:
        for path, text in files.items():
            full = os.path.join(tree, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w") as f:
                f.write(text)
        done = subprocess.run([sys.executable, CHECK, tree], capture_output=True, text=True)
        return done.returncode, done.stdout


class CheckLayersTest(unittest.TestCase):
    def test_cuda_including_the_cpu_backend_fails_naming_file_and_line(self):
        code, out = run_on({
            "runtime/cuda/a.cpp": '#include "runtime/cuda/a.h"\n#include "runtime/cpu/cpu_executor.h"\n',
        })
        self.assertEqual(code, 1)
        self.assertIn("runtime/cuda/a.cpp:2: includes runtime/cpu/cpu_executor.h", out)

    def test_runtime_including_the_compiler_or_a_model_fails(self):
        code, out = run_on({
            "runtime/exec/a.h": '#include "models/bloom/config.h"\n',
            "runtime/serve/b.cpp": '#include "compiler/Passes.h"\n',
        })
        self.assertEqual(code, 1)
        self.assertIn("runtime/exec/a.h:1: includes models/bloom/config.h", out)
        self.assertIn("runtime/serve/b.cpp:1: includes compiler/Passes.h", out)

    def test_the_core_including_a_backend_or_serving_fails(self):
        code, out = run_on({
            "runtime/exec/a.cpp": '#include "runtime/serve/engine.h"\n',
            "runtime/parallel/b.cpp": '#include "runtime/cpu/cpu_executor.h"\n',
        })
        self.assertEqual(code, 1)
        self.assertIn("runtime/exec/a.cpp:1", out)
        self.assertIn("runtime/parallel/b.cpp:1", out)

    def test_includes_within_the_layers_pass(self):
        code, out = run_on({
            "runtime/serve/a.cpp": '#include "runtime/cpu/x.h"\n#include "runtime/cuda/y.h"\n'
                                   '#include <vector>\n#include "absl/status/status.h"\n',
            "runtime/cuda/b.cpp": '#include "kernels/cuda/gemm.cuh"\n#include "runtime/exec/executor.h"\n',
            "kernels/cpu/c.cpp": '#include "kernels/cpu/c.h"\n',
        })
        self.assertEqual(code, 0, out)

    def test_a_folder_outside_the_rules_fails(self):
        code, out = run_on({"runtime/newthing/a.cpp": "\n"})
        self.assertEqual(code, 1)
        self.assertIn("runtime/newthing/a.cpp: in no layer", out)


if __name__ == "__main__":
    unittest.main()
