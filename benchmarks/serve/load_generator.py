#!/usr/bin/env python3
"""A load generator for bloom-serve (or any server speaking the OpenAI
completions or TGI streaming API), following vLLM's serving benchmark: requests
arrive by a Poisson process at --request-rate (or all at once), optionally
capped at --concurrency in flight (alone: a fixed concurrency); every request
streams; the run reports TTFT, TPOT, ITL, e2e latency, throughputs and goodput
(definitions in serving_metrics.py) as one JSON object, and a table on stderr.

Standard library only. One thread per request in flight.

  load_generator.py --url http://127.0.0.1:8080 --request-rate 4 --num-requests 200 \\
      --input-len-min 128 --input-len-max 512 --output-len-min 64 --output-len-max 256 \\
      --slo-ttft-ms 500 --slo-tpot-ms 50 --output run.json
"""
import argparse
import datetime
import http.client
import json
import math
import os
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serving_metrics  # noqa: E402
import stream_client  # noqa: E402
import workload  # noqa: E402

PROG = "load_generator"


class UsageError(Exception):
    """A bad argument or prompts file: exit 2."""
    exit_code = 2


class ServerError(UsageError):
    """The server is unreachable or fails the warm-up: exit 1."""
    exit_code = 1


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise UsageError(f"{message} (see --help)")


def _positive_float_or_inf(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0 (or inf): {text!r}")
    return value


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1: {text!r}")
    return value


def _non_negative_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return value


def _positive_float(text):
    value = _positive_float_or_inf(text)
    if math.isinf(value):
        raise argparse.ArgumentTypeError(f"must be finite: {text!r}")
    return value


def build_parser():
    p = _Parser(prog=PROG, description=__doc__.split("\n\n")[0],
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8080", help="server base URL (http only)")
    p.add_argument("--api", choices=("openai", "tgi"), default="openai",
                   help="openai: POST /v1/completions; tgi: POST /generate_stream")
    p.add_argument("--label", default="", help="free text stored in the JSON (sweep groups by it)")
    p.add_argument("--model", default=None,
                   help="the OpenAI `model` field (default: GET /v1/models' first, else none)")
    load = p.add_argument_group("load")
    load.add_argument("--request-rate", type=_positive_float_or_inf, default=math.inf,
                      help="requests/s, Poisson arrivals (default inf: all at once)")
    load.add_argument("--burstiness", type=_positive_float, default=1.0,
                      help="gamma shape of the gaps: 1 Poisson, <1 burstier, >1 more even")
    load.add_argument("--concurrency", type=_positive_int, default=None,
                      help="at most this many in flight (alone: a fixed concurrency)")
    load.add_argument("--num-requests", type=_positive_int, default=None,
                      help="requests to send (default 100, or the prompts file's lines)")
    load.add_argument("--warmup-requests", type=_non_negative_int, default=1,
                      help="sent one at a time before the run, not measured; the run stops if "
                           "one fails (default 1)")
    load.add_argument("--wait-for-health", type=_positive_float, default=None, metavar="S",
                      help="first wait up to S seconds for GET /health to answer 200 "
                           "(a server still loading its model)")
    load.add_argument("--request-timeout", type=_positive_float, default=600.0,
                      help="seconds without data before a request fails")
    data = p.add_argument_group("requests")
    data.add_argument("--input-len-min", type=_positive_int, default=128)
    data.add_argument("--input-len-max", type=_positive_int, default=512)
    data.add_argument("--output-len-min", type=_positive_int, default=64)
    data.add_argument("--output-len-max", type=_positive_int, default=256)
    data.add_argument("--vocab-size", type=_positive_int, default=250880,
                      help="prompt token ids are drawn below this (BLOOM's 250880)")
    data.add_argument("--seed", type=int, default=0, help="seeds lengths, prompts and arrivals")
    data.add_argument("--prompts-file", default=None,
                      help='JSONL of {"prompt": text or [ids], "max_tokens": n} instead')
    data.add_argument("--min-tokens-equal-max", action="store_true",
                      help="send min_tokens = max_tokens (openai; only if the server accepts it)")
    data.add_argument("--ignore-eos", action="store_true",
                      help="send ignore_eos (vLLM's field, openai): every output is max_tokens "
                           "long, as a fixed workload needs")
    data.add_argument("--extra-body", default=None,
                      help="a JSON object merged into each body (tgi: into parameters)")
    slo = p.add_argument_group("goodput")
    slo.add_argument("--slo-ttft-ms", type=_positive_float, default=None)
    slo.add_argument("--slo-tpot-ms", type=_positive_float, default=None)
    slo.add_argument("--slo-e2e-ms", type=_positive_float, default=None)
    out = p.add_argument_group("output")
    out.add_argument("--output", default=None, help="write the JSON here (default: stdout)")
    out.add_argument("--save-requests", action="store_true",
                     help="add each request's measurements to the JSON")
    out.add_argument("--quiet", action="store_true", help="no table on stderr")
    return p


def parse_args(argv):
    args = build_parser().parse_args(argv)
    url = urllib.parse.urlsplit(args.url)
    if url.scheme != "http" or not url.hostname:
        raise UsageError(f"--url must be http://HOST[:PORT], got {args.url!r}")
    try:
        args.host, args.port = url.hostname, url.port or 80
    except ValueError:
        raise UsageError(f"--url has a bad port: {args.url!r}")
    if url.path not in ("", "/"):
        raise UsageError(f"--url is the server's base, without a path: {args.url!r}")
    if args.input_len_min > args.input_len_max:
        raise UsageError("--input-len-min is above --input-len-max")
    if args.output_len_min > args.output_len_max:
        raise UsageError("--output-len-min is above --output-len-max")
    if args.min_tokens_equal_max and args.api != "openai":
        raise UsageError("--min-tokens-equal-max applies to --api openai only")
    if args.extra_body is not None:
        try:
            args.extra = json.loads(args.extra_body)
        except ValueError as e:
            raise UsageError(f"--extra-body is not JSON: {e}")
        if not isinstance(args.extra, dict):
            raise UsageError("--extra-body must be a JSON object")
    else:
        args.extra = {}
    if args.ignore_eos:
        if args.api != "openai":
            raise UsageError("--ignore-eos applies to --api openai only")
        args.extra["ignore_eos"] = True
    return args


def build_requests(args):
    if args.prompts_file:
        try:
            requests = workload.read_prompts_file(args.prompts_file, args.num_requests)
        except OSError as e:
            raise UsageError(f"--prompts-file: {e.strerror}: {args.prompts_file}")
        except ValueError as e:
            raise UsageError(f"--prompts-file: {e}")
        if args.api == "tgi" and any(not isinstance(r.prompt, str) for r in requests):
            raise UsageError("--prompts-file: --api tgi takes text prompts, not token ids")
        return requests
    return workload.random_requests(
        args.num_requests or 100, (args.input_len_min, args.input_len_max),
        (args.output_len_min, args.output_len_max), args.vocab_size, args.seed,
        token_ids=args.api == "openai")


def check_reachable(args):
    try:
        socket.create_connection((args.host, args.port), timeout=10).close()
    except OSError as e:
        raise ServerError(f"cannot reach {args.url}: {e.strerror or e}")


def wait_for_health(args):
    deadline = time.monotonic() + args.wait_for_health
    last = "no answer"
    while True:
        connection = http.client.HTTPConnection(args.host, args.port, timeout=5)
        try:
            connection.request("GET", "/health")
            response = connection.getresponse()
            response.read()
            if response.status == 200:
                return
            last = f"HTTP {response.status}"
        except (OSError, http.client.HTTPException) as e:
            last = str(e.strerror or e) if isinstance(e, OSError) else str(e)
        finally:
            connection.close()
        if time.monotonic() >= deadline:
            raise ServerError(f"{args.url}/health did not answer 200 within "
                              f"{args.wait_for_health:g} s (last: {last})")
        time.sleep(0.5)


def discover_model(args):
    """GET /v1/models' first id, or None (the body then has no model field)."""
    connection = http.client.HTTPConnection(args.host, args.port, timeout=10)
    try:
        connection.request("GET", "/v1/models")
        response = connection.getresponse()
        if response.status != 200:
            return None
        return json.loads(response.read())["data"][0]["id"]
    except (OSError, http.client.HTTPException, ValueError, KeyError, IndexError, TypeError):
        return None
    finally:
        connection.close()


def _body(args, request):
    if args.api == "openai":
        return stream_client.openai_body(request.prompt, request.max_tokens, args.model,
                                         args.min_tokens_equal_max, args.extra)
    return stream_client.tgi_body(request.prompt, request.max_tokens, args.extra)


def _send(args, request):
    return stream_client.stream_request(args.host, args.port, args.api, _body(args, request),
                                        request.prompt_tokens, args.request_timeout)


def run_load(args, requests):
    """Sends requests at their arrival times; returns (results, wall seconds).
    A request whose arrival finds --concurrency in flight starts when one
    finishes, and its latencies are timed from then, as vLLM's semaphore does."""
    offsets = workload.arrival_offsets(len(requests), args.request_rate, args.burstiness,
                                       args.seed + 1)
    slots = threading.Semaphore(args.concurrency) if args.concurrency else None
    results = [None] * len(requests)
    threads = []
    start = time.perf_counter()

    for index, (request, offset) in enumerate(zip(requests, offsets)):
        delay = start + offset - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if slots:
            slots.acquire()
        thread = threading.Thread(target=_timed_worker,
                                  args=(args, request, index, results, slots, start), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - start


def _timed_worker(args, request, index, results, slots, start):
    sent = time.perf_counter() - start
    try:
        result = _send(args, request)
    except Exception as e:  # a bug here must not hang the run: record it
        result = serving_metrics.RequestResult(cause=type(e).__name__, error=repr(e))
    finally:
        if slots:
            slots.release()
    result.sent_at = sent
    results[index] = result


def report(args, requests, results, duration_s):
    figures = serving_metrics.aggregate(results, duration_s, args.slo_ttft_ms, args.slo_tpot_ms,
                                        args.slo_e2e_ms)
    arguments = {k: v for k, v in vars(args).items() if k not in ("extra", "host", "port")}
    if math.isinf(arguments["request_rate"]):
        arguments["request_rate"] = "inf"
    out = {"tool": "benchmarks/serve/load_generator.py", "label": args.label, "api": args.api,
           "url": args.url, "model": args.model,
           "request_rate": arguments["request_rate"], "concurrency": args.concurrency,
           "started_at": args.started_at, "arguments": arguments}
    out.update(figures)
    if args.save_requests:
        out["requests"] = [
            {"prompt_tokens": r.prompt_tokens, "max_tokens": q.max_tokens, "success": r.success,
             "sent_at_s": r.sent_at, "ttft_s": r.ttft, "tpot_s": r.tpot, "e2e_s": r.latency,
             "itl_s": r.itl, "output_tokens": r.output_tokens, "token_chunks": r.token_chunks,
             "finish_reason": r.finish_reason, "status": r.status, "cause": r.cause,
             "error": r.error} for q, r in zip(requests, results)]
    return out


def _fmt(value, spec=".2f"):
    return "-" if value is None else format(value, spec)


def table(out):
    rate = out["request_rate"]
    lines = [f"== {out['api']} {out['url']} {out['label']}".rstrip(),
             f"target rate {rate} req/s, concurrency {out['concurrency'] or 'unbounded'}, "
             f"wall {out['duration_s']:.2f} s",
             f"requests   completed {out['completed']} / {out['num_requests']}, "
             f"failed {out['failed']}"
             + "".join(f", {k}: {v}" for k, v in sorted(out["failures_by_cause"].items())),
             f"tokens     input {out['total_input_tokens']}, output {out['total_output_tokens']}",
             f"throughput {_fmt(out['request_throughput'])} req/s, "
             f"{_fmt(out['output_throughput'], '.1f')} output tok/s, "
             f"{_fmt(out['total_token_throughput'], '.1f')} total tok/s"]
    goodput = out["goodput"]
    if goodput["good_requests"] is not None:
        bounds = ", ".join(f"{name} <= {goodput['slo_' + name + '_ms']:g} ms"
                           for name in ("ttft", "tpot", "e2e") if goodput[f"slo_{name}_ms"])
        lines.append(f"goodput    {_fmt(goodput['request_goodput'])} req/s "
                     f"({goodput['good_requests']} requests with {bounds})")
    lines.append(f"{'ms':<6}{'mean':>10}{'median':>10}{'p90':>10}{'p99':>10}{'max':>10}{'n':>8}")
    for name in ("ttft", "tpot", "itl", "e2e"):
        s = out[f"{name}_ms"]
        lines.append(f"{name.upper():<6}" + "".join(f"{_fmt(s[k]):>10}" for k in
                                                    ("mean", "median", "p90", "p99", "max"))
                     + f"{s['count']:>8}")
    for example in out["failure_examples"][:2]:
        lines.append(f"failure: {example.splitlines()[0][:150] if example else '?'}")
    return "\n".join(lines)


def main(argv=None):
    try:
        args = parse_args(sys.argv[1:] if argv is None else argv)
        requests = build_requests(args)
        if args.wait_for_health is not None:
            wait_for_health(args)
        check_reachable(args)
        if args.model is None and args.api == "openai":
            args.model = discover_model(args)
        for _ in range(args.warmup_requests):
            result = _send(args, requests[0])
            if not result.success:
                first_line = (result.error or result.cause or "?").splitlines()[0]
                raise ServerError(f"warm-up request failed: {first_line}")
    except UsageError as e:
        print(f"{PROG}: {e}", file=sys.stderr)
        return e.exit_code
    args.started_at = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    results, duration_s = run_load(args, requests)
    out = report(args, requests, results, duration_s)
    text = json.dumps(out, indent=1)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text + "\n")
    else:
        print(text)
    if not args.quiet:
        print(table(out), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
