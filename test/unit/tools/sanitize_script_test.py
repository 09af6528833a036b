#!/usr/bin/env python3
"""The GPU script's compute-sanitizer phase (scripts/gpu/cuda_backend.sh
sanitize) over stand-in binaries and a stand-in compute-sanitizer: one
verdict per binary and tool, a sanitizer error failing the phase, races
inside cuBLASLt's kernels alone counted clean and said so, timeouts
incomplete, a missing sanitizer skipped and never passed.

Usage: sanitize_script_test.py REPO_ROOT
"""
import os
import re
import stat
import subprocess
import sys
import tempfile
import unittest

ROOT = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../..")


# A stand-in compute-sanitizer: runs the test binary, then prints the
# summary the real tool prints when clean, or the one written beside it for
# that binary and tool (summary-NAME-TOOL, exit status in ...-TOOL.rc).
FAKE_SANITIZER = """#!/bin/bash
here=$(dirname "$0")
while [[ $1 == --* ]]; do
  case $1 in --tool) tool=$2; shift 2 ;; --error-exitcode) shift 2 ;; *) echo "bad flag $1"; exit 9 ;; esac
done
echo "$tool $(basename "$1") ${*:2}" >>"$here/calls.txt"
"$@"; rc=$?
spec=$here/summary-$(basename "$1")-$tool
if [[ -f $spec ]]; then cat "$spec"; [[ -f $spec.rc ]] && rc=$(cat "$spec.rc"); exit "$rc"; fi
if [[ $tool == racecheck ]]; then
  echo "========= RACECHECK SUMMARY: 0 hazards displayed (0 errors, 0 warnings)"
else
  echo "========= ERROR SUMMARY: 0 errors"
fi
exit "$rc"
"""
FAKE_GTEST = """#!/bin/bash
echo "Running main() from gtest_main.cc"
echo "[  PASSED  ] 3 tests."
"""


class SanitizeTest(unittest.TestCase):
    """scripts/gpu/cuda_backend.sh sanitize over stand-in binaries: one
    verdict per binary and tool, the filters passed through, a sanitizer
    error failing the phase and a missing sanitizer skipping, not passing."""

    BINARIES = ["cuda_op_parity_test", "cuda_attention_parity_test", "cuda_golden_test",
                "cuda_tier_test", "cuda_tp_test"]

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.carry = os.path.join(self.tmp.name, "carry")
        self.tools = os.path.join(self.tmp.name, "tools")
        os.makedirs(os.path.join(self.carry, "bin"))
        os.makedirs(self.tools)
        for name in self.BINARIES:
            self.write(os.path.join(self.carry, "bin", name), FAKE_GTEST)
        self.write(os.path.join(self.tools, "compute-sanitizer"), FAKE_SANITIZER)

    def tearDown(self):
        self.tmp.cleanup()

    @staticmethod
    def write(path, text, executable=True):
        with open(path, "w") as f:
            f.write(text)
        if executable:
            os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)

    def sanitize(self, **env):
        out = os.path.join(self.tmp.name, "out")
        env = dict(os.environ, CARRY=self.carry, OUT=out,
                   **dict({"COMPUTE_SANITIZER": os.path.join(self.tools, "compute-sanitizer")},
                          **env))
        run = subprocess.run(["bash", os.path.join(ROOT, "scripts/gpu/cuda_backend.sh"),
                              "sanitize"], env=env, capture_output=True, text=True)
        verdicts = dict(re.findall(r"(?m)^sanitize (\S+ \S+): (\S+)", run.stdout))
        return run, verdicts

    def test_clean_runs_one_line_per_binary_and_tool_with_their_filters(self):
        run, verdicts = self.sanitize()
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertEqual(set(verdicts.values()), {"clean"})
        self.assertEqual(sorted(verdicts), sorted(
            ["cuda_op_parity_test memcheck", "cuda_op_parity_test racecheck",
             "cuda_attention_parity_test memcheck", "cuda_attention_parity_test racecheck",
             "cuda_golden_test memcheck", "cuda_tier_test memcheck", "cuda_tp_test memcheck"]))
        self.assertIn("(ERROR SUMMARY: 0 errors; 3 passed, 0 skipped)", run.stdout)
        with open(os.path.join(self.tools, "calls.txt")) as f:
            calls = f.read().splitlines()
        self.assertIn("racecheck cuda_attention_parity_test --gtest_filter=*/BF16_d128:*/F16_d40",
                      calls)
        with open(os.path.join(self.tmp.name, "out", "sanitizer.txt")) as f:
            report = f.read()
        self.assertEqual(report.count("[  PASSED  ] 3 tests."), 7)
        with open(os.path.join(self.tmp.name, "out", "log.txt")) as f:
            self.assertEqual(len(re.findall(r"(?m)^sanitize ", f.read())), 7)

    def test_errors_and_racecheck_hazards_fail_warnings_do_not(self):
        specs = {
            "cuda_golden_test-memcheck": "========= Invalid __global__ read of size 4 bytes\n"
                                         "========= ERROR SUMMARY: 1 error\n",
            "cuda_op_parity_test-racecheck":
                "========= RACECHECK SUMMARY: 2 hazards displayed (1 error, 1 warning)\n",
            "cuda_attention_parity_test-racecheck":
                "========= RACECHECK SUMMARY: 3 hazards displayed (0 errors, 3 warnings)\n",
        }
        for name, text in specs.items():
            self.write(os.path.join(self.tools, "summary-" + name), text, executable=False)
        self.write(os.path.join(self.tools, "summary-cuda_golden_test-memcheck.rc"), "1\n",
                   executable=False)
        run, verdicts = self.sanitize()
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertEqual(verdicts["cuda_golden_test memcheck"], "FAILED")
        self.assertEqual(verdicts["cuda_op_parity_test racecheck"], "FAILED")
        self.assertEqual(verdicts["cuda_attention_parity_test racecheck"], "clean")
        self.assertEqual(verdicts["cuda_tp_test memcheck"], "clean")

    def test_races_inside_cublaslt_kernels_alone_do_not_fail(self):
        # racecheck cannot follow cuBLASLt's Hopper synchronisation: a run
        # whose every race report names an nvjet_ kernel is clean (saying
        # so); one report in another kernel fails it.
        library = ("========= Error: Race reported between Read access at nvjet_sm90_tst_64x8+0xaf0\n"
                   "=========     and Write access at nvjet_sm90_tst_64x8+0x2ec0 [12 hazards]\n")
        ours = ("========= Error: Race reported between Read access at "
                "bloom::cuda::GemvKernel+0x10\n"
                "=========     and Write access at bloom::cuda::GemvKernel+0x20 [1 hazards]\n")
        for name, text in (
                ("cuda_op_parity_test-racecheck", library * 2 +
                 "========= RACECHECK SUMMARY: 2 hazards displayed (2 errors, 0 warnings)\n"),
                ("cuda_attention_parity_test-racecheck", library + ours +
                 "========= RACECHECK SUMMARY: 2 hazards displayed (2 errors, 0 warnings)\n")):
            self.write(os.path.join(self.tools, "summary-" + name), text, executable=False)
            self.write(os.path.join(self.tools, "summary-" + name + ".rc"), "1\n",
                       executable=False)
        run, verdicts = self.sanitize()
        self.assertEqual(run.returncode, 1, run.stdout + run.stderr)
        self.assertEqual(verdicts["cuda_op_parity_test racecheck"], "clean")
        self.assertIn("every one inside cuBLASLt's kernels (nvjet_)", run.stdout)
        self.assertEqual(verdicts["cuda_attention_parity_test racecheck"], "FAILED")

    def test_a_run_that_dies_fails_and_one_with_every_case_skipped_is_skipped(self):
        self.write(os.path.join(self.carry, "bin", "cuda_tier_test"), "#!/bin/bash\nkill -SEGV $$\n")
        self.write(os.path.join(self.carry, "bin", "cuda_tp_test"),
                   "#!/bin/bash\necho '[  PASSED  ] 0 tests.'\necho '[  SKIPPED ] 1 test'\n")
        self.write(os.path.join(self.tools, "summary-cuda_tier_test-memcheck"), "",
                   executable=False)
        run, verdicts = self.sanitize()
        self.assertEqual(run.returncode, 1)
        self.assertEqual(verdicts["cuda_tier_test memcheck"], "FAILED")
        self.assertIn("no summary: the run died", run.stdout)
        self.assertEqual(verdicts["cuda_tp_test memcheck"], "SKIPPED")

    def test_no_sanitizer_is_skipped_not_passed(self):
        run, verdicts = self.sanitize(COMPUTE_SANITIZER="/nonexistent/compute-sanitizer",
                                      PATH="/usr/bin:/bin")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertEqual(set(verdicts.values()), {"SKIPPED"})
        self.assertIn("compute-sanitizer not found", run.stdout)

    def test_timeouts_are_incomplete_and_a_spent_budget_skips(self):
        self.write(os.path.join(self.carry, "bin", "cuda_op_parity_test"),
                   "#!/bin/bash\nsleep 5\n")
        run, verdicts = self.sanitize(SANITIZE_TIMEOUT="1", SANITIZE_BUDGET="40",
                                      SANITIZE_TESTS="cuda_op_parity_test|memcheck|* "
                                                     "cuda_tp_test|memcheck|*")
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertEqual(verdicts, {"cuda_op_parity_test memcheck": "INCOMPLETE",
                                    "cuda_tp_test memcheck": "clean"})
        run, verdicts = self.sanitize(SANITIZE_BUDGET="5")
        self.assertEqual(set(verdicts.values()), {"SKIPPED"})
        self.assertIn("the 5 s budget was spent", run.stdout)



if __name__ == "__main__":
    unittest.main()
