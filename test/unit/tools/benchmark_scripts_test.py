#!/usr/bin/env python3
"""The benchmark's arithmetic (benchmarks/gpu/floors.py, compare.py, png_plot.py)
against numbers derived by hand or published elsewhere: BLOOM's parameter
counts as the model cards state them, the issue's batch-1 floor (4.7 ms for
14.1 GB at 3.0 TB/s), prefill FLOPs written out term by term, and the
comparison table built from hand-written runs. Also the GPU flows' one
workload (benchmarks/gpu/workload.sh: plan limits by hand, every flow
sourcing it, device runs inside the plans) and the old-against-new
comparison (benchmarks/gpu/old_vs_new.sh) over stand-in binaries.

Usage: benchmark_scripts_test.py REPO_ROOT
"""
import json
import os
import re
import stat
import struct
import subprocess
import sys
import tempfile
import unittest
import zlib

ROOT = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../..")
GPU = os.path.join(ROOT, "benchmarks", "gpu")
sys.path.insert(0, GPU)
import floors  # noqa: E402
import png_plot  # noqa: E402

BLOOM_7B1 = {"vocab_size": 250880, "hidden_size": 4096, "n_head": 32, "n_layer": 30}
H100 = {"bandwidth_bytes_per_s": 3.0e12, "bf16_flops_per_s": 756e12}


class FloorsTest(unittest.TestCase):
    def test_parameter_counts_match_the_model_cards(self):
        self.assertEqual(floors.BloomShape(BLOOM_7B1).params, 7_069_016_064)
        bloom_560m = {"vocab_size": 250880, "n_embed": 1024, "num_attention_heads": 16,
                      "num_hidden_layers": 24}
        self.assertEqual(floors.BloomShape(bloom_560m).params, 559_214_592)
        untied = dict(BLOOM_7B1, tie_word_embeddings=False)
        self.assertEqual(floors.BloomShape(untied).params, 7_069_016_064 + 250880 * 4096)

    def test_batch_one_decode_floor_is_the_weights_over_bandwidth(self):
        shape = floors.BloomShape(BLOOM_7B1)
        floor = floors.decode_step_floor(shape, batch=1, context=82, ceilings=H100)
        kv = 2 * 30 * 82 * 4096 * 2
        self.assertEqual(floor["bytes"], 2 * 7_069_016_064 + kv)
        self.assertEqual(floor["bound"], "memory")
        self.assertAlmostEqual(floor["floor_ms"], (14_138_032_128 + kv) / 3.0e12 * 1e3)
        self.assertAlmostEqual(floor["floor_ms"], 4.73, places=2)  # the 4.7 ms

    def test_median_decode_step_context(self):
        shape = floors.BloomShape(BLOOM_7B1)
        # 100 new tokens: decode steps 1..99 attend 33..131 positions; median 82.
        median = floors.median_decode_floor(shape, 128, 32, 100, H100)
        self.assertEqual(median, floors.decode_step_floor(shape, 128, 82, H100))
        # Even count (steps 1..4: contexts 33..36): the mean of 34 and 35.
        even = floors.median_decode_floor(shape, 8, 32, 5, H100)
        low = floors.decode_step_floor(shape, 8, 34, H100)
        high = floors.decode_step_floor(shape, 8, 35, H100)
        self.assertAlmostEqual(even["floor_ms"], (low["floor_ms"] + high["floor_ms"]) / 2)

    def test_prefill_flops_term_by_term(self):
        shape = floors.BloomShape(BLOOM_7B1)
        t, h, layers, vocab = 2048, 4096, 30, 250880
        block_params = layers * (12 * h * h + 13 * h)
        flops = 2 * t * block_params + 2 * h * vocab + 2 * t * t * h * layers
        floor = floors.prefill_floor(shape, t, H100)
        self.assertEqual(floor["flops"], flops)
        self.assertEqual(floor["bound"], "compute")
        self.assertAlmostEqual(floor["floor_ms"], flops / 756e12 * 1e3)


class CompareTest(unittest.TestCase):
    def test_table_and_json_from_hand_written_runs(self):
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "config.json")
            with open(config, "w") as f:
                json.dump(BLOOM_7B1, f)
            ours = os.path.join(tmp, "ours.jsonl")
            with open(ours, "w") as f:
                f.write("loading weights...\n")  # non-JSON lines are skipped
                f.write(json.dumps({"backend": "cuda", "device": "GPU", "batch": 1,
                                    "prompt_len": 32, "new_tokens": 100,
                                    "decode_ms_per_step_median": 5.0,
                                    "decode_ms_per_step_mean": 5.0,
                                    "peak_device_bytes": 2**31}) + "\n")
                f.write(json.dumps({"backend": "bloom-run", "batch": 8, "prompt_len": 32,
                                    "error": "exit 1: boom"}) + "\n")
                f.write(json.dumps({"backend": "cuda", "batch": 1, "prompt_len": 512,
                                    "ttft_ms": 20.0}) + "\n")
            hf = os.path.join(tmp, "hf.jsonl")
            with open(hf, "w") as f:
                f.write(json.dumps({"kind": "decode", "batch": 1, "prompt_len": 32,
                                    "decode_ms_per_step_median": 27.5,
                                    "decode_ms_per_step_mean": 25.0}) + "\n")
                f.write(json.dumps({"kind": "ttft", "batch": 1, "prompt_len": 512,
                                    "ttft_ms": 70.0}) + "\n")
            ceilings = os.path.join(tmp, "ceilings.json")
            with open(ceilings, "w") as f:
                json.dump(dict(H100, kind="ceilings", gemm_n=8192), f)
            out = os.path.join(tmp, "out")
            subprocess.run([sys.executable, os.path.join(GPU, "compare.py"), "--ours", ours,
                            "--hf", hf, "--ceilings", ceilings, "--config", config,
                            "--batches", "1,8", "--ttft-prompts", "512", "--out-dir", out],
                           check=True, capture_output=True)
            with open(os.path.join(out, "results.json")) as f:
                results = json.load(f)
            one, eight = results["decode"]
            self.assertAlmostEqual(one["speedup"], 27.5 / 5.0)
            self.assertAlmostEqual(one["ours"]["tokens_per_s"], 1 * 1e3 / 5.0)
            self.assertAlmostEqual(one["hf"]["tokens_per_s"], 1 * 1e3 / 25.0)
            self.assertAlmostEqual(one["ours_over_floor"], 5.0 / one["floor"]["floor_ms"])
            self.assertTrue(one["target"]["met"])  # 5.0 ms against <= 5.5 ms
            self.assertEqual(eight["ours"], {"error": "exit 1: boom"})
            self.assertIsNone(eight["hf"])
            ttft = results["ttft"][0]
            self.assertAlmostEqual(ttft["speedup"], 70.0 / 20.0)
            self.assertFalse(ttft["target"]["met"])  # 20 ms against <= 15 ms
            with open(os.path.join(out, "results.md")) as f:
                table = f.read()
            self.assertIn("| 1 | 5.00 | 27.50 | 5.50× |", table)
            self.assertIn("- ours at 8: exit 1: boom", table)
            self.assertTrue(os.path.getsize(os.path.join(out, "decode.png")) > 0)


    def test_compiled_baseline_is_a_third_column(self):
        """hf_reference.py --compile's records (backend hf-transformers-compiled,
        in the same file as eager's) become their own column, speed-up and
        issue 15's 1.5x bound; eager's figures are unchanged by them."""
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "config.json")
            with open(config, "w") as f:
                json.dump(BLOOM_7B1, f)
            ours = os.path.join(tmp, "ours.jsonl")
            with open(ours, "w") as f:
                f.write(json.dumps({"backend": "cuda", "batch": 1, "prompt_len": 32,
                                    "new_tokens": 100, "decode_ms_per_step_median": 4.0,
                                    "decode_ms_per_step_mean": 4.0}) + "\n")
                f.write(json.dumps({"backend": "cuda", "batch": 8, "prompt_len": 32,
                                    "new_tokens": 100, "decode_ms_per_step_median": 5.0,
                                    "decode_ms_per_step_mean": 5.0}) + "\n")
                f.write(json.dumps({"backend": "cuda", "batch": 1, "prompt_len": 512,
                                    "ttft_ms": 12.0}) + "\n")
            hf = os.path.join(tmp, "hf.jsonl")
            with open(hf, "w") as f:
                f.write(json.dumps({"backend": "hf-transformers", "kind": "decode", "batch": 1,
                                    "prompt_len": 32, "decode_ms_per_step_median": 30.0,
                                    "decode_ms_per_step_mean": 30.0}) + "\n")
                f.write(json.dumps({"backend": "hf-transformers-compiled", "kind": "decode",
                                    "batch": 1, "prompt_len": 32, "compile_ms": 61000.0,
                                    "decode_ms_per_step_median": 7.0,
                                    "decode_ms_per_step_mean": 7.2}) + "\n")
                f.write(json.dumps({"backend": "hf-transformers-compiled", "kind": "decode",
                                    "batch": 8, "prompt_len": 32,
                                    "error": "RuntimeError: out of memory"}) + "\n")
                f.write(json.dumps({"backend": "hf-transformers-compiled", "kind": "ttft",
                                    "batch": 1, "prompt_len": 512, "ttft_ms": 15.0}) + "\n")
            out = os.path.join(tmp, "out")
            subprocess.run([sys.executable, os.path.join(GPU, "compare.py"), "--ours", ours,
                            "--hf", hf, "--config", config, "--batches", "1,8",
                            "--ttft-prompts", "512", "--out-dir", out],
                           check=True, capture_output=True)
            with open(os.path.join(out, "results.json")) as f:
                results = json.load(f)
            self.assertTrue(results["has_compiled"])
            one, eight = results["decode"]
            self.assertAlmostEqual(one["speedup"], 30.0 / 4.0)  # eager's, as before
            self.assertAlmostEqual(one["speedup_vs_compiled"], 7.0 / 4.0)
            self.assertTrue(one["compiled_target"]["met"])  # 1.75x against >= 1.5x
            self.assertEqual(one["hf_compiled"]["compile_ms"], 61000.0)
            self.assertEqual(eight["hf_compiled"], {"error": "RuntimeError: out of memory"})
            self.assertIsNone(eight["speedup_vs_compiled"])
            ttft = results["ttft"][0]
            self.assertAlmostEqual(ttft["speedup_vs_compiled"], 15.0 / 12.0)
            self.assertFalse(ttft["compiled_target"]["met"])  # 1.25x against >= 1.5x
            self.assertIsNone(ttft["hf_ms"])
            with open(os.path.join(out, "results.md")) as f:
                table = f.read()
            self.assertIn("| 1 | 4.00 | 30.00 | 7.50× | 7.00 | 1.75× |", table)
            self.assertIn("vs compiled >= 1.5×: met", table)
            self.assertIn("| 512 | 12.00 | — | — | 15.00 | 1.25× |", table)
            self.assertIn("vs compiled >= 1.5×: MISSED", table)
            self.assertIn("batch 1: 61.0 s", table)
            self.assertIn("- hf_compiled at 8: RuntimeError: out of memory", table)


class PngTest(unittest.TestCase):
    def test_png_decodes_to_the_drawn_pixels(self):
        canvas = png_plot.Canvas(4, 3)
        canvas.set(1, 2, (10, 20, 30))
        data = canvas.png()
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        width, height = struct.unpack(">II", data[16:24])
        self.assertEqual((width, height), (4, 3))
        idat_length = struct.unpack(">I", data[33:37])[0]
        self.assertEqual(data[37:41], b"IDAT")
        raw = zlib.decompress(data[41:41 + idat_length])
        row = 2 * (1 + 4 * 3)  # filter byte + 4 RGB pixels per row
        self.assertEqual(raw[row], 0)  # filter type none
        self.assertEqual(raw[row + 1 + 3:row + 1 + 6], bytes([10, 20, 30]))
        self.assertEqual(raw[1:4], b"\xff\xff\xff")


def workload(expression):
    """What bash prints for `expression` after sourcing workload.sh."""
    return subprocess.run(["bash", "-c", f"source benchmarks/gpu/workload.sh && {expression}"],
                          cwd=ROOT, check=True, capture_output=True, text=True).stdout.strip()


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


FLOWS = ["scripts/gpu/cuda_backend.sh", "benchmarks/gpu/prepare.sh", "scripts/gpu/multi_gpu.sh",
         "scripts/gpu/prepare_old_vs_new.sh", "benchmarks/gpu/old_vs_new.sh"]


class WorkloadTest(unittest.TestCase):
    def test_7b1_plan_limits_by_hand(self):
        # 128 sequences of 32 + 100 = 132 positions, rounded up to 192 (a
        # multiple of 64); the 128 prompts of 32 in one step: 4096 tokens.
        self.assertEqual(workload('echo "$WORKLOAD_DECODE_FLAGS"'),
                         "--max-sequences=128 --max-seq-len=192 --max-batch-tokens=4096")
        # One sequence of 2048 + 1 positions, rounded up to 2112.
        self.assertEqual(workload('echo "$WORKLOAD_PREFILL_FLAGS"'),
                         "--max-sequences=1 --max-seq-len=2112 --max-batch-tokens=2048")

    def test_dry_run_limits_by_hand(self):
        # prepare.sh --dry-run: batches 1,2,4 of 8 + 6 tokens; prompts 32, 64.
        self.assertEqual(workload("workload_decode_flags 1,4,2 8 6"),
                         "--max-sequences=4 --max-seq-len=64 --max-batch-tokens=32")
        self.assertEqual(workload("workload_prefill_flags 64,32"),
                         "--max-sequences=1 --max-seq-len=128 --max-batch-tokens=64")
        self.assertEqual(workload("workload_round_up 64; workload_round_up 65"), "64\n128")

    def test_every_flow_sources_the_one_workload_and_build_step(self):
        for flow in FLOWS:
            self.assertRegex(read(flow), r"(?m)^\s*source benchmarks/gpu/workload\.sh$", flow)
        # multi_gpu.sh builds through cuda_backend.sh prepare.
        for flow in FLOWS[:4]:
            text = read(flow)
            self.assertTrue("bash scripts/gpu/carry_build.sh" in text or
                            "bash scripts/gpu/cuda_backend.sh prepare" in text, flow)
        # Static Abseil is configured in one place, and no flow asks the
        # compiler built from this tree which flags it has.
        scripts = [os.path.join(d, f) for d in ("scripts/gpu", "benchmarks/gpu")
                   for f in os.listdir(os.path.join(ROOT, d)) if f.endswith(".sh")]
        for script in scripts:
            if not script.endswith("carry_build.sh"):
                self.assertFalse("-Dabsl_DIR" in read(script), script)
            self.assertFalse("--help" in read(script), script)
        # 7b1 decode and prefill plans come from the workload's helpers only.
        for flow in FLOWS[:4]:
            for line in read(flow).splitlines():
                if "--max-sequences=128" in line or "--max-seq-len=192" in line:
                    self.fail(f"{flow}: plan limits written out again: {line.strip()}")

    def test_device_runs_fit_the_decode_plan(self):
        max_seq_len = int(re.search(r"--max-seq-len=(\d+)",
                                    workload('echo "$WORKLOAD_DECODE_FLAGS"')).group(1))
        max_batch = int(workload('workload_max "$WORKLOAD_BATCHES"'))
        for flow in ("scripts/gpu/cuda_backend.sh", "scripts/gpu/multi_gpu.sh"):
            text = read(flow)
            runs = re.findall(r"--prompt=(\d+) --new-tokens=(\d+)", text)
            self.assertTrue(runs, flow)
            for prompt, new in runs:
                self.assertLessEqual(int(prompt) + int(new), max_seq_len, flow)
            for batches in re.findall(r"--batches=\"?\$\{BATCHES:-([0-9,]+)\}", text):
                self.assertLessEqual(max(map(int, batches.split(","))), max_batch, flow)


# Stand-ins for the carried binaries: each prints what the real one prints
# on stdout (a JSON line per figure), at a decode step time of MS ms.
FAKE_BENCH = """#!/bin/bash
echo "loading" >&2
echo '{"kind": "decode", "batch": 1, "ms_per_step_median": MS, "first_sequence_tokens": [5, 6]}'
echo '{"kind": "memory", "device": "fake"}'
"""
FAKE_RUN = """#!/bin/bash
echo '{"backend": "cuda", "decode_ms_per_step_median": MS}'
"""
FAKE_WRITER = """#!/bin/bash
while [[ $# -gt 0 ]]; do [[ $1 == -o ]] && mkdir -p "$2"; shift; done
"""


class OldVsNewTest(unittest.TestCase):
    def compare(self, tmp, old_ms, new_ms):
        carry = os.path.join(tmp, "carry")
        binaries = {"bin-old": old_ms, "bin": new_ms}
        for directory, ms in binaries.items():
            os.makedirs(os.path.join(carry, directory))
            tools = {"bloom-cuda-bench": FAKE_BENCH, "bloom-run": FAKE_RUN}
            if directory == "bin":
                tools["make-synthetic-checkpoint"] = FAKE_WRITER
            for name, text in tools.items():
                path = os.path.join(carry, directory, name)
                with open(path, "w") as f:
                    f.write(text.replace("MS", ms))
                os.chmod(path, os.stat(path).st_mode | stat.S_IEXEC)
        os.makedirs(os.path.join(carry, "plans", "7b1-decode"))
        with open(os.path.join(carry, "bloom-7b1.json"), "w") as f:
            json.dump(BLOOM_7B1, f)
        out = os.path.join(tmp, "out")
        env = dict(os.environ, CARRY=carry, OUT=out, CKPT=os.path.join(tmp, "weights"))
        subprocess.run(["bash", os.path.join(GPU, "old_vs_new.sh")], env=env, check=True,
                       capture_output=True)
        with open(os.path.join(out, "old_vs_new.json")) as f:
            summary = json.load(f)
        with open(os.path.join(out, "runs.jsonl")) as f:
            runs = [json.loads(line) for line in f]
        return summary, runs

    def test_medians_ratios_and_interleaving(self):
        with tempfile.TemporaryDirectory() as tmp:
            summary, runs = self.compare(tmp, "10.0", "10.25")
        decode = {(e["tool"], e["batch"]): e for e in summary["decode"]}
        self.assertEqual(sorted(decode), [("bloom-cuda-bench", 1), ("bloom-cuda-bench", 128),
                                          ("bloom-run --bench", 1), ("bloom-run --bench", 128)])
        for entry in decode.values():
            self.assertEqual(entry["old"]["runs_ms"], [10.0] * 3)
            self.assertEqual(entry["new"]["ms_per_step_median"], 10.25)
            self.assertEqual(entry["new_over_old"], 1.025)
            self.assertTrue(entry["within_3_percent"])
        self.assertTrue(decode[("bloom-cuda-bench", 1)]["same_first_sequence_tokens"])
        self.assertTrue(summary["all_within_3_percent"])
        # Old first in even rounds, new first in odd ones.
        first = [(r["binary"], r["round"]) for r in runs if (r["tool"], r["batch"]) == ("bench", 1)]
        self.assertEqual(first, [("old", 0), ("new", 0), ("new", 1), ("old", 1), ("old", 2),
                                 ("new", 2)])

    def test_a_slower_new_binary_is_outside_three_percent(self):
        with tempfile.TemporaryDirectory() as tmp:
            summary, _ = self.compare(tmp, "10.0", "10.5")
        self.assertEqual({e["new_over_old"] for e in summary["decode"]}, {1.05})
        self.assertFalse(summary["all_within_3_percent"])


def write_npy(path, rows):
    """A C-order float32 .npy of `rows` (lists of equal length), version 1.0."""
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d), }" % (
        len(rows), len(rows[0]))
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode())
        for row in rows:
            f.write(struct.pack("<%df" % len(row), *row))


class PromptRowsTest(unittest.TestCase):
    """Issue 15's top-1 agreement (prompt_rows.py): bloom-run's argmax read
    from a hand-written --dump-logits file, and the agreement compare.py
    reports from hand-written records of both sides."""

    def test_prompt_is_reproducible_and_avoids_special_tokens(self):
        import prompt_rows
        ids = prompt_rows.make_prompt(10, 200, seed=3)
        self.assertEqual(ids, prompt_rows.make_prompt(10, 200, seed=3))
        self.assertNotEqual(ids, prompt_rows.make_prompt(10, 200, seed=4))
        self.assertEqual(set(ids), set(range(4, 10)))

    def test_argmax_of_each_prompt_row(self):
        nan = float("nan")
        with tempfile.TemporaryDirectory() as tmp:
            npy, prompt, out = (os.path.join(tmp, n) for n in ("l.npy", "p.txt", "o.jsonl"))
            write_npy(npy, [[1.0, 3.0, 3.0, 0.0, 2.0],    # a tie: the first index, as torch
                            [0.0, nan, 1.0, 0.0, 0.0],    # NaN: no choice
                            [-1.0, -2.0, -0.5, -3.0, -4.0],
                            [9.0, 0.0, 0.0, 0.0, 0.0]])   # the decode step's row: not a prompt row
            with open(prompt, "w") as f:
                f.write("7,8,9\n")
            subprocess.run([sys.executable, os.path.join(GPU, "prompt_rows.py"), "argmax",
                            "--npy", npy, "--prompt", prompt, "--out", out],
                           check=True, capture_output=True)
            with open(out) as f:
                record = json.loads(f.read())
            self.assertEqual(record["argmax"], [1, None, 2])
            self.assertEqual(record["max_logit"], [3.0, None, -0.5])
            self.assertEqual((record["prompt_len"], record["vocab"], record["nonfinite_rows"]),
                             (3, 5, 1))
            self.assertEqual(record["echo_rows"], 0)  # prompt 7, 8, 9 against choices 1, -, 2
            # A dump shorter than the prompt is an error naming the file.
            with open(prompt, "w") as f:
                f.write("1,2,3,4,5\n")
            run = subprocess.run([sys.executable, os.path.join(GPU, "prompt_rows.py"), "argmax",
                                  "--npy", npy, "--prompt", prompt, "--out", out],
                                 capture_output=True, text=True)
            self.assertEqual(run.returncode, 1)
            self.assertIn("4 logit rows for a prompt of 5 tokens", run.stderr)

    @staticmethod
    def records(ours_argmax, hf_argmax):
        # transformers' five best: its choice, then ours where it differs.
        top_ids = [[h, o if o != h else h + 1, 90, 91, 92] for o, h in zip(ours_argmax, hf_argmax)]
        top_logits = [[5.0, 4.75, 1.0, 0.5, 0.25] for _ in hf_argmax]
        # Our logit of our choice: 0.125 above transformers' in every row.
        ours = {"backend": "bloom-run", "kind": "prompt_rows", "prompt_len": len(ours_argmax),
                "argmax": ours_argmax, "max_logit": [5.125] * len(ours_argmax),
                "nonfinite_rows": 0, "echo_rows": 3}
        hf = {"backend": "hf-transformers", "kind": "prompt_rows", "batch": 1,
              "prompt_len": len(hf_argmax), "argmax": hf_argmax, "top5_ids": top_ids,
              "top5_logits": top_logits, "logits_dtype": "torch.bfloat16"}
        return ours, hf

    @staticmethod
    def compare(ours_records, hf_records, batches):
        """compare.py over the records (7b1's config, no prefills): its
        results.json and results.md."""
        with tempfile.TemporaryDirectory() as tmp:
            config = os.path.join(tmp, "config.json")
            with open(config, "w") as f:
                json.dump(BLOOM_7B1, f)
            paths = {}
            for name, records in (("ours", ours_records), ("hf", hf_records)):
                paths[name] = os.path.join(tmp, name + ".jsonl")
                with open(paths[name], "w") as f:
                    for r in records:
                        f.write(json.dumps(r) + "\n")
            out = os.path.join(tmp, "out")
            subprocess.run([sys.executable, os.path.join(GPU, "compare.py"), "--ours",
                            paths["ours"], "--hf", paths["hf"], "--config", config, "--batches",
                            batches, "--ttft-prompts", "", "--out-dir", out],
                           check=True, capture_output=True)
            with open(os.path.join(out, "results.json")) as f:
                results = json.load(f)
            with open(os.path.join(out, "results.md")) as f:
                return results, f.read()

    def test_agreement_and_its_bound_in_the_results(self):
        hf_argmax = [10 + i for i in range(100)]
        ours_argmax = list(hf_argmax)
        ours_argmax[7] = 99  # one row of 100 differs: 99%, the bound itself
        ours, hf = self.records(ours_argmax, hf_argmax)
        decode = {"backend": "cuda", "batch": 1, "prompt_len": 32,
                  "decode_ms_per_step_median": 4.0, "decode_ms_per_step_mean": 4.0}
        results, table = self.compare([ours, decode], [hf, decode], "1")
        agreement = results["prompt_rows"]
        self.assertEqual((agreement["rows"], agreement["matching"]), (100, 99))
        self.assertAlmostEqual(agreement["agreement"], 0.99)
        self.assertTrue(agreement["met"])
        self.assertEqual(agreement["ours_in_hf_top5"], 100)
        self.assertEqual(agreement["disagreeing"], [{"row": 7, "ours": 99, "hf": 17,
                                                     "hf_rank_of_ours": 1, "hf_gap": 0.25}])
        # The decode figures are untouched by the prompt-row records.
        self.assertAlmostEqual(results["decode"][0]["ours"]["ms_median"], 4.0)
        self.assertEqual(agreement["top_logit_abs_diff_max"], 0.125)
        self.assertEqual(agreement["top_logit_abs_diff_mean"], 0.125)
        self.assertEqual(agreement["ours_echo_rows"], 3)
        self.assertIn("- 99 of 100 rows agree: 99.00% (>= 99%: met)", table)
        self.assertIn("max 0.125, mean 0.125.", table)
        self.assertIn("their own input token (random weights", table)
        self.assertIn("row 7: ours 99, transformers 17 (ours is its #2, 0.25 below its best)", table)

    def test_agreement_against_the_fp32_forward(self):
        import prompt_rows
        exact = list(range(10, 20))
        hf_argmax = list(exact)
        hf_argmax[2] = hf_argmax[5] = hf_argmax[8] = 99  # bf16 transformers: 7 of 10 exact
        ours_argmax = list(exact)
        ours_argmax[5] = 98  # ours: 8 of 10 exact, 8 of 10 equal to transformers' bf16
        ours_argmax[2] = 99
        ours, hf = self.records(ours_argmax, hf_argmax)
        fp32 = {"backend": prompt_rows.FP32_BACKEND, "kind": "prompt_rows", "argmax": exact}
        result = prompt_rows.agreement([ours], [hf, fp32])
        self.assertEqual(result["matching"], 8)
        self.assertEqual(result["fp32"], {"rows": 10, "ours_matching": 8, "hf_bf16_matching": 7,
                                          "ours_agreement": 0.8, "hf_bf16_agreement": 0.7})
        self.assertIn("bloom-run's choice equals its argmax in 8 of 10 rows (80.00%), "
                      "transformers' bf16 in 7 (70.00%)", "\n".join(prompt_rows.markdown(result)))
        # The fp32 record is not transformers' bf16 one: without it, no fp32 line.
        result = prompt_rows.agreement([ours], [hf])
        self.assertIsNone(result["fp32"])
        fp32["error"] = "OutOfMemoryError: boom"
        self.assertIsNone(prompt_rows.agreement([ours], [hf, fp32])["fp32"])

    def test_the_agreement_alone_needs_no_decode_batch(self):
        # run_benchmark.sh with BATCHES empty: the prompt rows, no plot.
        ours, hf = self.records([1, 2, 3], [1, 2, 4])
        results, _ = self.compare([ours], [hf], "")
        self.assertIsNone(results["plot"])
        self.assertEqual(results["prompt_rows"]["matching"], 2)

    def test_below_the_bound_ties_and_missing_sides(self):
        import prompt_rows
        hf_argmax = list(range(10, 60))
        ours_argmax = list(hf_argmax)
        ours_argmax[0] = 200  # not among transformers' five best below
        ours_argmax[1] = 300
        ours, hf = self.records(ours_argmax, hf_argmax)
        hf["top5_ids"][0] = [10, 11, 90, 91, 92]
        hf["top5_logits"][3] = [5.0, 5.0, 1.0, 0.5, 0.25]  # a bf16 tie at the top
        result = prompt_rows.agreement([ours], [hf])
        self.assertEqual((result["matching"], result["rows"]), (48, 50))
        self.assertFalse(result["met"])  # 96% < 99%
        self.assertEqual(result["ours_in_hf_top5"], 49)
        self.assertEqual(result["hf_tied_top_rows"], 1)
        self.assertIsNone(result["disagreeing"][0]["hf_rank_of_ours"])
        self.assertIn("MISSED", "\n".join(prompt_rows.markdown(result)))
        failed = {"backend": "bloom-run", "kind": "prompt_rows", "error": "exit 1: boom"}
        result = prompt_rows.agreement([failed], [hf])
        self.assertIsNone(result["agreement"])
        self.assertFalse(result["met"])
        self.assertIn("- not measured (ours: exit 1: boom)", prompt_rows.markdown(result))
        result = prompt_rows.agreement([ours], [])
        self.assertEqual(result["hf_error"], "no record")
        self.assertIsNone(prompt_rows.agreement([], []))


if __name__ == "__main__":
    unittest.main()
