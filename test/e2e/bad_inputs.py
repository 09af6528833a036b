#!/usr/bin/env python3
"""Bad input at the command line: every case must end with a non-zero exit
(not a signal, not a hang) and exactly one line on stderr that names the
file or flag and the problem.

Each case corrupts a copy of a golden checkpoint (or a compiled plan) in a
temporary directory, runs bloom-compile or bloom-run on it, and checks the
outcome. Standard library only.
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

TIMEOUT_S = 60
failures = []


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def write_safetensors(path, header, body):
    text = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + body)


def tensors_of(header):
    return sorted(k for k in header if k != "__metadata__")


def expect_failure(name, cmd, *needles):
    """Runs cmd; records a failure unless it exits 1..127 with one stderr line holding every needle."""
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        failures.append(f"{name}: hung for {TIMEOUT_S}s")
        return
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    problems = []
    if proc.returncode <= 0 or proc.returncode >= 128:
        problems.append(f"exit code {proc.returncode}")
    if len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines")
    for needle in needles:
        if needle not in proc.stderr:
            problems.append(f"stderr lacks {needle!r}")
    status = "ok" if not problems else "FAILED: " + ", ".join(problems)
    print(f"[{status}] {name}: exit {proc.returncode}: {proc.stderr.strip()[:300]}")
    if problems:
        failures.append(name)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--model", required=True, help="a sharded golden checkpoint")
    parser.add_argument("--single", required=True, help="a single-file golden checkpoint")
    args = parser.parse_args()
    compile_ = os.path.join(args.bin, "bloom-compile")
    run = os.path.join(args.bin, "bloom-run")

    with tempfile.TemporaryDirectory(prefix="bloom-bad-") as tmp:
        def copy_of(src, name):
            dst = os.path.join(tmp, name)
            shutil.copytree(src, dst)
            return dst

        def compile_case(name, model, *needles, extra=()):
            expect_failure(name, [compile_, f"--model={model}", "-o", os.path.join(tmp, name + ".plan"),
                                  *extra], *needles)

        # --- Files that are missing or cut short.
        compile_case("missing model directory", os.path.join(tmp, "nope"), "nope")
        m = copy_of(args.single, "truncated")
        st = os.path.join(m, "model.safetensors")
        with open(st, "r+b") as f:
            f.truncate(os.path.getsize(st) // 2)
        compile_case("truncated safetensors", m, "model.safetensors")
        m = copy_of(args.single, "tiny-file")
        with open(os.path.join(m, "model.safetensors"), "wb") as f:
            f.write(b"\x01\x02")
        compile_case("safetensors shorter than its length field", m, "model.safetensors")

        # --- Safetensors headers that lie.
        m = copy_of(args.single, "header-past-eof")
        st = os.path.join(m, "model.safetensors")
        with open(st, "r+b") as f:
            f.write(struct.pack("<Q", 1 << 40))
        compile_case("header length past end of file", m, "model.safetensors")

        def corrupt(name, mutate, *needles):
            m = copy_of(args.single, name)
            st = os.path.join(m, "model.safetensors")
            header, body = read_safetensors(st)
            victim = mutate(header)
            write_safetensors(st, header, body)
            compile_case(name, m, "model.safetensors", *([victim] if victim else []), *needles)

        def offsets_outside(h):
            t = tensors_of(h)[-1]
            h[t]["data_offsets"][1] += 1 << 20
            return t
        corrupt("offsets outside the data", offsets_outside)

        def wrong_shape(h):
            t = tensors_of(h)[0]
            h[t]["shape"] = [d * 2 for d in h[t]["shape"]]
            return t
        corrupt("shape x dtype != byte range", wrong_shape)

        def overlap(h):
            a, b = tensors_of(h)[:2]
            if h[a]["shape"] == h[b]["shape"]:
                h[b]["data_offsets"] = list(h[a]["data_offsets"])
            else:  # make b start inside a, keeping its own size
                size = h[b]["data_offsets"][1] - h[b]["data_offsets"][0]
                start = h[a]["data_offsets"][0]
                h[b]["data_offsets"] = [start, start + size]
            return None
        corrupt("overlapping ranges", overlap, "overlap")

        def unknown_dtype(h):
            t = tensors_of(h)[0]
            h[t]["dtype"] = "Q7"
            return t
        corrupt("unknown dtype", unknown_dtype, "Q7")

        m = copy_of(args.single, "malformed-json")
        st = os.path.join(m, "model.safetensors")
        header, body = read_safetensors(st)
        text = b'{"a": [1, 2'
        with open(st, "wb") as f:
            f.write(struct.pack("<Q", len(text)) + text + body)
        compile_case("malformed header JSON", m, "model.safetensors")

        # --- Config and checkpoint contents.
        m = copy_of(args.single, "config-missing-key")
        cfg_path = os.path.join(m, "config.json")
        with open(cfg_path) as f:
            cfg = json.load(f)
        for key in ("n_layer", "num_hidden_layers"):
            cfg.pop(key, None)
        with open(cfg_path, "w") as f:
            json.dump(cfg, f)
        compile_case("config missing a key", m, "config.json", "n_layer")

        m = copy_of(args.single, "config-malformed")
        with open(os.path.join(m, "config.json"), "w") as f:
            f.write("{ not json")
        compile_case("config not JSON", m, "config.json")

        def rename_first_layernorm(h):
            t = next(k for k in tensors_of(h) if k.endswith("h.0.input_layernorm.weight"))
            h[t.replace("input_layernorm", "input_layer_norm")] = h.pop(t)
            return "h.0.input_layernorm.weight"
        m = copy_of(args.single, "tensor-missing")
        st = os.path.join(m, "model.safetensors")
        header, body = read_safetensors(st)
        rename_first_layernorm(header)
        write_safetensors(st, header, body)
        compile_case("tensor missing from the checkpoint", m, "tensor-missing",
                     "h.0.input_layernorm.weight", "not found")

        m = copy_of(args.model, "index-missing-shard")
        index_path = os.path.join(m, "model.safetensors.index.json")
        with open(index_path) as f:
            index = json.load(f)
        victim = sorted(set(index["weight_map"].values()))[-1]
        os.remove(os.path.join(m, victim))
        compile_case("shard listed in the index is missing", m, victim)

        # --- Flags.
        expect_failure("bloom-compile unknown flag", [compile_, "--frobnicate"], "frobnicate")
        expect_failure("bloom-run unknown flag", [run, tmp, "--frobnicate"], "frobnicate")

        # --- Plans and prompts: compile a good plan first.
        plan = os.path.join(tmp, "good.plan")
        proc = subprocess.run([compile_, f"--model={args.single}", "-o", plan, "--max-seq-len=32"],
                              capture_output=True, text=True, timeout=TIMEOUT_S)
        if proc.returncode != 0:
            failures.append("could not compile the good plan: " + proc.stderr.strip())
        else:
            with open(os.path.join(args.single, "config.json")) as f:
                vocab = json.load(f)["vocab_size"]
            expect_failure("token id >= vocab", [run, plan, f"--tokens=1,{vocab},2", "--max-new-tokens=2"],
                           "--tokens", str(vocab))
            expect_failure("token id not a number", [run, plan, "--tokens=1,x", "--max-new-tokens=2"],
                           "--tokens")
            expect_failure("prompt longer than max-seq-len",
                           [run, plan, "--tokens=" + ",".join(["5"] * 40), "--max-new-tokens=2"],
                           "max_seq_len")
            expect_failure("plan directory without a plan", [run, tmp, "--tokens=1"], "plan.bplan")
            bad = os.path.join(tmp, "garbage.plan")
            os.mkdir(bad)
            with open(os.path.join(bad, "plan.bplan"), "wb") as f:
                f.write(os.urandom(4096))
            expect_failure("plan file of random bytes", [run, bad, "--tokens=1"], "plan.bplan")
            cut = os.path.join(tmp, "cut.plan")
            shutil.copytree(plan, cut)
            cut_file = os.path.join(cut, "plan.bplan")
            with open(cut_file, "r+b") as f:
                f.truncate(os.path.getsize(cut_file) // 2)
            expect_failure("truncated plan file", [run, cut, "--tokens=1"], "plan.bplan")

    if failures:
        sys.exit(f"{len(failures)} bad-input case(s) failed: {failures}")
    print("all bad-input cases ended cleanly")


if __name__ == "__main__":
    main()
