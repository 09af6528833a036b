"""What one streamed request measured, and the run's figures computed from
those records, defined as vLLM's serving benchmark (benchmarks/
benchmark_serving.py) defines them:

- TTFT: from sending the request to the first streamed chunk carrying a token.
- ITL: every gap between two consecutive chunks carrying tokens (a server that
  packs several tokens into one chunk shows one gap for them).
- TPOT: (e2e - TTFT) / (output tokens - 1), per request, for requests with
  more than one output token; it excludes the first token, whose cost is the
  prefill.
- e2e: from sending the request to the end of its stream.
- Throughputs divide by the run's wall time, from the first request sent to
  the last answer received: completed requests, output tokens, and input plus
  output tokens per second.
- Goodput: completed requests per second whose TTFT, TPOT and e2e each meet
  the SLOs given (a bound met with equality holds; a one-token request has
  TPOT 0; a request that streamed no token has no TTFT and fails a TTFT SLO).

Percentiles interpolate linearly between order statistics, as
numpy.percentile does by default.
"""
import dataclasses
import math
from typing import List, Optional


@dataclasses.dataclass
class RequestResult:
    success: bool = False
    ttft: Optional[float] = None  # seconds
    itl: List[float] = dataclasses.field(default_factory=list)  # seconds
    latency: Optional[float] = None  # e2e, seconds
    output_tokens: int = 0
    prompt_tokens: Optional[int] = None
    token_chunks: int = 0
    finish_reason: Optional[str] = None
    status: Optional[int] = None
    cause: str = ""  # short failure class, the key failures are counted by
    error: str = ""  # the failure in full (HTTP body, exception text)
    sent_at: Optional[float] = None  # seconds after the run started

    @property
    def tpot(self):
        if not self.success or self.ttft is None or self.latency is None:
            return None
        if self.output_tokens <= 1:
            return None
        return (self.latency - self.ttft) / (self.output_tokens - 1)


def percentile(values, p):
    """The p-th percentile (0..100) of values, linear between closest ranks;
    None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = p / 100.0 * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary_ms(values_s):
    """mean, median, p90, p99, min, max in milliseconds of a list in seconds."""
    ms = [v * 1e3 for v in values_s]
    if not ms:
        return {"count": 0, "mean": None, "median": None, "p90": None, "p99": None,
                "min": None, "max": None}
    return {"count": len(ms), "mean": sum(ms) / len(ms), "median": percentile(ms, 50),
            "p90": percentile(ms, 90), "p99": percentile(ms, 99), "min": min(ms),
            "max": max(ms)}


def meets_slo(result, slo_ttft_ms=None, slo_tpot_ms=None, slo_e2e_ms=None):
    if not result.success:
        return False
    if slo_ttft_ms is not None and (result.ttft is None or result.ttft * 1e3 > slo_ttft_ms):
        return False
    if slo_tpot_ms is not None and (result.tpot or 0.0) * 1e3 > slo_tpot_ms:
        return False
    if slo_e2e_ms is not None and (result.latency is None or result.latency * 1e3 > slo_e2e_ms):
        return False
    return True


def aggregate(results, duration_s, slo_ttft_ms=None, slo_tpot_ms=None, slo_e2e_ms=None):
    """The run's figures (a JSON-ready dict) from its RequestResults."""
    completed = [r for r in results if r.success]
    failed = [r for r in results if not r.success]
    causes = {}
    for r in failed:
        causes[r.cause or "unknown"] = causes.get(r.cause or "unknown", 0) + 1
    output_tokens = sum(r.output_tokens for r in completed)
    input_known = [r.prompt_tokens for r in completed if r.prompt_tokens is not None]
    input_tokens = sum(input_known)
    per_second = (lambda n: n / duration_s) if duration_s > 0 else (lambda n: None)
    has_slo = any(s is not None for s in (slo_ttft_ms, slo_tpot_ms, slo_e2e_ms))
    good = sum(meets_slo(r, slo_ttft_ms, slo_tpot_ms, slo_e2e_ms) for r in completed)
    return {
        "duration_s": duration_s,
        "num_requests": len(results),
        "completed": len(completed),
        "failed": len(failed),
        "failures_by_cause": causes,
        "failure_examples": [r.error for r in failed[:5]],
        "total_input_tokens": input_tokens,
        "requests_without_input_count": len(completed) - len(input_known),
        "total_output_tokens": output_tokens,
        "request_throughput": per_second(len(completed)),
        "output_throughput": per_second(output_tokens),
        "total_token_throughput": per_second(input_tokens + output_tokens),
        "ttft_ms": summary_ms([r.ttft for r in completed if r.ttft is not None]),
        "tpot_ms": summary_ms([r.tpot for r in completed if r.tpot is not None]),
        "itl_ms": summary_ms([gap for r in completed for gap in r.itl]),
        "e2e_ms": summary_ms([r.latency for r in completed if r.latency is not None]),
        "goodput": {
            "slo_ttft_ms": slo_ttft_ms, "slo_tpot_ms": slo_tpot_ms, "slo_e2e_ms": slo_e2e_ms,
            "good_requests": good if has_slo else None,
            "request_goodput": per_second(good) if has_slo else None,
        },
    }
