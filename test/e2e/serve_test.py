"""bloom-serve as clients use it: a real server process on loopback serving
the embedded model (models/bloom/tiny-random, compiled here, CPU backend),
queried over HTTP with the standard library. Checks every route and its
fields in both dialects, SSE framing with a parser, each error status (400,
422, 404, 405, 429), that a client leaving mid-stream frees its slot (as
/metrics shows), graceful shutdown on SIGTERM, and that concurrent clients
get the tokens offline bloom-run gives for the same prompts and seeds."""
import argparse
import http.client
import json
import math
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

FAILURES = []


def check(name, ok, detail=""):
    print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))
    if not ok:
        FAILURES.append(name)


class Server:
    def __init__(self, binary, plan, *flags):
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([binary, plan, "--port=0", *flags], stderr=self.err)
        deadline = time.time() + 30
        self.port = None
        while time.time() < deadline and self.port is None:
            self.err.seek(0)
            m = re.search(r"ready on http://127\.0\.0\.1:(\d+)", self.err.read())
            if m:
                self.port = int(m.group(1))
            elif self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if self.port is None:
            sys.exit(f"FAILED: bloom-serve did not start: {self.log()}")

    def log(self):
        self.err.seek(0)
        return self.err.read()

    def request(self, method, path, body=None, raw=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        conn.request(method, path, body=data, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        text = resp.read().decode("utf-8")
        conn.close()
        return resp.status, dict(resp.getheaders()), text

    def json(self, path, body):
        status, headers, text = self.request("POST", path, body)
        return status, headers, json.loads(text)

    def stream(self, path, body):
        """The events of an SSE response, parsed as the SSE spec says."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        events = parse_sse(resp.read().decode("utf-8"))
        conn.close()
        return resp.status, resp.getheader("Content-Type"), events

    def metrics(self):
        _, _, text = self.request("GET", "/metrics")
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name] = float(value)
        return values

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


def parse_sse(text):
    """Event data per the SSE spec: 'data:' lines (one optional space after the
    colon) joined by newlines, an event ending at a blank line; comments skipped."""
    events, data = [], []
    for line in text.split("\n"):
        if line == "":
            if data:
                events.append("\n".join(data))
            data = []
        elif line.startswith(":"):
            continue
        elif line.startswith("data:"):
            value = line[5:]
            data.append(value[1:] if value.startswith(" ") else value)
    return events


def offline(bloom_run, plan, ids, n, extra=()):
    out = subprocess.run([bloom_run, plan, "--tokens=" + ",".join(map(str, ids)),
                          f"--max-new-tokens={n}", *extra], capture_output=True, text=True,
                         timeout=60)
    if out.returncode != 0:
        sys.exit(f"FAILED: bloom-run: {out.stderr}")
    return [int(t) for t in out.stdout.split()]


def read_npy_f32(path):
    """A little-endian float32 .npy as (shape, flat list), stdlib only."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:6] == b"\x93NUMPY", path
    header_len = struct.unpack("<H", data[8:10])[0]
    header = data[10:10 + header_len].decode("latin1")
    assert "'<f4'" in header and "'fortran_order': False" in header, header
    shape = tuple(int(x) for x in re.search(r"'shape': \(([^)]*)\)", header).group(1).split(",")
                  if x.strip())
    count = 1
    for n in shape:
        count *= n
    values = struct.unpack(f"<{count}f", data[10 + header_len:10 + header_len + 4 * count])
    return shape, values


def greedy_logprobs(bloom_run, plan, prompt, ids, tmp):
    """Each greedy token's log-softmax, from offline bloom-run's dumped
    logits (rows P-1 .. P+N-2 predict the N generated tokens)."""
    path = os.path.join(tmp, "logprob_logits.npy")
    out = subprocess.run([bloom_run, plan, f"--prompt={prompt}", f"--max-new-tokens={len(ids)}",
                          f"--dump-logits={path}"], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        sys.exit(f"FAILED: bloom-run --dump-logits: {out.stderr}")
    (rows, vocab), values = read_npy_f32(path)
    result = []
    for j, token in enumerate(ids):
        row = values[(rows - len(ids) + j) * vocab:(rows - len(ids) + j + 1) * vocab]
        top = max(row)
        log_total = top + math.log(sum(math.exp(v - top) for v in row))
        result.append(row[token] - log_total)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", required=True)
    parser.add_argument("--repo", required=True)
    args = parser.parse_args()
    serve = os.path.join(args.bin, "bloom-serve")
    bloom_run = os.path.join(args.bin, "bloom-run")
    model = os.path.join(args.repo, "models/bloom/tiny-random")
    with tempfile.TemporaryDirectory(prefix="bloom-serve-") as tmp:
        plan = os.path.join(tmp, "plan")
        one_slot = os.path.join(tmp, "one_slot")
        for out_dir, extra in ((plan, []), (one_slot, ["--max-sequences=1"])):
            subprocess.run([os.path.join(args.bin, "bloom-compile"), f"--model={model}", "-o",
                            out_dir, *extra], check=True, capture_output=True, timeout=120)

        s = Server(serve, plan, "--model-name=tiny")
        # --- Operations routes.
        status, _, text = s.request("GET", "/health")
        check("/health is 200 once ready", status == 200, text)
        status, _, text = s.request("GET", "/info")
        info = json.loads(text)
        check("/info fields", status == 200 and set(info) >= {
            "model_id", "model_dtype", "backend", "tp", "max_input_length", "max_total_tokens",
            "max_batch_total_tokens", "max_concurrent_requests", "version"} and
            info["model_id"] == "tiny" and info["backend"] == "cpu", text)
        status, _, text = s.request("GET", "/v1/models")
        models = json.loads(text)
        check("/v1/models lists the model", status == 200 and models["object"] == "list" and
              models["data"][0]["id"] == "tiny" and models["data"][0]["object"] == "model", text)

        # --- OpenAI completions.
        ids = [5, 17, 200, 33]
        status, _, body = s.json("/v1/completions", {"model": "tiny", "prompt": ids,
                                                     "max_tokens": 6, "temperature": 0,
                                                     "ignore_eos": True})
        check("completion fields", status == 200 and set(body) == {
            "id", "object", "created", "model", "choices", "usage"} and
            body["object"] == "text_completion" and
            set(body["choices"][0]) == {"index", "text", "logprobs", "finish_reason"} and
            body["choices"][0]["finish_reason"] == "length" and
            body["usage"] == {"prompt_tokens": 4, "completion_tokens": 6, "total_tokens": 10},
            body)
        status, ctype, events = s.stream("/v1/completions", {
            "prompt": "Hello world", "max_tokens": 5, "temperature": 0, "stream": True,
            "stream_options": {"include_usage": True}})
        chunks = [json.loads(e) for e in events[:-1]]
        check("SSE: text/event-stream, JSON chunks, then [DONE]",
              status == 200 and ctype.startswith("text/event-stream") and events[-1] == "[DONE]" and
              all(c["object"] == "text_completion" for c in chunks), events)
        check("SSE: usage chunk last with empty choices",
              chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == 5 and
              all(c["usage"] is None for c in chunks[:-1]), chunks)
        streamed = "".join(c["choices"][0]["text"] for c in chunks[:-1])
        _, _, plain = s.json("/v1/completions", {"prompt": "Hello world", "max_tokens": 5,
                                                 "temperature": 0})
        check("streamed text equals the non-streamed text",
              streamed == plain["choices"][0]["text"], (streamed, plain))
        _, _, echoed = s.json("/v1/completions", {"prompt": "Hello world", "max_tokens": 5,
                                                  "temperature": 0, "echo": True})
        check("echo prepends the prompt",
              echoed["choices"][0]["text"] == "Hello world" + plain["choices"][0]["text"], echoed)
        text = plain["choices"][0]["text"]
        if len(text.strip()) > 1:
            stop = text.strip()[:2]
            _, _, stopped = s.json("/v1/completions", {"prompt": "Hello world", "max_tokens": 5,
                                                       "temperature": 0, "stop": stop})
            check("a stop string ends the text before it",
                  stopped["choices"][0]["finish_reason"] == "stop" and
                  stop not in stopped["choices"][0]["text"], stopped)

        # --- TGI.
        status, _, body = s.json("/generate", {"inputs": "Hello world", "parameters": {
            "max_new_tokens": 5, "details": True}})
        details = body.get("details", {})
        check("/generate fields", status == 200 and body["generated_text"] == text and
              details.get("finish_reason") in ("length", "eos_token") and
              details.get("generated_tokens") == len(details.get("tokens", [])) and
              all(set(t) == {"id", "text", "logprob", "special"} for t in details["tokens"]) and
              details["seed"] is None, body)
        # Each token's logprob is its log-softmax under offline bloom-run's logits.
        want = greedy_logprobs(bloom_run, plan, "Hello world", [t["id"] for t in details["tokens"]], tmp)
        got = [t["logprob"] for t in details["tokens"]]
        check("/generate details: logprob is each greedy token's log-softmax",
              len(got) == len(want) and all(isinstance(g, float) and abs(g - w) < 1e-4
                                            for g, w in zip(got, want)), (got, want))
        status, _, events = s.stream("/generate_stream", {"inputs": "Hello world",
                                                          "parameters": {"max_new_tokens": 5}})
        tgi = [json.loads(e) for e in events]
        check("/generate_stream: generated_text and details on the last event only",
              status == 200 and all(e["generated_text"] is None and e["details"] is None
                                    for e in tgi[:-1]) and tgi[-1]["generated_text"] == text and
              tgi[-1]["details"]["generated_tokens"] == len(tgi) and
              [e["index"] for e in tgi] == list(range(1, len(tgi) + 1)) and
              [e["token"]["id"] for e in tgi] == [t["id"] for t in details["tokens"]], tgi)
        _, _, full = s.json("/generate", {"inputs": "Hello world", "parameters": {
            "max_new_tokens": 5, "return_full_text": True}})
        check("return_full_text", full["generated_text"] == "Hello world" + text, full)

        # --- Errors.
        for name, method, path, raw, want, needle in (
                ("malformed JSON", "POST", "/v1/completions", "{oops", 400, "body"),
                ("wrong type", "POST", "/v1/completions", '{"prompt": "x", "max_tokens": "3"}',
                 400, "max_tokens"),
                ("out of range", "POST", "/generate", '{"inputs": "x", "parameters": {"top_p": 2}}',
                 422, "parameters.top_p"),
                ("n > 1 refused", "POST", "/v1/completions", '{"prompt": "x", "n": 2}', 422, "n"),
                ("prompt too long", "POST", "/v1/completions",
                 json.dumps({"prompt": [5] * 2040, "max_tokens": 16}), 422, "prompt"),
                ("unknown route", "GET", "/nope", None, 404, "no such route"),
                ("wrong method", "GET", "/v1/completions", None, 405, "method not allowed")):
            status, _, text = s.request(method, path, raw=raw)
            check(f"{name}: {want} naming {needle}", status == want and needle in text, (status, text))
        _, _, truncated = s.json("/generate", {"inputs": "Hello world " * 400, "parameters": {
            "max_new_tokens": 4, "truncate": 100}})
        check("TGI truncate fits a long prompt", "generated_text" in truncated, truncated)

        # --- Concurrent clients get offline bloom-run's tokens (its --input
        # JSONL batch gives the ids and their text for the same settings).
        cases = [([5, 17, 200, 33], {"temperature": 0}),
                 ([9, 8, 7], {"temperature": 0.8, "top_k": 20, "seed": 11}),
                 ([100, 3, 44, 45, 46], {"temperature": 1.0, "top_p": 0.9, "seed": 5})] * 2
        jsonl = os.path.join(tmp, "requests.jsonl")
        with open(jsonl, "w") as f:
            for ids, params in cases:
                line = {"tokens": ids, "max_new_tokens": 12, "ignore_eos": True, **params}
                if params["temperature"] == 0:
                    line = {k: v for k, v in line.items() if k != "temperature"}
                f.write(json.dumps(line) + "\n")
        out = subprocess.run([bloom_run, plan, f"--input={jsonl}"], capture_output=True,
                             text=True, timeout=60)
        offline = [json.loads(l) for l in out.stdout.splitlines() if l.strip()]
        results = [None] * len(cases)

        def client(i):
            ids, params = cases[i]
            results[i] = s.json("/v1/completions", {"prompt": ids, "max_tokens": 12,
                                                    "ignore_eos": True, **params})[2]

        threads = [threading.Thread(target=client, args=(i,)) for i in range(len(cases))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i in range(len(cases)):
            check(f"concurrent client {i} gets offline bloom-run's text",
                  out.returncode == 0 and results[i]["choices"][0]["text"] == offline[i]["text"] and
                  results[i]["usage"]["completion_tokens"] == len(offline[i]["tokens"]),
                  (results[i], offline[i] if i < len(offline) else out.stderr))
        _, _, d = s.json("/generate", {"inputs": "Hello world", "parameters": {
            "max_new_tokens": 6, "details": True, "seed": 3, "temperature": 0.7}})
        with open(jsonl, "w") as f:
            f.write(json.dumps({"prompt": "Hello world", "max_new_tokens": 6, "seed": 3,
                                "temperature": 0.7}) + "\n")
        ref = json.loads(subprocess.run([bloom_run, plan, f"--input={jsonl}"], capture_output=True,
                                        text=True, timeout=60).stdout)
        check("a sampled TGI request gives bloom-run's ids for its seed, and names the seed",
              [t["id"] for t in d["details"]["tokens"]] == ref["tokens"] and
              d["details"]["seed"] == 3, (d, ref))

        # --- A client that leaves mid-stream frees its slot.
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        conn.request("POST", "/v1/completions", body=json.dumps({
            "prompt": [5, 6], "max_tokens": 2000, "ignore_eos": True, "temperature": 0,
            "stream": True}), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.fp.readline()
        conn.sock.close()
        conn.close()
        deadline, m = time.time() + 10, {}
        while time.time() < deadline:
            m = s.metrics()
            if m.get("bloom:num_requests_running") == 0 and \
                    m.get('bloom:request_failure_total{cause="client_disconnected"}', 0) >= 1:
                break
            time.sleep(0.05)
        check("a disconnect cancels the request and frees its slot",
              m.get("bloom:num_requests_running") == 0 and
              m.get('bloom:request_failure_total{cause="client_disconnected"}', 0) >= 1, m)
        check("the access log has a line per request",
              "POST /v1/completions 200 in=4 out=6" in s.log(), s.log()[-2000:])
        check("SIGTERM: exit 0", s.stop() == 0, s.log()[-500:])

        # --- Static batching: a request arriving while a batch runs waits for all of it.
        s = Server(serve, plan, "--batching=static", "--static-batch-size=2",
                   "--static-batch-timeout=200ms")
        queue_before = s.metrics()["bloom:request_queue_time_seconds_sum"]
        a_ids, b_ids = [5, 17, 200, 33], [9, 8, 7]
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
        a_sent = time.time()
        conn.request("POST", "/v1/completions", body=json.dumps({
            "prompt": a_ids, "max_tokens": 300, "ignore_eos": True, "temperature": 0,
            "stream": True}), headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        first = resp.readline()  # A's first chunk: its batch (of one, at the timeout) runs
        a_first = time.time()
        late = {}

        def late_request():
            late["sent"] = time.time()
            late["reply"] = s.json("/v1/completions", {"prompt": b_ids, "max_tokens": 5,
                                                       "ignore_eos": True, "temperature": 0})
            late["done"] = time.time()

        t = threading.Thread(target=late_request, daemon=True)
        t.start()
        a_events = parse_sse(first.decode() + resp.read().decode())
        a_done = time.time()
        conn.close()
        t.join()
        m = s.metrics()
        queued = m["bloom:request_queue_time_seconds_sum"] - queue_before
        b_text = late["reply"][2]["choices"][0]["text"] if late["reply"][0] == 200 else None
        check("static batching: a lone request waits the batch timeout", a_first - a_sent >= 0.2,
              a_first - a_sent)
        check("static batching: a request arriving mid-batch waits for the batch to end "
              "(queue time at least the batch's remaining time)",
              a_events[-1] == "[DONE]" and late["done"] >= a_done - 0.02 and
              queued >= 0.2 + (a_done - late["sent"]) - 0.02,
              (queued, a_done - late["sent"], late["done"] - a_done))
        with open(jsonl, "w") as f:
            f.write(json.dumps({"tokens": b_ids, "max_new_tokens": 5, "ignore_eos": True}) + "\n")
        out = subprocess.run([bloom_run, plan, f"--input={jsonl}"], capture_output=True,
                             text=True, timeout=60)
        b_ref = json.loads(out.stdout) if out.returncode == 0 else {"text": out.stderr}
        check("static batching: the late request gets offline bloom-run's text",
              late["reply"][0] == 200 and b_text == b_ref["text"] and
              late["reply"][2]["usage"]["completion_tokens"] == 5, (late.get("reply"), b_ref))
        check("static batching: SIGTERM exits 0", s.stop() == 0, s.log()[-500:])

        # --- Overload (429) and graceful shutdown with a request in flight.
        s = Server(serve, one_slot, "--max-queue=1")
        codes, bodies = [], []

        def long_request():
            status, headers, text = s.request("POST", "/generate", {"inputs": "Hello", "parameters": {
                "max_new_tokens": 400}})
            codes.append(status)
            if status == 429:
                bodies.append((headers, json.loads(text)))

        threads = [threading.Thread(target=long_request) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check("a full queue answers 429 with Retry-After and error_type overloaded",
              429 in codes and all(h.get("Retry-After") and b["error_type"] == "overloaded"
                                   for h, b in bodies), (codes, bodies[:1]))
        done = {}

        def in_flight():
            done["status"] = s.request("POST", "/v1/completions", {
                "prompt": [5, 6], "max_tokens": 300, "ignore_eos": True})[0]

        t = threading.Thread(target=in_flight)
        t.start()
        time.sleep(0.05)
        code = s.stop()
        t.join()
        check("SIGTERM with a request in flight: it completes, exit 0",
              code == 0 and done.get("status") == 200, (code, done, s.log()[-500:]))
    if FAILURES:
        sys.exit(f"{len(FAILURES)} checks failed: {FAILURES}")


if __name__ == "__main__":
    main()
