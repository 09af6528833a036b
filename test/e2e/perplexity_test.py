#!/usr/bin/env python3
"""bloom-run --perplexity and --kl-divergence on the embedded tiny-random
model, against references from outside the code under test:

  * transformers: the golden case tiny-random-text holds HF's float32
    logits of its prompt (prompt_text, which tokenizes to prompt_tokens).
    A window starting at token 0 is a prefix of that forward, so the NLL of
    every scored token is computed here, from HF's logits, in pure Python.
  * bloom-run --dump-logits (another code path: one --tokens request per
    window, its rows scored here) for windows that start later in the text,
    halves and strides, on a plan whose max_sequences forces several batches.
  * hand-derived window and scored-token counts for the 20-token text.
  * KL: a run against its own base is 0 with 100% top-1 agreement; a bf16
    plan against the fp32 base is > 0 and small; a tp=2 plan matches tp=1.
  * every bad flag, text and base file ends in one stderr line (bad_inputs'
    expect_failure) with exit code 2.
Standard library only.
"""
import argparse
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import bad_inputs
from e2e_util import load_golden, run
from precision_parity import read_npy

failures = []


def check(name, ok, detail=""):
    print(f"[{'ok' if ok else 'FAILED'}] {name}{': ' + detail if detail else ''}")
    if not ok:
        failures.append(name)


def nll(row, target):
    """-log_softmax(row)[target] in double."""
    m = max(row)
    return m + math.log(sum(math.exp(x - m) for x in row)) - row[target]


def windows(num_tokens, ctx, stride):
    """llama.cpp's windows (docs/cli.md): (start, first scored position)."""
    if stride:
        return [(s, ctx - 1 - stride) for s in range(0, num_tokens - ctx + 1, stride)]
    return [(k * ctx, ctx // 2) for k in range(num_tokens // ctx)]


def summary(nlls):
    n = len(nlls)
    mean = sum(nlls) / n
    mean_sq = sum(x * x for x in nlls) / n
    ppl = math.exp(mean)
    return {"ppl": ppl, "nll_mean": mean, "scored": n,
            "ppl_stderr": ppl * math.sqrt(max(mean_sq - mean * mean, 0) / (n - 1))}


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--repo", required=True)
    args = parser.parse_args()
    compile_ = os.path.join(args.bin, "bloom-compile")
    bloom_run = os.path.join(args.bin, "bloom-run")
    case = os.path.join(args.repo, "test/golden/cases/tiny-random-text")
    golden, model = load_golden(case, args.repo)
    tokens = golden["prompt_tokens"]
    vocab = golden["logits_shape"][1]
    _, flat = read_npy(os.path.join(case, golden["logits_file"]))
    hf_rows = [flat[i * vocab:(i + 1) * vocab] for i in range(golden["logits_shape"][0])]

    with tempfile.TemporaryDirectory(prefix="bloom-ppl-") as tmp:
        plans = {}
        for name, extra in (("fp32", []), ("bf16", ["--dtype=bf16"]), ("tp2", ["--tp=2"])):
            plans[name] = os.path.join(tmp, name)
            # max_sequences 3: more windows than that run in several batches.
            run([compile_, f"--model={model}", "-o", plans[name], "--max-seq-len=24",
                 "--max-sequences=3", *extra])
        text = os.path.join(tmp, "fox.txt")
        with open(text, "w", encoding="utf-8") as f:
            f.write(golden["prompt_text"])

        def perplexity(plan, *flags):
            return json.loads(run([bloom_run, plan, f"--perplexity={text}", *flags]))

        # --- Against transformers: windows that start at token 0.
        for ctx, stride in ((20, 0), (20, 19), (20, 5), (16, 0)):
            first = ctx - 1 - stride if stride else ctx // 2
            ref = summary([nll(hf_rows[i], tokens[i + 1]) for i in range(first, ctx - 1)])
            got = perplexity(plans["fp32"], f"--ctx={ctx}", *([f"--stride={stride}"] if stride else []))
            if ctx == 16:  # one window, the 4-token tail dropped
                check("--ctx=16 halves: one window, 7 scored", (got["windows"], got["scored"]) == (1, 7), str(got))
            rel = abs(got["ppl"] - ref["ppl"]) / ref["ppl"]
            check(f"--ctx={ctx} --stride={stride}: PPL {got['ppl']:.4f} vs transformers' {ref['ppl']:.4f}",
                  got["tokens"] == len(tokens) and got["scored"] == ref["scored"] and rel < 1e-4
                  and abs(got["ppl_stderr"] - ref["ppl_stderr"]) <= 1e-3 * ref["ppl_stderr"],
                  f"relative difference {rel:.2e}, stderr {got['ppl_stderr']:.4f} vs {ref['ppl_stderr']:.4f}")

        # --- Window and scored-token counts for 20 tokens, derived by hand.
        for ctx, stride, n_windows, scored in ((20, 0, 1, 9), (6, 0, 3, 6), (7, 0, 2, 6), (4, 0, 5, 5),
                                               (8, 3, 5, 15), (20, 19, 1, 19), (2, 1, 19, 19)):
            got = perplexity(plans["fp32"], f"--ctx={ctx}", *([f"--stride={stride}"] if stride else []))
            check(f"--ctx={ctx} --stride={stride}: {n_windows} windows, {scored} scored",
                  (got["windows"], got["scored"], got["ctx"], got["stride"]) == (n_windows, scored, ctx, stride),
                  str({k: got[k] for k in ("windows", "scored", "ctx", "stride")}))
        # --chunks=N: the first N windows (as llama-perplexity's --chunks); more than there are: all.
        for ctx, stride, chunks, n_windows, scored in ((4, 0, 2, 2, 2), (8, 3, 4, 4, 12), (20, 0, 3, 1, 9),
                                                       (4, 0, 0, 5, 5)):
            got = perplexity(plans["fp32"], f"--ctx={ctx}", f"--chunks={chunks}",
                             *([f"--stride={stride}"] if stride else []))
            check(f"--ctx={ctx} --stride={stride} --chunks={chunks}: {n_windows} windows, {scored} scored",
                  (got["windows"], got["scored"]) == (n_windows, scored), str(got))

        # --- Against --dump-logits for windows anywhere in the text.
        for ctx, stride in ((6, 0), (8, 3), (4, 0)):
            nlls = []
            for start, first in windows(len(tokens), ctx, stride):
                dump = os.path.join(tmp, "rows.npy")
                run([bloom_run, plans["fp32"], "--tokens=" + ",".join(map(str, tokens[start:start + ctx - 1])),
                     "--max-new-tokens=1", f"--dump-logits={dump}"])
                _, rows = read_npy(dump)
                nlls += [nll(rows[i * vocab:(i + 1) * vocab], tokens[start + i + 1]) for i in range(first, ctx - 1)]
            ref = summary(nlls)
            got = perplexity(plans["fp32"], f"--ctx={ctx}", *([f"--stride={stride}"] if stride else []))
            check(f"--ctx={ctx} --stride={stride}: NLL {got['nll_mean']:.6f} vs --dump-logits' {ref['nll_mean']:.6f}",
                  got["scored"] == ref["scored"] and abs(got["nll_mean"] - ref["nll_mean"]) < 1e-5)

        # --- KL divergence and other plans.
        base = os.path.join(tmp, "fp32.kld")
        fp32 = perplexity(plans["fp32"], "--ctx=8", "--stride=3", f"--kl-divergence-base={base}")
        record = 16 + 8 * 32
        check("the base file holds a header and one record per scored token",
              os.path.getsize(base) == 64 + fp32["scored"] * record and fp32["kl_top_k"] == 32,
              f"{os.path.getsize(base)} bytes")
        same = perplexity(plans["fp32"], "--ctx=8", "--stride=3", f"--kl-divergence={base}")
        check("a run against its own base: KL 0, 100% same top 1, delta PPL 0",
              same["kl_mean"] == 0 and same["kl_max"] == 0 and same["same_top1_pct"] == 100
              and same["delta_ppl"] == 0 and same["base_ppl"] == fp32["ppl"], str(same))
        tp2 = perplexity(plans["tp2"], "--ctx=8", "--stride=3", f"--kl-divergence={base}")
        check(f"tp=2 against the tp=1 base: PPL {tp2['ppl']:.4f}, KL max {tp2['kl_max']:.2e}",
              tp2["tp"] == 2 and abs(tp2["ppl"] - fp32["ppl"]) < 1e-5 * fp32["ppl"]
              and tp2["kl_max"] < 1e-6 and tp2["same_top1_pct"] == 100)
        bf16 = perplexity(plans["bf16"], "--ctx=8", "--stride=3", f"--kl-divergence={base}")
        # bf16 keeps 8 bits of mantissa: relative rounding 2^-9 on weights and
        # activations moves logits by ~1e-2 here (precision_parity.py's bf16
        # bound on these models is 0.1 absolute); a KL of 1e-2 nats would mean
        # a far larger disturbance.
        check(f"bf16 against the fp32 base: KL mean {bf16['kl_mean']:.2e}, p99 {bf16['kl_p99']:.2e}, "
              f"same top 1 {bf16['same_top1_pct']:.1f}%, delta PPL {bf16['delta_ppl']:.3f}",
              bf16["dtype"] == "bf16" and 0 < bf16["kl_mean"] < 1e-2 and bf16["kl_max"] < 5e-2
              and abs(bf16["ln_ppl_ratio"]) < 0.05, str(bf16))

        # --- Bad flags, texts and base files: one line, exit code 2.
        def bad(name, flags, *needles):
            bad_inputs.expect_failure(name, [bloom_run, plans["fp32"], *flags], *needles)

        ppl = f"--perplexity={text}"
        bad("--ctx without --perplexity", ["--tokens=1", "--ctx=8"], "--ctx", "--perplexity")
        bad("--kl-divergence without --perplexity", ["--prompt=a", f"--kl-divergence={base}"], "--kl-divergence")
        bad("--perplexity with --prompt", [ppl, "--prompt=a"], "--prompt", "--perplexity")
        bad("--max-new-tokens with --perplexity", [ppl, "--max-new-tokens=3"], "--max-new-tokens")
        bad("--stride=-1", [ppl, "--stride=-1"], "--stride")
        bad("--stride >= --ctx", [ppl, "--ctx=8", "--stride=8"], "--stride")
        bad("--stride >= the default --ctx", [ppl, "--stride=24"], "--stride")
        bad("--ctx=1", [ppl, "--ctx=1"], "--ctx")
        bad("--chunks=-1", [ppl, "--chunks=-1"], "--chunks")
        bad("--ctx over max_seq_len", [ppl, "--ctx=25"], "--ctx", "max_seq_len 24")
        bad("both KL flags", [ppl, f"--kl-divergence={base}", f"--kl-divergence-base={base}.2"], "together")
        bad("empty --kl-divergence", [ppl, "--kl-divergence="], "--kl-divergence")
        bad("text shorter than a window", [ppl, "--ctx=21"], "fewer than one window", "20 tokens")
        empty = os.path.join(tmp, "empty.txt")
        open(empty, "w").close()
        bad("empty text", [f"--perplexity={empty}", "--ctx=4"], "empty.txt", "0 tokens")
        bad("missing text", [f"--perplexity={tmp}/nope.txt"], "nope.txt")
        bad("invalid UTF-8", [f"--perplexity={bloom_run}"], "bloom-run")
        bad("unwritable base", [ppl, "--ctx=8", f"--kl-divergence-base={tmp}/no/dir.kld"], "--kl-divergence-base")
        bad("missing base", [ppl, "--ctx=8", f"--kl-divergence={tmp}/nope.kld"], "nope.kld")

        with open(base, "rb") as f:
            good = f.read()

        def bad_base(name, data, flags, *needles):
            path = os.path.join(tmp, name.replace(" ", "_") + ".kld")
            with open(path, "wb") as f:
                f.write(data)
            bad(name, [ppl, *flags, f"--kl-divergence={path}"], path, *needles)

        settings = ["--ctx=8", "--stride=3"]
        bad_base("truncated base", good[:-1], settings, "truncated")
        bad_base("header only", good[:64], settings, "truncated")
        bad_base("wrong magic", b"GGUF" + good[4:], settings, "BLOOMKLD")
        bad_base("wrong version", good[:8] + struct.pack("<I", 9) + good[12:], settings, "version 9")
        bad_base("other vocabulary", good[:16] + struct.pack("<Q", 2048) + good[24:], settings,
                 "vocabulary of 2048", "1024")
        bad_base("other --ctx", good, ["--ctx=9", "--stride=3"], "--ctx 8, this run has 9")
        bad_base("other --stride", good, ["--ctx=8", "--stride=2"], "--stride")
        bad_base("halves against a strided base", good, ["--ctx=8"], "--stride")
        bad_base("fewer windows than the base", good, [*settings, "--chunks=2"], "--chunks")
        other_text = os.path.join(tmp, "other.txt")
        with open(other_text, "w", encoding="utf-8") as f:
            f.write(golden["prompt_text"].replace("fox", "cat"))
        path = os.path.join(tmp, "good.kld")
        with open(path, "wb") as f:
            f.write(good)
        bloom_run_other = [bloom_run, plans["fp32"], f"--perplexity={other_text}", *settings,
                           f"--kl-divergence={path}"]
        bad_inputs.expect_failure("another text", bloom_run_other, "good.kld")
        codes = subprocess.run(bloom_run_other, capture_output=True).returncode
        check("a mismatched base is a usage error (exit 2)", codes == 2, str(codes))

    failures.extend(bad_inputs.failures)
    if failures:
        sys.exit(f"FAILED: {failures}")
    print("PASSED")


if __name__ == "__main__":
    main()
