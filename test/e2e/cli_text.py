#!/usr/bin/env python3
"""bloom-run as people use it, on the embedded model models/bloom/tiny-random
(compiled here with bloom-compile): text in and out against the
tiny-random-text golden from transformers, JSONL batches against single runs,
sampling options, stop strings, --bench's JSON keys, --help, and every
one-line error with its exit code (docs/cli.md). Standard library only.
"""
import argparse
import json
import os
import pty
import re
import shutil
import subprocess
import sys
import tempfile

TIMEOUT_S = 120
BENCH_KEYS = ["backend", "device", "plan", "batch", "prompt_len", "new_tokens", "load_ms", "weights",
              "weights_seed", "ttft_ms",
              "decode_ms_per_step_median", "decode_ms_per_step_mean", "decode_tokens_per_s",
              "total_ms", "output_tokens_per_s", "max_steps_in_flight", "sampled", "peak_device_bytes",
              "weight_bytes_streamed_per_step",
              "weight_stream_gb_per_s", "weight_stream_rate_basis", "weight_stream_wait_ms_per_step"]
failures = []


def check(name, ok, detail=""):
    print(f"[{'ok' if ok else 'FAILED'}] {name}" + (f": {detail}" if detail and not ok else ""))
    if not ok:
        failures.append(name)


def run(cmd, stdin=b""):
    """Runs cmd (args may be bytes); returns (exit code, stdout bytes, stderr text)."""
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=TIMEOUT_S)
    return proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace")


def run_ok(name, cmd, stdin=b""):
    code, out, err = run(cmd, stdin)
    check(name + " exits 0", code == 0, f"exit {code}: {err.strip()[:300]}")
    return out


def expect_error(name, cmd, code, *needles, stdin=b""):
    got, out, err = run(cmd, stdin)
    lines = [l for l in err.splitlines() if l.strip()]
    problems = []
    if got != code:
        problems.append(f"exit {got}, expected {code}")
    if len(lines) != 1:
        problems.append(f"{len(lines)} stderr lines")
    problems += [f"stderr lacks {n!r}" for n in needles if n not in err]
    check(f"error: {name}", not problems, "; ".join(problems) + f" | {err.strip()[:300]}")


def jsonl(path, requests):
    with open(path, "w", encoding="utf-8") as f:
        for r in requests:
            f.write(json.dumps(r) + "\n")


def results(out):
    return [json.loads(line) for line in out.decode("utf-8").splitlines() if line.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--repo", required=True)
    args = parser.parse_args()
    compile_ = os.path.join(args.bin, "bloom-compile")
    bloom_run = os.path.join(args.bin, "bloom-run")
    model = os.path.join(args.repo, "models/bloom/tiny-random")
    with open(os.path.join(args.repo, "test/golden/cases/tiny-random-text/golden.json"), encoding="utf-8") as f:
        golden = json.load(f)

    with tempfile.TemporaryDirectory(prefix="bloom-cli-") as tmp:
        plan = os.path.join(tmp, "plan")
        small = os.path.join(tmp, "small.plan")
        for out_dir, extra in ((plan, []), (small, ["--max-seq-len=24", "--max-sequences=3",
                                                    "--max-batch-tokens=8"])):
            code, _, err = run([compile_, f"--model={model}", "-o", out_dir, *extra])
            if code != 0:
                sys.exit(f"FAILED: bloom-compile {extra}: {err}")

        # --- The golden: text prompt -> HF's greedy ids and text.
        prompt = golden["prompt_text"]
        n = golden["max_new_tokens"]
        ids = run_ok("golden ids", [bloom_run, plan, f"--prompt={prompt}", f"--max-new-tokens={n}",
                                    "--print-tokens"])
        check("golden: --prompt gives transformers' generated_tokens",
              [int(t) for t in ids.split()] == golden["generated_tokens"], ids.decode())
        text = run_ok("golden text", [bloom_run, plan, f"--prompt={prompt}", f"--max-new-tokens={n}"])
        check("golden: streamed text is transformers' generated_text",
              text == golden["generated_text"].encode("utf-8") + b"\n", repr(text))
        echoed = run_ok("--echo", [bloom_run, plan, f"--prompt={prompt}", f"--max-new-tokens={n}", "--echo"])
        check("--echo prints prompt then continuation",
              echoed == golden["full_text"].encode("utf-8") + b"\n", repr(echoed))
        prompt_file = os.path.join(tmp, "prompt.txt")
        with open(prompt_file, "w", encoding="utf-8") as f:
            f.write(prompt + "\n")
        check("--prompt-file equals --prompt",
              run_ok("--prompt-file", [bloom_run, plan, f"--prompt-file={prompt_file}",
                                       f"--max-new-tokens={n}"]) == text)
        check("stdin equals --prompt",
              run_ok("stdin", [bloom_run, plan, f"--max-new-tokens={n}"], stdin=(prompt + "\n").encode()) == text)
        check("--tokens mode is unchanged (ids on one line)",
              run_ok("--tokens", [bloom_run, plan, "--tokens=" + ",".join(map(str, golden["prompt_tokens"])),
                                  f"--max-new-tokens={n}"]).decode().split()
              == [str(t) for t in golden["generated_tokens"]])

        # --- One batch equals each request alone (greedy), prompts of
        # different lengths, text and ids mixed.
        prompts = [prompt, "Hi", "Bonjour, le monde! 日本語のテキスト.", "a b c d e f g h i j k l m n o p",
                   "x = f(y) | g(z);"]
        batch_file = os.path.join(tmp, "batch.jsonl")
        requests = [{"prompt": p, "max_new_tokens": 6 + 3 * i, "id": i, "ignore_eos": True}
                    for i, p in enumerate(prompts)]
        requests.append({"tokens": [5, 77, 300, 12], "max_new_tokens": 9, "id": "ids", "ignore_eos": True})
        jsonl(batch_file, requests)
        batch = results(run_ok("JSONL batch", [bloom_run, plan, f"--input={batch_file}"]))
        check("JSONL: one result per request, in order",
              [r.get("id") for r in batch] == [r["id"] for r in requests], str(batch))
        for req, res in zip(requests, batch):
            if "prompt" in req:
                alone = run_ok(f"alone {req['id']}", [bloom_run, plan, f"--prompt={req['prompt']}",
                                                      f"--max-new-tokens={req['max_new_tokens']}", "--ignore-eos",
                                                      "--print-tokens"])
                alone_text = run_ok(f"alone text {req['id']}", [bloom_run, plan, f"--prompt={req['prompt']}",
                                                                f"--max-new-tokens={req['max_new_tokens']}",
                                                                "--ignore-eos"])
                check(f"JSONL text {req['id']} equals the text run alone",
                      res["text"].encode("utf-8") + b"\n" == alone_text, repr(res["text"]))
            else:
                alone = run_ok("alone ids", [bloom_run, plan, "--tokens=" + ",".join(map(str, req["tokens"])),
                                             f"--max-new-tokens={req['max_new_tokens']}"])
            check(f"JSONL tokens {req['id']} equal the run alone",
                  res["tokens"] == [int(t) for t in alone.split()], f"{res['tokens']} vs {alone}")
            check(f"JSONL {req['id']}: finish_reason length, timings",
                  res["finish_reason"] == "length" and 0 <= res["ttft_ms"] <= res["total_ms"], str(res))
        check("JSONL golden row", batch[0]["tokens"] == golden["generated_tokens"][:6], str(batch[0]))
        # The small plan (8 tokens per step, 3 slots, 24 positions) forces
        # chunked prefill and waiting for slots: same tokens.
        small_requests = [dict(r, max_new_tokens=5) for r, res in zip(requests, batch)
                          if res["prompt_tokens"] + 5 - 1 <= 24]
        check("several prompts fit the small plan", len(small_requests) >= 4, str(len(small_requests)))
        jsonl(batch_file, small_requests)
        small_batch = results(run_ok("JSONL on the small plan", [bloom_run, small, f"--input={batch_file}"]))
        for req, res in zip(small_requests, small_batch):
            cmd = ([f"--prompt={req['prompt']}", "--ignore-eos", "--print-tokens"] if "prompt" in req
                   else ["--tokens=" + ",".join(map(str, req["tokens"]))])
            alone = run_ok("small alone", [bloom_run, plan, *cmd, f"--max-new-tokens={req['max_new_tokens']}"])
            check(f"small-plan batch {req['id']} equals the big plan alone",
                  res["tokens"] == [int(t) for t in alone.split()], f"{res['tokens']} vs {alone}")

        # --- Sampling.
        base = {"prompt": "Sampling test:", "max_new_tokens": 20, "ignore_eos": True}
        jsonl(batch_file, [dict(base, do_sample=True, temperature=1.5, seed=7),
                           dict(base, do_sample=True, temperature=1.5, seed=7),
                           dict(base, do_sample=True, temperature=1.5, seed=8),
                           dict(base, do_sample=True, top_k=1, seed=9),
                           dict(base),
                           dict(base, repetition_penalty=1.8),
                           dict(base, top_p=0.3, seed=1),
                           dict(base, typical_p=0.3, seed=1)])
        s = results(run_ok("sampling batch", [bloom_run, plan, f"--input={batch_file}"]))
        check("same seed, same output", s[0]["tokens"] == s[1]["tokens"])
        check("another seed, another output", s[0]["tokens"] != s[2]["tokens"])
        check("top_k=1 sampling equals greedy", s[3]["tokens"] == s[4]["tokens"])
        check("sampling differs from greedy", s[0]["tokens"] != s[4]["tokens"])
        check("repetition penalty changes the greedy output", s[5]["tokens"] != s[4]["tokens"])
        greedy = s[4]["tokens"]
        check("greedy output repeats (so the penalty test means something)",
              len(set(greedy)) < len(greedy), str(greedy))
        check("penalised output repeats less", len(set(s[5]["tokens"])) > len(set(greedy)),
              f"{s[5]['tokens']} vs {greedy}")
        seeded = run_ok("seeded CLI", [bloom_run, plan, "--prompt=Sampling test:", "--max-new-tokens=20",
                                       "--ignore-eos", "--temperature=1.5", "--seed=7", "--print-tokens"])
        check("CLI --temperature --seed equals the JSONL request with that seed",
              [int(t) for t in seeded.split()] == s[0]["tokens"])

        # --- Stop strings: cut the golden continuation in the middle.
        gen = golden["generated_text"]
        stop = gen[2:5]  # spans several tokens of the golden continuation
        cut = gen.index(stop)
        jsonl(batch_file, [{"prompt": prompt, "max_new_tokens": n, "stop": [stop, "never-there"]}])
        r = results(run_ok("stop string", [bloom_run, plan, f"--input={batch_file}"]))[0]
        check("stop string: finish_reason stop and text cut before it",
              r["finish_reason"] == "stop" and r["text"] == gen[:cut], str(r))
        check("stop string: generation ended at the token that completed it",
              r["tokens"] == golden["generated_tokens"][:len(r["tokens"])] and len(r["tokens"]) < n, str(r))
        streamed = run_ok("--stop", [bloom_run, plan, f"--prompt={prompt}", f"--max-new-tokens={n}", f"--stop={stop}"])
        check("--stop streams the same cut text", streamed == gen[:cut].encode("utf-8") + b"\n", repr(streamed))

        # --- min_length counts the prompt (as transformers); --truncate keeps the end.
        jsonl(batch_file, [{"tokens": list(range(3, 23)), "max_new_tokens": 6}])
        r = results(run_ok("--truncate", [bloom_run, small, f"--input={batch_file}", "--truncate"]))[0]
        check("--truncate keeps max_seq_len - N + 1 tokens", r["prompt_tokens"] == 24 - 6 + 1 and r["truncated"], str(r))
        tail = run_ok("--truncate ids", [bloom_run, small, "--tokens=" + ",".join(map(str, range(3, 23))),
                                         "--max-new-tokens=6", "--truncate"])
        kept = run_ok("the kept end alone", [bloom_run, small, "--tokens=" + ",".join(map(str, range(4, 23))),
                                             "--max-new-tokens=6"])
        check("--truncate keeps the END of the prompt", tail == kept and r["tokens"] == [int(t) for t in kept.split()])

        # --- --bench.
        out = run_ok("--bench", [bloom_run, plan, "--bench", "--batch=3", "--prompt-len=10", "--max-new-tokens=5",
                                 "--warmup=1", "--seed=3"])
        lines = out.decode().strip().splitlines()
        try:
            bench = json.loads(lines[0]) if len(lines) == 1 else None
        except ValueError:
            bench = None
        check("--bench prints one JSON object with exactly the agreed keys",
              bench is not None and list(bench) == BENCH_KEYS, out.decode())
        if bench:
            check("--bench values", bench["backend"] == "cpu" and bench["batch"] == 3 and
                  bench["prompt_len"] == 10 and bench["new_tokens"] == 5 and bench["ttft_ms"] > 0 and
                  bench["weights"] == "stored" and bench["weights_seed"] is None and
                  bench["decode_tokens_per_s"] > 0 and bench["peak_device_bytes"] > 0 and
                  bench["total_ms"] >= bench["ttft_ms"] and bench["sampled"] is False and
                  abs(bench["output_tokens_per_s"] - 3 * 5 / (bench["total_ms"] / 1000)) <=
                  0.01 * bench["output_tokens_per_s"], str(bench))

        # --- The weight-loading progress bar: on a terminal only.
        code, _, err = run([bloom_run, plan, "--tokens=1,2", "--max-new-tokens=2"])
        check("no progress bar when stderr is a pipe", code == 0 and err == "", repr(err))
        master, slave = pty.openpty()
        proc = subprocess.run([bloom_run, plan, "--tokens=1,2", "--max-new-tokens=2"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=slave, timeout=TIMEOUT_S)
        os.close(slave)
        tty = b""
        while True:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO once the child's side is closed
                break
            if not chunk:
                break
            tty += chunk
        os.close(master)
        check("progress bar on a terminal", proc.returncode == 0 and b"loading weights [" in tty
              and b"#" * 30 in tty, repr(tty[-200:]))

        # --- --help documents every flag, and docs/cli.md does too.
        help_text = run_ok("--help", [bloom_run, "--help"]).decode()
        flags = sorted(set(re.findall(r"^  (--[a-z][a-z-]*)", help_text, re.M)) - {"--help"})
        with open(os.path.join(args.repo, "docs/cli.md"), encoding="utf-8") as f:
            doc = f.read()
        for flag in ["--prompt", "--prompt-file", "--tokens", "--input", "--output", "--tokenizer", "--truncate",
                     "--echo", "--print-tokens", "--dump-logits", "--max-new-tokens", "--min-new-tokens",
                     "--ignore-eos", "--stop", "--do-sample", "--temperature", "--top-k", "--top-p", "--typical-p",
                     "--repetition-penalty", "--seed", "--bench", "--batch", "--prompt-len", "--warmup",
                     "--backend", "--checkpoint-dir", "--verbose"]:
            check(f"--help documents {flag}", f"  {flag}=VALUE" in help_text or f"  {flag}\n" in help_text)
            check(f"docs/cli.md documents {flag}", f"`{flag}" in doc)
        check("--help lists exit codes", "Exit codes" in help_text)
        undocumented = [f for f in flags if f"`{f}" not in doc]
        check("every flag in --help is in docs/cli.md", not undocumented, str(undocumented))

        # --- --probe: the machine's links as bloom-compile flags, no plan.
        probe_out = run_ok("--probe", [bloom_run, "--probe", f"--disk-dir={tmp}"])
        probe = json.loads(probe_out)
        check("--probe measures memory and disk", probe.get("memory_copy_gb_per_s", 0) > 0
              and probe.get("disk_read_gb_per_s", 0) > 0, str(probe))
        check("--probe prints bloom-compile flags", all(
            f"--{name}-bandwidth=" in probe.get("bloom_compile_flags", "") for name in ("device", "h2d", "disk")),
            str(probe))
        check("--probe leaves no file behind", not any(n.startswith(".bloom-probe") for n in os.listdir(tmp)))
        expect_error("--probe with a missing --disk-dir", [bloom_run, "--probe", "--disk-dir=/nonexistent/x"], 2,
                     "--disk-dir")
        expect_error("--probe with a PLAN_DIR", [bloom_run, "--probe", plan], 2, "--probe")
        expect_error("--disk-dir without --probe", [bloom_run, plan, "--prompt=hi", f"--disk-dir={tmp}"], 2,
                     "--disk-dir")

        # --- Errors: one line, exit 2 for usage, 1 for load/run.
        expect_error("--tokens with --prompt", [bloom_run, plan, "--tokens=1", "--prompt=hi"], 2, "--tokens", "--prompt")
        expect_error("--input with --prompt-file", [bloom_run, plan, f"--input={batch_file}", "--prompt-file=x"], 2,
                     "--prompt-file", "--input")
        expect_error("unknown flag", [bloom_run, plan, "--prompt=hi", "--frobnicate"], 2, "--frobnicate")
        expect_error("negative temperature", [bloom_run, plan, "--prompt=hi", "--temperature=-1"], 2, "--temperature")
        expect_error("top-p 0", [bloom_run, plan, "--prompt=hi", "--top-p=0"], 2, "--top-p")
        expect_error("top-p above 1", [bloom_run, plan, "--prompt=hi", "--top-p=1.5"], 2, "--top-p")
        expect_error("typical-p 0", [bloom_run, plan, "--prompt=hi", "--typical-p=0"], 2, "--typical-p")
        expect_error("negative top-k", [bloom_run, plan, "--prompt=hi", "--top-k=-3"], 2, "--top-k")
        expect_error("repetition penalty 0", [bloom_run, plan, "--prompt=hi", "--repetition-penalty=0"], 2,
                     "--repetition-penalty")
        expect_error("temperature not a number", [bloom_run, plan, "--prompt=hi", "--temperature=hot"], 2,
                     "--temperature")
        expect_error("min-new-tokens above max", [bloom_run, plan, "--prompt=hi", "--min-new-tokens=9",
                                                  "--max-new-tokens=3"], 2, "--min-new-tokens")
        expect_error("prompt longer than max_seq_len", [bloom_run, small, "--prompt=" + "word " * 40], 2,
                     "max_seq_len", "--truncate")
        expect_error("--tokens longer than max_seq_len", [bloom_run, small, "--tokens=" + ",".join(["5"] * 30)],
                     2, "max_seq_len")
        expect_error("invalid UTF-8 prompt", [bloom_run.encode(), plan.encode(), b"--prompt=ab\xffcd"], 2,
                     "UTF-8", "0xFF")
        bad_file = os.path.join(tmp, "bad.txt")
        with open(bad_file, "wb") as f:
            f.write("日本".encode()[:4])
        expect_error("invalid UTF-8 prompt file", [bloom_run, plan, f"--prompt-file={bad_file}"], 2, bad_file, "UTF-8")
        expect_error("empty stdin", [bloom_run, plan], 2, "stdin", stdin=b"")
        expect_error("--bench batch over the plan", [bloom_run, small, "--bench", "--batch=4"], 2, "--batch")
        expect_error("--batch without --bench", [bloom_run, plan, "--prompt=hi", "--batch=2"], 2, "--batch")
        expect_error("--stop with --tokens", [bloom_run, plan, "--tokens=1", "--stop=x"], 2, "--stop")
        expect_error("missing --prompt-file", [bloom_run, plan, f"--prompt-file={tmp}/none.txt"], 2, "none.txt")
        for i, (line, needle) in enumerate([
                ('{"prompt": 3}', '"prompt" must be a string'),
                ('{"prompt": "a", "tempreature": 1}', 'unknown field "tempreature"'),
                ('{"prompt": "a"', "not valid JSON"),
                ('["a"]', "JSON object"),
                ('{"prompt": "a", "top_p": 2}', "top_p"),
                ('{"prompt": "a", "tokens": [1]}', "exactly one"),
                ('{"tokens": [1, -4]}', "not a token id"),
                ('{"tokens": [1, 99999]}', "outside the vocabulary"),
                ('{"prompt": "a", "max_new_tokens": 0}', "max_new_tokens")]):
            path = os.path.join(tmp, f"bad{i}.jsonl")
            with open(path, "w") as f:
                f.write('{"prompt": "fine"}\n\n' + line + "\n")
            expect_error(f"bad JSONL line: {line}", [bloom_run, plan, f"--input={path}"], 2, f"bad{i}.jsonl:3", needle)
        code, _, err = run([bloom_run, plan, "--prompt=hi", "--backend=cuda"])
        # Built without CUDA: a usage error; built with it but no GPU here: a
        # load failure. Either way one line that says so.
        check("--backend=cuda without CUDA or without a GPU: one line naming CUDA",
              code in (1, 2) and len(err.strip().splitlines()) == 1 and "CUDA" in err, f"{code}: {err}")
        if code == 2:
            check("usage error says the build lacks CUDA", "this bloom-run was built without CUDA" in err, err)

        # A checkpoint without tokenizer.json: text needs one, ids do not.
        bare = os.path.join(tmp, "bare-model")
        shutil.copytree(model, bare)
        os.remove(os.path.join(bare, "tokenizer.json"))
        bare_plan = os.path.join(tmp, "bare.plan")
        code, _, err = run([compile_, f"--model={bare}", "-o", bare_plan])
        check("compile the model without a tokenizer", code == 0, err)
        expect_error("missing tokenizer", [bloom_run, bare_plan, "--prompt=hi"], 1, "tokenizer.json", "--tokenizer")
        expect_error("--tokenizer that does not exist", [bloom_run, bare_plan, "--prompt=hi",
                                                         f"--tokenizer={tmp}/nope.json"], 1, "nope.json")
        run_ok("--tokens needs no tokenizer", [bloom_run, bare_plan, "--tokens=1,2", "--max-new-tokens=2"])
        check("--tokenizer=DIR supplies it",
              run_ok("--tokenizer", [bloom_run, bare_plan, f"--prompt={prompt}", f"--max-new-tokens={n}",
                                     f"--tokenizer={model}"]) == text)

    if failures:
        sys.exit(f"{len(failures)} CLI check(s) failed: {failures}")
    print("all CLI checks passed")


if __name__ == "__main__":
    main()
