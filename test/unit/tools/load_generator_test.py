#!/usr/bin/env python3
"""benchmarks/serve (load_generator.py, sweep.py) against a fake SSE server
in this process whose every delay the test schedules: the measured TTFT, ITL,
TPOT, e2e and throughputs are checked against those delays, the percentiles
and goodput against hand-worked lists, the arrival process against its rate,
failures against a server answering 429, and the sweep's highest rate under
the SLO against hand-written runs.

A fake request's prompt (text) is its script: "ttft=0.2 gaps=0.1,0.05" waits
0.2 s before the first token and then those gaps (the last one repeated),
"chunk=2" packs two tokens per chunk, "nousage" leaves out the usage chunk,
"reject" answers 429, "cut" closes the stream after two tokens. Token-id
prompts get no delays.

Measured times are never below the scheduled ones (the client's clock starts
before the server's sleep begins) and sit above them by scheduling noise only;
the bounds, [expected - 5 ms, expected * 1.15 + 20 ms], are tighter than the
distance to any wrong definition of the figures (TPOT over n tokens instead of
n - 1, TPOT including the first token, ITL including TTFT).

Usage: load_generator_test.py REPO_ROOT
"""
import http.server
import io
import json
import math
import os
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import zlib
from contextlib import redirect_stderr

ROOT = sys.argv.pop(1) if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "../../..")
SERVE = os.path.join(ROOT, "benchmarks", "serve")
sys.path.insert(0, SERVE)
import load_generator  # noqa: E402
import serving_metrics  # noqa: E402
import sweep  # noqa: E402
import workload  # noqa: E402
from serving_metrics import RequestResult  # noqa: E402


def parse_script(prompt):
    script = {"ttft": 0.0, "gaps": [0.0], "chunk": 1, "usage": True, "reject": False,
              "cut": False}
    if not isinstance(prompt, str):
        return script
    for word in prompt.split():
        key, _, value = word.partition("=")
        if key == "ttft":
            script["ttft"] = float(value)
        elif key == "gaps":
            script["gaps"] = [float(v) for v in value.split(",")]
        elif key == "chunk":
            script["chunk"] = int(value)
        elif key == "nousage":
            script["usage"] = False
        elif key in ("reject", "cut"):
            script[key] = True
    return script


class FakeServer:
    """OpenAI completions and TGI generate_stream over chunked HTTP/1.1,
    recording each body, its arrival time and the peak of requests in flight."""

    def __init__(self):
        self.bodies, self.arrivals = [], []
        self.in_flight = self.peak = 0
        self.unhealthy_for = self.health_calls = 0  # /health answers 503 this many times
        self.lock = threading.Lock()
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                if self.path == "/health":
                    fake.health_calls += 1
                    ready = fake.health_calls > fake.unhealthy_for
                    self._json(200 if ready else 503, {"status": "ok" if ready else "loading"})
                elif self.path == "/v1/models":
                    self._json(200, {"object": "list", "data": [{"id": "fake-bloom"}]})
                else:
                    self._json(404, {"error": "no route"})

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake.lock:
                    fake.bodies.append(body)
                    fake.arrivals.append(time.perf_counter())
                    fake.in_flight += 1
                    fake.peak = max(fake.peak, fake.in_flight)
                try:
                    if self.path == "/v1/completions":
                        self._openai(body)
                    elif self.path == "/generate_stream":
                        self._tgi(body)
                    else:
                        self._json(404, {"error": "no route"})
                finally:
                    with fake.lock:
                        fake.in_flight -= 1

            def _json(self, status, obj, headers=()):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers:
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _start_stream(self):
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

            def _event(self, payload):
                data = f"data: {payload}\n\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()

            def _end_stream(self):
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()

            def _schedule(self, script, count):
                """Sleeps before each of count tokens as the script says."""
                for i in range(count):
                    gaps = script["gaps"]
                    time.sleep(script["ttft"] if i == 0 else gaps[min(i - 1, len(gaps) - 1)])
                    yield i

            def _refuse_if_asked(self, script):
                if script["reject"]:
                    self._json(429, {"error": "queue full", "error_type": "overloaded"},
                               [("Retry-After", "1")])
                    return True
                return False

            def _openai(self, body):
                script = parse_script(body["prompt"])
                if self._refuse_if_asked(script):
                    return
                tokens = body["max_tokens"]
                chunks = math.ceil(tokens / script["chunk"])
                self._start_stream()
                for i in self._schedule(script, chunks):
                    if script["cut"] and i == 2:
                        self.close_connection = True
                        self.wfile.write(b"0\r\n\r\n")  # a clean end, but no [DONE]
                        return
                    self._event(json.dumps({
                        "id": "cmpl-1", "object": "text_completion", "created": 1,
                        "model": "fake-bloom",
                        "choices": [{"index": 0, "text": " tok" * script["chunk"],
                                     "finish_reason": None}]}))
                self._event(json.dumps({"id": "cmpl-1", "object": "text_completion",
                                        "created": 1, "model": "fake-bloom",
                                        "choices": [{"index": 0, "text": "",
                                                     "finish_reason": "length"}]}))
                if script["usage"]:
                    prompt = body["prompt"]
                    prompt_tokens = len(prompt.split()) if isinstance(prompt, str) else len(prompt)
                    self._event(json.dumps({"id": "cmpl-1", "object": "text_completion",
                                            "created": 1, "model": "fake-bloom", "choices": [],
                                            "usage": {"prompt_tokens": prompt_tokens,
                                                      "completion_tokens": tokens,
                                                      "total_tokens": prompt_tokens + tokens}}))
                self._event("[DONE]")
                self._end_stream()

            def _tgi(self, body):
                script = parse_script(body["inputs"])
                if self._refuse_if_asked(script):
                    return
                tokens = body["parameters"]["max_new_tokens"]
                self._start_stream()
                for i in self._schedule(script, tokens):
                    last = i == tokens - 1
                    self._event(json.dumps({
                        "index": i, "token": {"id": 100 + i, "text": " tok", "logprob": -0.5,
                                              "special": False},
                        "generated_text": " tok" * tokens if last else None,
                        "details": {"finish_reason": "length", "generated_tokens": tokens,
                                    "seed": None} if last else None}))
                self._end_stream()

        class Server(http.server.ThreadingHTTPServer):
            def handle_error(self, request, client_address):
                # A client closing its keep-alive connection is not news.
                if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
                    super().handle_error(request, client_address)

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def write_prompts(directory, name, rows):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        for prompt, max_tokens in rows:
            f.write(json.dumps({"prompt": prompt, "max_tokens": max_tokens}) + "\n")
    return path


def run_generator(argv):
    """load_generator.main in-process; returns (exit code, JSON or None, stderr)."""
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "run.json")
        err = io.StringIO()
        with redirect_stderr(err):
            code = load_generator.main(argv + ["--output", out])
        result = None
        if os.path.exists(out):
            with open(out) as f:
                result = json.load(f)
    return code, result, err.getvalue()


class Case(unittest.TestCase):
    def setUp(self):
        self.server = FakeServer()
        self.tmp = tempfile.mkdtemp(prefix="load_generator_test_")

    def tearDown(self):
        self.server.close()

    def assertNear(self, measured_ms, expected_ms, what=""):
        self.assertIsNotNone(measured_ms, what)
        self.assertGreaterEqual(measured_ms, expected_ms - 5, what)
        self.assertLessEqual(measured_ms, expected_ms * 1.15 + 20, what)


class OpenAiTimingTest(Case):
    # Four requests in flight together. Scheduled (ms): TTFT 100 200 300 400;
    # gaps 50,50 | 100 | 150,150 | none; so e2e 200 300 600 400, TPOT 50 100 150
    # (the one-token request has none), ITL 50 50 100 150 150.
    ROWS = [("ttft=0.1 gaps=0.05", 3), ("ttft=0.2 gaps=0.1", 2), ("ttft=0.3 gaps=0.15", 3),
            ("ttft=0.4", 1)]

    def test_latencies_throughput_and_goodput_match_the_schedule(self):
        prompts = write_prompts(self.tmp, "p.jsonl", self.ROWS)
        code, run, err = run_generator(
            ["--url", self.server.url, "--prompts-file", prompts, "--warmup-requests", "0",
             "--slo-ttft-ms", "350", "--slo-tpot-ms", "130", "--save-requests"])
        self.assertEqual(code, 0, err)
        self.assertEqual((run["completed"], run["failed"]), (4, 0))
        per_request = run["requests"]
        for row, ttft, e2e, tpot in zip(per_request, (100, 200, 300, 400), (200, 300, 600, 400),
                                        (50, 100, 150, None)):
            self.assertNear(row["ttft_s"] * 1e3, ttft, "ttft")
            self.assertNear(row["e2e_s"] * 1e3, e2e, "e2e")
            if tpot is None:
                self.assertIsNone(row["tpot_s"])
            else:
                self.assertNear(row["tpot_s"] * 1e3, tpot, "tpot")
        self.assertEqual([len(r["itl_s"]) for r in per_request], [2, 1, 2, 0])
        # Percentiles of the scheduled lists, worked by hand (linear interpolation).
        self.assertNear(run["ttft_ms"]["mean"], 250)
        self.assertNear(run["ttft_ms"]["median"], 250)
        self.assertNear(run["ttft_ms"]["p90"], 370)
        self.assertNear(run["ttft_ms"]["p99"], 397)
        self.assertNear(run["tpot_ms"]["median"], 100)
        self.assertNear(run["tpot_ms"]["p99"], 149)
        self.assertEqual(run["itl_ms"]["count"], 5)
        self.assertNear(run["itl_ms"]["mean"], 100)
        self.assertNear(run["itl_ms"]["median"], 100)
        self.assertNear(run["e2e_ms"]["median"], 350)
        self.assertNear(run["e2e_ms"]["p99"], 594)
        # Tokens come from the usage chunk: 9 out, 2 + 2 + 2 + 1 words in.
        self.assertEqual(run["total_output_tokens"], 9)
        self.assertEqual(run["total_input_tokens"], 7)
        # All four in flight at once: the wall time is the slowest request.
        self.assertNear(run["duration_s"] * 1e3, 600)
        self.assertAlmostEqual(run["request_throughput"], 4 / run["duration_s"])
        self.assertAlmostEqual(run["output_throughput"], 9 / run["duration_s"])
        self.assertAlmostEqual(run["total_token_throughput"], 16 / run["duration_s"])
        # TTFT <= 350 and TPOT <= 130: the first two (the 400 ms TTFT and the
        # 150 ms TPOT miss).
        self.assertEqual(run["goodput"]["good_requests"], 2)
        self.assertAlmostEqual(run["goodput"]["request_goodput"], 2 / run["duration_s"])
        self.assertEqual(self.server.peak, 4)
        # The request body: the model from /v1/models, streaming with usage.
        body = self.server.bodies[0]
        self.assertEqual(body["model"], "fake-bloom")
        self.assertIs(body["stream"], True)
        self.assertEqual(body["stream_options"], {"include_usage": True})
        self.assertNotIn("min_tokens", body)
        self.assertIn("TTFT", err)

    def test_tokens_are_counted_from_usage_else_from_chunks(self):
        # Six tokens in three chunks of two, 100 ms apart after a 100 ms TTFT.
        prompts = write_prompts(self.tmp, "p.jsonl", [("ttft=0.1 gaps=0.1 chunk=2", 6),
                                                      ("ttft=0.1 gaps=0.1 chunk=2 nousage", 6)])
        code, run, err = run_generator(["--url", self.server.url, "--prompts-file", prompts,
                                        "--warmup-requests", "0", "--save-requests"])
        self.assertEqual(code, 0, err)
        with_usage, without = run["requests"]
        self.assertEqual((with_usage["output_tokens"], with_usage["token_chunks"]), (6, 3))
        self.assertEqual((without["output_tokens"], without["token_chunks"]), (3, 3))
        self.assertEqual(len(with_usage["itl_s"]), 2)
        self.assertNear(with_usage["e2e_s"] * 1e3, 300)
        self.assertNear(with_usage["tpot_s"] * 1e3, 200 / 5)  # (e2e - TTFT) / (6 - 1)
        self.assertNear(without["tpot_s"] * 1e3, 200 / 2)
        self.assertIsNone(without["prompt_tokens"])  # text prompt, no usage: unknown
        self.assertEqual(run["requests_without_input_count"], 1)


class TgiTimingTest(Case):
    def test_tgi_stream_is_timed_per_token_event(self):
        # Four tokens: TTFT 150 ms, gaps 50, 100, 100: e2e 400, TPOT 250/3.
        prompts = write_prompts(self.tmp, "p.jsonl", [("ttft=0.15 gaps=0.05,0.1", 4)])
        code, run, err = run_generator(["--url", self.server.url, "--api", "tgi",
                                        "--prompts-file", prompts, "--warmup-requests", "0",
                                        "--save-requests"])
        self.assertEqual(code, 0, err)
        (row,) = run["requests"]
        self.assertEqual((row["output_tokens"], row["finish_reason"]), (4, "length"))
        self.assertNear(row["ttft_s"] * 1e3, 150)
        for gap, expected in zip(row["itl_s"], (50, 100, 100)):
            self.assertNear(gap * 1e3, expected, "itl")
        self.assertNear(row["e2e_s"] * 1e3, 400)
        self.assertNear(row["tpot_s"] * 1e3, 250 / 3)
        body = self.server.bodies[0]
        self.assertEqual(body["inputs"], "ttft=0.15 gaps=0.05,0.1")
        self.assertEqual(body["parameters"]["max_new_tokens"], 4)


class LoadShapeTest(Case):
    def test_fixed_concurrency_caps_requests_in_flight(self):
        # Six 100 ms requests, two at a time: three waves, 300 ms and some
        # overhead per wave (three at a time would take 200 ms, one 600).
        prompts = write_prompts(self.tmp, "p.jsonl", [("ttft=0.1", 1)] * 6)
        code, run, err = run_generator(["--url", self.server.url, "--prompts-file", prompts,
                                        "--concurrency", "2", "--warmup-requests", "0"])
        self.assertEqual(code, 0, err)
        self.assertEqual(self.server.peak, 2)
        self.assertEqual(run["completed"], 6)
        self.assertGreaterEqual(run["duration_s"], 0.295)
        self.assertLess(run["duration_s"], 0.45)

    def test_poisson_arrivals_follow_the_seeded_schedule(self):
        code, run, err = run_generator(
            ["--url", self.server.url, "--request-rate", "20", "--num-requests", "8",
             "--input-len-min", "3", "--input-len-max", "3", "--output-len-min", "1",
             "--output-len-max", "1", "--seed", "5", "--warmup-requests", "0"])
        self.assertEqual(code, 0, err)
        expected = workload.arrival_offsets(8, 20.0, 1.0, seed=6)  # the run's seed + 1
        arrivals = sorted(self.server.arrivals)
        for got, want in zip(arrivals, expected):
            self.assertGreaterEqual(got - arrivals[0], want - 0.02)
            self.assertLessEqual(got - arrivals[0], want + 0.03)

    def test_random_prompts_are_token_ids_in_range_and_seeded(self):
        def bodies(*extra):
            self.server.bodies.clear()
            code, _, err = run_generator(
                ["--url", self.server.url, "--num-requests", "20", "--input-len-min", "5",
                 "--input-len-max", "9", "--output-len-min", "2", "--output-len-max", "4",
                 "--vocab-size", "50", "--warmup-requests", "0", "--concurrency", "4"]
                + list(extra))
            self.assertEqual(code, 0, err)
            return sorted(json.dumps(b, sort_keys=True) for b in self.server.bodies)

        first = bodies("--seed", "7")
        self.assertEqual(first, bodies("--seed", "7"))
        self.assertNotEqual(first, bodies("--seed", "8"))
        lengths = set()
        for body in map(json.loads, first):
            self.assertTrue(all(isinstance(t, int) and 0 <= t < 50 for t in body["prompt"]))
            lengths.add(len(body["prompt"]))
            self.assertIn(body["max_tokens"], (2, 3, 4))
            self.assertNotIn("min_tokens", body)
        self.assertTrue(lengths <= set(range(5, 10)) and len(lengths) > 1, lengths)
        for body in map(json.loads, bodies("--seed", "7", "--min-tokens-equal-max")):
            self.assertEqual(body["min_tokens"], body["max_tokens"])


class FailureTest(Case):
    def test_rejected_and_cut_requests_are_counted_by_cause(self):
        prompts = write_prompts(self.tmp, "p.jsonl", [("ttft=0.01", 2), ("reject", 2),
                                                      ("ttft=0.01", 2), ("reject", 2),
                                                      ("cut", 5)])
        code, run, err = run_generator(["--url", self.server.url, "--prompts-file", prompts,
                                        "--warmup-requests", "0", "--slo-ttft-ms", "1000"])
        self.assertEqual(code, 0, err)
        self.assertEqual((run["completed"], run["failed"]), (2, 3))
        self.assertEqual(run["failures_by_cause"], {"HTTP 429": 2, "stream ended early": 1})
        self.assertTrue(any("overloaded" in e for e in run["failure_examples"]))
        self.assertEqual(run["goodput"]["good_requests"], 2)
        self.assertEqual(run["total_output_tokens"], 4)  # failures carry no tokens
        self.assertAlmostEqual(run["request_throughput"], 2 / run["duration_s"])

    def test_a_failing_warm_up_stops_the_run_with_one_line(self):
        prompts = write_prompts(self.tmp, "p.jsonl", [("reject", 2)])
        code, run, err = run_generator(["--url", self.server.url, "--prompts-file", prompts])
        self.assertEqual(code, 1)
        self.assertIsNone(run)
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("warm-up request failed: HTTP 429", err)


class HealthWaitTest(Case):
    def test_waits_for_health_then_runs_or_gives_up_in_one_line(self):
        self.server.unhealthy_for = 2
        argv = ["--url", self.server.url, "--num-requests", "1", "--input-len-min", "2",
                "--input-len-max", "2", "--output-len-min", "1", "--output-len-max", "1",
                "--wait-for-health", "5"]
        code, run, err = run_generator(argv)
        self.assertEqual(code, 0, err)
        self.assertEqual(self.server.health_calls, 3)
        self.assertEqual(run["completed"], 1)
        self.server.unhealthy_for = 10 ** 9
        code, run, err = run_generator(argv[:-1] + ["0.6"])
        self.assertEqual((code, run), (1, None))
        self.assertEqual(len(err.strip().splitlines()), 1, err)
        self.assertIn("/health did not answer 200 within 0.6 s (last: HTTP 503)", err)


class CommandLineTest(unittest.TestCase):
    def _run(self, *argv):
        return subprocess.run([sys.executable, os.path.join(SERVE, "load_generator.py")]
                              + list(argv), capture_output=True, text=True, timeout=60)

    def test_bad_arguments_and_unreachable_server_are_one_line(self):
        with socket.socket() as s:  # a port with nothing listening
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        cases = [(("--request-rate", "0"), 2, "--request-rate"),
                 (("--input-len-min", "9", "--input-len-max", "3"), 2, "--input-len-min"),
                 (("--url", "https://example.com"), 2, "--url"),
                 (("--api", "tgi", "--min-tokens-equal-max"), 2, "openai only"),
                 (("--prompts-file", "/nonexistent/p.jsonl"), 2, "--prompts-file"),
                 (("--url", f"http://127.0.0.1:{port}"), 1, "cannot reach")]
        for argv, code, needle in cases:
            done = self._run(*argv)
            self.assertEqual(done.returncode, code, (argv, done.stderr))
            self.assertEqual(len(done.stderr.strip().splitlines()), 1, (argv, done.stderr))
            self.assertTrue(done.stderr.startswith("load_generator: "), done.stderr)
            self.assertIn(needle, done.stderr)
            self.assertEqual(done.stdout, "")

    def test_bad_prompts_file_line_is_named(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "p.jsonl")
            with open(path, "w") as f:
                f.write('{"prompt": "a", "max_tokens": 2}\n\n{"prompt": "b", "max_tokens": 0}\n')
            with self.assertRaisesRegex(ValueError, r"p\.jsonl:3: max_tokens"):
                workload.read_prompts_file(path)
            with open(path, "w") as f:
                f.write('{"prompt": "a", "max_tokens": 2}\n{"prompt": [5, 6], "max_tokens": 3}\n')
            cycled = workload.read_prompts_file(path, 5)
            self.assertEqual([r.prompt for r in cycled], ["a", [5, 6], "a", [5, 6], "a"])
            self.assertEqual([r.prompt_tokens for r in cycled[:2]], [None, 2])


class ArithmeticTest(unittest.TestCase):
    def test_percentiles_by_hand(self):
        p = serving_metrics.percentile
        self.assertEqual(p([4, 1, 3, 2], 50), 2.5)
        self.assertAlmostEqual(p([1, 2, 3, 4], 90), 3.7)
        self.assertAlmostEqual(p([1, 2, 3, 4], 99), 3.97)
        self.assertAlmostEqual(p([10, 20, 30, 40, 50], 90), 46.0)
        self.assertEqual(p([10, 20, 30, 40, 50], 50), 30)
        self.assertEqual(p([7], 99), 7)
        self.assertEqual(p([1, 2], 100), 2)
        self.assertEqual(p([1, 2], 0), 1)
        self.assertIsNone(p([], 50))
        summary = serving_metrics.summary_ms([0.001, 0.002, 0.003, 0.004])
        self.assertAlmostEqual(summary["mean"], 2.5)
        self.assertAlmostEqual(summary["p99"], 3.97)

    def test_poisson_gaps_have_the_rate_as_mean(self):
        offsets = workload.arrival_offsets(20000, 50.0, 1.0, seed=3)
        gaps = [b - a for a, b in zip(offsets, offsets[1:])]
        self.assertEqual(offsets[0], 0.0)
        self.assertAlmostEqual(statistics.mean(gaps) * 50.0, 1.0, delta=0.03)
        # Exponential gaps: the standard deviation equals the mean; a gamma of
        # shape 4 halves it (1 / sqrt(shape)).
        self.assertAlmostEqual(statistics.pstdev(gaps) / statistics.mean(gaps), 1.0, delta=0.04)
        even = workload.arrival_offsets(20000, 50.0, 4.0, seed=3)
        even_gaps = [b - a for a, b in zip(even, even[1:])]
        self.assertAlmostEqual(statistics.mean(even_gaps) * 50.0, 1.0, delta=0.03)
        self.assertAlmostEqual(statistics.pstdev(even_gaps) / statistics.mean(even_gaps), 0.5,
                               delta=0.03)
        self.assertEqual(offsets, workload.arrival_offsets(20000, 50.0, 1.0, seed=3))
        self.assertEqual(workload.arrival_offsets(5, math.inf), [0.0] * 5)

    def test_goodput_counts_requests_meeting_every_bound(self):
        def done(ttft, latency, tokens):
            return RequestResult(success=True, ttft=ttft, latency=latency, output_tokens=tokens)

        results = [
            done(0.5, 2.5, 41),  # TTFT 500 (= bound), TPOT 50 (= bound): good
            done(0.2, 1.0, 11),  # TPOT 80: bad
            done(0.6, 0.6, 1),  # TTFT 600: bad
            done(0.1, 0.1, 1),  # one token, TPOT 0: good
            RequestResult(success=True, ttft=None, latency=0.3, output_tokens=0),  # no TTFT
            RequestResult(success=False, cause="HTTP 429"),
        ]
        figures = serving_metrics.aggregate(results, 2.0, slo_ttft_ms=500, slo_tpot_ms=50)
        self.assertEqual(figures["goodput"]["good_requests"], 2)
        self.assertEqual(figures["goodput"]["request_goodput"], 1.0)
        self.assertEqual((figures["completed"], figures["failed"]), (5, 1))
        self.assertEqual(figures["request_throughput"], 2.5)
        self.assertEqual(figures["total_output_tokens"], 54)
        self.assertEqual(figures["tpot_ms"]["count"], 2)  # only requests of > 1 token
        only_ttft = serving_metrics.aggregate(results, 2.0, slo_ttft_ms=500)
        self.assertEqual(only_ttft["goodput"]["good_requests"], 3)
        self.assertIsNone(serving_metrics.aggregate(results, 2.0)["goodput"]["good_requests"])


def fake_run(label, rate, p99_ttft, p99_tpot, failed=0, num=100):
    return {"tool": "benchmarks/serve/load_generator.py", "label": label, "request_rate": rate,
            "num_requests": num, "completed": num - failed, "failed": failed,
            "ttft_ms": {"p99": p99_ttft}, "tpot_ms": {"p99": p99_tpot},
            "request_throughput": 1.0, "output_throughput": 100.0}


class SweepTest(unittest.TestCase):
    def test_highest_rate_under_slo_from_hand_written_runs(self):
        best = sweep.max_rate_under_slo
        runs = [fake_run("c", 1, 100, 20), fake_run("c", 2, 300, 40), fake_run("c", 4, 500, 50),
                fake_run("c", 8, 900, 45)]
        self.assertEqual(best(runs, 500, 50), 4)  # bounds met with equality hold
        self.assertEqual(best(runs, 500, 45), 2)  # TPOT 50 at rate 4 misses
        self.assertEqual(best(list(reversed(runs)), 1000, 50), 8)  # order of files irrelevant
        self.assertIsNone(best(runs, 50, 50))
        # A rate that holds only after one that missed does not count.
        fluke = [fake_run("s", 1, 100, 20), fake_run("s", 2, 800, 20), fake_run("s", 4, 400, 20)]
        self.assertEqual(best(fluke, 500, 50), 1)
        # Failures break the SLO even when the survivors are fast.
        shed = [fake_run("s", 1, 100, 20), fake_run("s", 2, 100, 20, failed=3)]
        self.assertEqual(best(shed, 500, 50), 1)
        self.assertEqual(best(shed, 500, 50, max_failed_fraction=0.05), 2)
        self.assertEqual(best(runs + [fake_run("c", "inf", 100, 20)], 1000, 50), math.inf)

    def test_summary_ratio_and_plot(self):
        runs = [fake_run("continuous", r, t, 30) for r, t in ((1, 100), (2, 150), (4, 200),
                                                               (8, 450), (16, 5000))]
        runs += [fake_run("static", r, t, 30) for r, t in ((1, 300), (2, 600), (4, 4000))]
        summary = sweep.summarise(runs, 500, 50, baseline="static")
        self.assertEqual(summary["labels"]["continuous"]["max_rate_under_slo"], 8)
        self.assertEqual(summary["labels"]["static"]["max_rate_under_slo"], 1)
        self.assertEqual(summary["ratio_to_baseline"]["continuous"], 8.0)
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "sweep.png")
            self.assertTrue(sweep.plot(runs, summary, path))
            with open(path, "rb") as f:
                data = f.read()
        self.assertEqual(data[:8], b"\x89PNG\r\n\x1a\n")
        self.assertEqual(struct.unpack(">II", data[16:24]), (1200, 840))
        idat = struct.unpack(">I", data[33:37])[0]
        pixels = zlib.decompress(data[41:41 + idat])
        for color in (sweep.PALETTE[0], sweep.PALETTE[1], sweep.SLO_COLOR):
            self.assertIn(bytes(color), pixels)

    def test_sweep_runs_the_generator_per_rate_against_a_server(self):
        server = FakeServer()
        try:
            with tempfile.TemporaryDirectory() as tmp:
                err = io.StringIO()
                with redirect_stderr(err):
                    code = sweep.main(["--target", f"fast={server.url}", "--rates", "10,40",
                                       "--out-dir", tmp, "--slo-ttft-ms", "500",
                                       "--slo-tpot-ms", "50", "--", "--num-requests", "4",
                                       "--input-len-min", "2", "--input-len-max", "4",
                                       "--output-len-min", "2", "--output-len-max", "3",
                                       "--warmup-requests", "0", "--quiet"])
                self.assertEqual(code, 0, err.getvalue())
                with open(os.path.join(tmp, "sweep.json")) as f:
                    summary = json.load(f)
                self.assertTrue(os.path.exists(os.path.join(tmp, "sweep.png")))
                rows = summary["labels"]["fast"]["runs"]
                self.assertEqual([r["request_rate"] for r in rows], [10, 40])
                self.assertEqual([r["completed"] for r in rows], [4, 4])
                self.assertEqual(summary["labels"]["fast"]["max_rate_under_slo"], 40)
                self.assertEqual(len(server.bodies), 8)
                # Requests scaled to the rate (10 x 0.2 s -> at least 3; 40 x 0.2 s -> 8),
                # and a target that misses the SLO stopped after its first rate; the
                # first target's runs are kept in the summary.
                common = ["--rates", "40,10", "--out-dir", tmp, "--seconds-per-rate", "0.2",
                          "--min-requests", "3", "--stop-after-misses", "1"]
                prompts = write_prompts(tmp, "slow.jsonl", [("ttft=0.1", 1)])
                with redirect_stderr(err):
                    code = sweep.main(["--target", f"scaled={server.url}"] + common
                                      + ["--", "--input-len-min", "2", "--input-len-max", "4",
                                         "--output-len-min", "1", "--output-len-max", "2",
                                         "--warmup-requests", "0", "--quiet"])
                    self.assertEqual(code, 0, err.getvalue())
                    code = sweep.main(["--target", f"slow={server.url}", "--slo-ttft-ms", "50"]
                                      + common + ["--", "--prompts-file", prompts,
                                                  "--warmup-requests", "0", "--quiet"])
                self.assertEqual(code, 0, err.getvalue())
                with open(os.path.join(tmp, "sweep.json")) as f:
                    summary = json.load(f)
                self.assertEqual(sorted(summary["labels"]), ["fast", "scaled", "slow"])
                slow = summary["labels"]["slow"]
                self.assertEqual([r["request_rate"] for r in slow["runs"]], [10])
                self.assertIsNone(slow["max_rate_under_slo"])
                self.assertEqual([r["completed"] for r in summary["labels"]["scaled"]["runs"]],
                                 [3, 8])
        finally:
            server.close()


if __name__ == "__main__":
    unittest.main()
