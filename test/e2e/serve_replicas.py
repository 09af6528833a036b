"""bloom-serve --replicas=K as clients see it: real servers on loopback over
the embedded model (models/bloom/tiny-random, compiled here, CPU backend),
queried over HTTP with serve_test.py's client. Checks that with K=2 and K=3
many concurrent greedy requests get offline bloom-run's tokens; that
concurrent long requests are spread over every replica and the per-replica
/metrics series add up to the totals; that the router takes the
least-loaded replica (not the next in turn); that a client leaving a
request on replica 1 frees it there and leaves replica 0 alone; that
SIGTERM drains (or, past the grace period, cancels) every replica; and that
bad --replicas values are one-line usage errors."""
import argparse
import faulthandler
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_test  # noqa: E402  (its Server client and check())
from serve_test import Server, check  # noqa: E402

EXIT_USAGE = 2


def per_replica(m, name, k):
    return [m.get(f'{name}{{replica="{i}"}}') for i in range(k)]


def labelled_sum(m, name):
    return sum(v for key, v in m.items() if key.startswith(name + "{"))


def view(m):
    """The replica series and the totals they add up to (for a failure's detail)."""
    return {key: v for key, v in m.items() if "replica" in key or key.startswith(
        ("bloom:num_requests", "bloom:request_", "bloom:generation", "bloom:kv"))
        and "seconds" not in key}


def post(server, path, body, timeout=120):
    """(status, JSON body) of a request that may take long (a slow build)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=timeout)
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    text = resp.read().decode("utf-8")
    conn.close()
    return resp.status, text


def delta(after, before):
    return [a - b for a, b in zip(after, before)]


class LongStream:
    """A streamed completion held open after its first text (so it has been
    admitted; the engine keeps generating), until leave() closes the
    connection mid-stream."""

    def __init__(self, server, ids, max_tokens):
        self.conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        self.conn.request("POST", "/v1/completions", body=json.dumps({
            "prompt": ids, "max_tokens": max_tokens, "ignore_eos": True, "temperature": 0,
            "stream": True}), headers={"Content-Type": "application/json"})
        self.resp = self.conn.getresponse()
        # The raw chunked body: size lines, SSE comments, then a data event.
        while True:
            line = self.resp.fp.readline()
            if line.startswith(b"data:"):
                break
            if not line:
                sys.exit(f"FAILED: a long stream ended before its first text "
                         f"(HTTP {self.resp.status}): {server.log()[-1000:]}")

    def leave(self):
        self.conn.sock.close()
        self.resp.close()
        self.conn.close()


def wait_metrics(server, ready, seconds=20):
    """/metrics once `ready(m)` holds, or the last read after `seconds`."""
    deadline, m = time.time() + seconds, {}
    while time.time() < deadline:
        m = server.metrics()
        if ready(m):
            break
        time.sleep(0.05)
    return m


def offline_batch(bloom_run, plan, lines, tmp):
    path = os.path.join(tmp, "replicas_requests.jsonl")
    with open(path, "w") as f:
        for line in lines:
            f.write(json.dumps(line) + "\n")
    out = subprocess.run([bloom_run, plan, f"--input={path}"], capture_output=True, text=True,
                         timeout=120)
    if out.returncode != 0:
        sys.exit(f"FAILED: bloom-run --input: {out.stderr}")
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]


def parity(server, k, bloom_run, plan, tmp):
    """24 concurrent greedy requests (OpenAI token prompts, TGI text prompts
    with their ids in details) against offline bloom-run."""
    rng = random.Random(16 + k)
    openai_cases = [([rng.randrange(3, 1000) for _ in range(rng.randrange(2, 9))],
                     rng.randrange(4, 40)) for _ in range(12)]
    tgi_cases = [(f"request {i} of {k} replicas says hello", rng.randrange(4, 40))
                 for i in range(12)]
    want = offline_batch(bloom_run, plan,
                         [{"tokens": ids, "max_new_tokens": n, "ignore_eos": True}
                          for ids, n in openai_cases] +
                         [{"prompt": text, "max_new_tokens": n} for text, n in tgi_cases], tmp)
    before = per_replica(server.metrics(), "bloom:replica_requests_total", k)
    got = [None] * 24

    def client(i):
        if i < 12:
            ids, n = openai_cases[i]
            got[i] = server.json("/v1/completions", {"prompt": ids, "max_tokens": n,
                                                     "temperature": 0, "ignore_eos": True})[2]
        else:
            text, n = tgi_cases[i - 12]
            got[i] = server.json("/generate", {"inputs": text, "parameters": {
                "max_new_tokens": n, "details": True}})[2]

    threads = [threading.Thread(target=client, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    bad = []
    for i in range(24):
        if i < 12:
            ok = got[i]["choices"][0]["text"] == want[i]["text"] and \
                got[i]["usage"]["completion_tokens"] == len(want[i]["tokens"])
        else:
            ok = [t["id"] for t in got[i]["details"]["tokens"]] == want[i]["tokens"]
        if not ok:
            bad.append((i, got[i], want[i]))
    check(f"--replicas={k}: 24 concurrent greedy requests get offline bloom-run's tokens",
          not bad, bad[:2])
    routed = delta(per_replica(server.metrics(), "bloom:replica_requests_total", k), before)
    check(f"--replicas={k}: the 24 requests were routed to every replica, {routed}",
          sum(routed) == 24 and all(r >= 1 for r in routed), routed)


def spread(server, k, n):
    """`n` long streams held open at once (each submitted while the earlier
    ones still run, whatever the machine's speed): the router spreads them
    evenly; once their clients leave, every replica's counters add up and
    sum to the totals."""
    m0 = server.metrics()
    before = per_replica(m0, "bloom:replica_requests_total", k)
    streams = [LongStream(server, [5 + i, 6, 7], 16000) for i in range(n)]
    # The engines publish their gauges after a step: wait for the last one.
    m = wait_metrics(server, lambda m: per_replica(
        m, "bloom:replica_num_requests_running", k) == [n // k] * k)
    routed = delta(per_replica(m, "bloom:replica_requests_total", k), before)
    check(f"--replicas={k}: {n} concurrent long streams are spread evenly, {routed}",
          routed == [n // k] * k and
          per_replica(m, "bloom:replica_num_requests_running", k) == [n // k] * k, view(m))
    for stream in streams:
        stream.leave()
    m = wait_metrics(server, lambda m: m.get("bloom:num_requests_running") == 0 and m.get(
        'bloom:request_failure_total{cause="client_disconnected"}') == n)
    success = per_replica(m, "bloom:replica_request_success_total", k)
    failure = per_replica(m, "bloom:replica_request_failure_total", k)
    tokens = per_replica(m, "bloom:replica_generation_tokens_total", k)
    requests = per_replica(m, "bloom:replica_requests_total", k)
    check(f"--replicas={k}: per-replica successes sum to request_success_total",
          sum(success) == labelled_sum(m, "bloom:request_success_total"), view(m))
    check(f"--replicas={k}: per-replica tokens sum to generation_tokens_total",
          sum(tokens) == m["bloom:generation_tokens_total"], view(m))
    check(f"--replicas={k}: each replica's requests all ended (success + failure), the left "
          "streams counted as failures where they ran",
          [s + f for s, f in zip(success, failure)] == requests and
          sum(failure) == n == m.get('bloom:request_failure_total{cause="client_disconnected"}'),
          view(m))
    check(f"--replicas={k}: gauges sum to the totals and the KV blocks are all free again",
          m["bloom:num_replicas"] == k and
          sum(per_replica(m, "bloom:replica_num_requests_running", k)) == 0 and
          sum(per_replica(m, "bloom:replica_num_requests_waiting", k)) == 0 and
          per_replica(m, "bloom:replica_kv_cache_usage_perc", k) == [0] * k and
          m["bloom:kv_cache_usage_perc"] == 0, view(m))


def least_loaded_and_disconnect(server):
    """Replica 0 busy with a long stream: the next requests go to replica 1
    (twice: the least loaded, not the next in turn); a stream left on
    replica 1 is cancelled there and replica 0's request carries on."""
    requests = lambda m: per_replica(m, "bloom:replica_requests_total", 2)
    m0 = server.metrics()
    base, free0 = requests(m0), per_replica(m0, "bloom:replica_kv_blocks_free", 2)
    a = LongStream(server, [5, 6], 16000)
    check("an idle pair takes the first request on replica 0 (ties: lowest index)",
          delta(requests(server.metrics()), base) == [1, 0], requests(server.metrics()))
    for n in (1, 2):
        status, _, _ = server.request("POST", "/v1/completions", {
            "prompt": [9, 8, 7], "max_tokens": 8, "temperature": 0})
        got = delta(requests(server.metrics()), base)
        check(f"replica 0 busy: short request {n} goes to replica 1", status == 200 and
              got == [1, n], got)
    d = LongStream(server, [11, 12], 16000)
    m = wait_metrics(server, lambda m: per_replica(
        m, "bloom:replica_num_requests_running", 2) == [1, 1])
    check("a long stream while replica 0 is busy goes to replica 1, both running",
          delta(requests(m), base) == [1, 3] and
          per_replica(m, "bloom:replica_num_requests_running", 2) == [1, 1], view(m))
    d.leave()
    m = wait_metrics(server, lambda m: per_replica(
        m, "bloom:replica_num_requests_running", 2) == [1, 0] and per_replica(
        m, "bloom:replica_request_failure_total", 2)[1] == 1)
    check("a client leaving its stream on replica 1 cancels it there and frees its KV blocks",
          per_replica(m, "bloom:replica_num_requests_running", 2) == [1, 0] and
          per_replica(m, "bloom:replica_request_failure_total", 2) == [0, 1] and
          per_replica(m, "bloom:replica_kv_cache_usage_perc", 2)[1] == 0 and
          m.get('bloom:request_failure_total{cause="client_disconnected"}') == 1, view(m))
    a.leave()
    m = wait_metrics(server, lambda m: m.get("bloom:num_requests_running") == 0 and per_replica(
        m, "bloom:replica_request_failure_total", 2) == [1, 1])
    check("then replica 0's stream, left too, is cancelled there",
          per_replica(m, "bloom:replica_request_failure_total", 2) == [1, 1] and
          per_replica(m, "bloom:replica_kv_blocks_free", 2) == free0 and
          m["bloom:kv_cache_usage_perc"] == 0, view(m))


def shutdown(serve, plan):
    """SIGTERM with a request on each replica: both finish, exit 0; past a
    short grace period both are cancelled, exit 0."""
    for grace, tokens, want in (("120s", 1000, 200), ("300ms", 16000, 503)):
        s = Server(serve, plan, "--replicas=2", f"--grace-period={grace}")
        codes = []

        def client(i):
            codes.append(post(s, "/v1/completions", {
                "prompt": [5 + i, 6], "max_tokens": tokens, "ignore_eos": True})[0])

        threads = [threading.Thread(target=client, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        m = wait_metrics(s, lambda m: per_replica(
            m, "bloom:replica_num_requests_running", 2) == [1, 1], 10)
        code = s.stop()
        for t in threads:
            t.join()
        check(f"SIGTERM (grace {grace}) with a request running on each replica: "
              f"both answered {want}, exit 0",
              per_replica(m, "bloom:replica_num_requests_running", 2) == [1, 1] and code == 0 and
              codes == [want, want] and "finishing 2 in-flight requests" in s.log(),
              (code, codes, view(m), s.log()[-600:]))


def usage_errors(serve, plan):
    for value in ("0", "65", "-1", "two"):
        out = subprocess.run([serve, plan, "--port=0", f"--replicas={value}"],
                             capture_output=True, text=True, timeout=30)
        lines = out.stderr.strip().splitlines()
        check(f"--replicas={value}: a one-line usage error",
              out.returncode == EXIT_USAGE and len(lines) == 1 and "--replicas" in lines[0],
              (out.returncode, out.stderr))
    env = dict(os.environ, OMPI_COMM_WORLD_SIZE="2", OMPI_COMM_WORLD_RANK="0")
    out = subprocess.run([serve, plan, "--port=0", "--replicas=2"], capture_output=True,
                         text=True, timeout=30, env=env)
    lines = out.stderr.strip().splitlines()
    check("--replicas=2 under mpirun: a one-line usage error naming mpirun",
          out.returncode == EXIT_USAGE and len(lines) == 1 and "mpirun" in lines[0],
          (out.returncode, out.stderr))
    check("--help describes --replicas", "--replicas" in subprocess.run(
        [serve, "--help"], capture_output=True, text=True, timeout=30).stdout)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", required=True, help="bloom-compile, bloom-run, bloom-serve")
    parser.add_argument("--serve", help="bloom-serve to test (default: BIN/bloom-serve)")
    parser.add_argument("--repo", required=True)
    args = parser.parse_args()
    # A hang shows where it is before CTest's timeout kills the script.
    faulthandler.dump_traceback_later(170, exit=True)
    serve = args.serve or os.path.join(args.bin, "bloom-serve")
    bloom_run = os.path.join(args.bin, "bloom-run")
    model = os.path.join(args.repo, "models/bloom/tiny-random")
    with tempfile.TemporaryDirectory(prefix="bloom-serve-replicas-") as tmp:
        # 16,384 positions: a stream outlasts the checks made while it runs
        # on any machine (they end it by leaving).
        plan = os.path.join(tmp, "plan")
        subprocess.run([os.path.join(args.bin, "bloom-compile"), f"--model={model}", "-o", plan,
                        "--max-seq-len=16384"], check=True, capture_output=True, timeout=120)
        usage_errors(serve, plan)
        for k in (2, 3):
            s = Server(serve, plan, f"--replicas={k}")
            status, _, text = s.request("GET", "/health")
            check(f"--replicas={k}: /health is 200 naming the replicas",
                  status == 200 and json.loads(text).get("replicas") == k, text)
            parity(s, k, bloom_run, plan, tmp)
            spread(s, k, 3 * k)
            check(f"--replicas={k}: SIGTERM exits 0", s.stop() == 0, s.log()[-500:])
        s = Server(serve, plan, "--replicas=2")
        least_loaded_and_disconnect(s)
        check("--replicas=2: SIGTERM exits 0", s.stop() == 0, s.log()[-500:])
        shutdown(serve, plan)
    if serve_test.FAILURES:
        sys.exit(f"{len(serve_test.FAILURES)} checks failed: {serve_test.FAILURES}")


if __name__ == "__main__":
    main()
