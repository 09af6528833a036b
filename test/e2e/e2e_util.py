"""What the end-to-end parity scripts share: running a tool (a failure ends
the test with the command and its output) and reading a golden case (its
golden.json and the checkpoint it was made from, which a case may keep
elsewhere in the repository). Standard library only."""
import json
import os
import subprocess
import sys


def run(cmd, timeout=300):
    """Runs `cmd`; returns its stdout, or exits naming the command and its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        sys.exit(f"FAILED ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}{proc.stderr}")
    return proc.stdout


def load_golden(case_dir, repo):
    """A golden case: (its golden.json, the checkpoint directory to compile)."""
    with open(os.path.join(case_dir, "golden.json")) as f:
        golden = json.load(f)
    model = os.path.join(repo, golden["checkpoint_dir"]) if "checkpoint_dir" in golden else case_dir
    return golden, model
