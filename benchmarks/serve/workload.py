"""What the load generator sends and when: the requests (random lengths, or a
file of prompts) and their arrival times (a Poisson process, or gamma-
distributed gaps for burstier traffic, as vLLM's serving benchmark draws them).
"""
import dataclasses
import json
import math
import random
from typing import List, Optional, Union

# Common English words, each (with its leading space) one token of BLOOM's
# vocabulary, so that a TGI prompt of n words is n tokens or close to it
# (TGI's `inputs` is text: without a tokenizer here, lengths are exact only
# through the OpenAI route's token-id prompts).
WORDS = ("the of and to in is that for it was on with as by at be this from or an are "
         "not have but had his they which one you were all we her she there been has "
         "when who will more no if out so said what up its about into than them can "
         "only other new some could time these two may then do first any my now such "
         "like our over man me even most made after also did many before must through").split()


@dataclasses.dataclass
class Request:
    prompt: Union[List[int], str]
    max_tokens: int
    prompt_tokens: Optional[int]  # exact for token-id prompts, else None


def random_requests(count, input_len, output_len, vocab_size, seed, token_ids=True):
    """count requests, lengths uniform in the inclusive ranges input_len and
    output_len (pairs); prompts are token ids below vocab_size, or words."""
    rng = random.Random(seed)
    requests = []
    for _ in range(count):
        n_in = rng.randint(*input_len)
        n_out = rng.randint(*output_len)
        if token_ids:
            requests.append(Request([rng.randrange(vocab_size) for _ in range(n_in)], n_out, n_in))
        else:
            requests.append(Request(" ".join(rng.choice(WORDS) for _ in range(n_in)), n_out, None))
    return requests


def read_prompts_file(path, count=None):
    """JSONL of {"prompt": text or [ids], "max_tokens": n}; blank lines skipped.
    count > lines cycles through them. Raises ValueError naming file and line."""
    requests = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except ValueError as e:
                raise ValueError(f"{where}: not JSON ({e})")
            if not isinstance(row, dict):
                raise ValueError(f"{where}: expected an object with prompt and max_tokens")
            prompt, max_tokens = row.get("prompt"), row.get("max_tokens")
            ids = isinstance(prompt, list) and all(
                isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in prompt)
            if not (isinstance(prompt, str) or ids) or not prompt:
                raise ValueError(f"{where}: prompt must be a non-empty string or array of ids")
            if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
                raise ValueError(f"{where}: max_tokens must be an integer >= 1")
            requests.append(Request(prompt, max_tokens, len(prompt) if ids else None))
    if not requests:
        raise ValueError(f"{path}: no prompts")
    if count is not None:
        requests = [requests[i % len(requests)] for i in range(count)]
    return requests


def arrival_offsets(count, rate, burstiness=1.0, seed=0):
    """Send times in seconds after the start: the first at 0, then gaps drawn
    from a gamma distribution of mean 1/rate and shape burstiness (1: the
    exponential gaps of a Poisson process; below 1 burstier, above 1 more
    even). rate inf sends everything at 0."""
    if math.isinf(rate):
        return [0.0] * count
    rng = random.Random(seed)
    theta = 1.0 / (rate * burstiness)
    offsets, t = [], 0.0
    for _ in range(count):
        offsets.append(t)
        t += rng.gammavariate(burstiness, theta)
    return offsets
