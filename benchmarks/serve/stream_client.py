"""One streamed request, timed on arrival of each Server-Sent Event, to either
dialect bloom-serve speaks:

- OpenAI completions (POST /v1/completions, stream: true): `data: {json}`
  chunks, `choices[0].text` carrying text, a last chunk with `usage` when
  stream_options.include_usage is asked for, then `data: [DONE]`. Output tokens
  are usage.completion_tokens when reported, else the chunks carrying text.
- TGI (POST /generate_stream): one event per token, `{index, token{id, text,
  logprob, special}, generated_text, details}`, generated_text non-null on the
  last. Output tokens are details.generated_tokens when reported, else the
  token events.

Each `data:` line is one event, timed when its line arrives (both dialects put
one JSON object on one line; a multi-line SSE event would be cut, and is not
used by either). http.client reads the chunked body line by line as it comes.
"""
import http.client
import json
import socket
import time

from serving_metrics import RequestResult

OPENAI_PATH = "/v1/completions"
TGI_PATH = "/generate_stream"


def openai_body(prompt, max_tokens, model=None, min_tokens_equal_max=False, extra=None):
    body = {"prompt": prompt, "max_tokens": max_tokens, "temperature": 0.0, "stream": True,
            "stream_options": {"include_usage": True}}
    if model is not None:
        body["model"] = model
    if min_tokens_equal_max:
        body["min_tokens"] = max_tokens
    body.update(extra or {})
    return body


def tgi_body(prompt, max_tokens, extra=None):
    parameters = {"max_new_tokens": max_tokens, "do_sample": False, "details": True}
    parameters.update(extra or {})
    return {"inputs": prompt, "parameters": parameters}


def _data_lines(response):
    """The payload of each `data:` line, as it arrives; comments, other fields
    and blank separators are skipped."""
    while True:
        line = response.readline()
        if not line:
            return
        line = line.rstrip(b"\r\n")
        if not line.startswith(b"data:"):
            continue
        payload = line[5:]
        if payload.startswith(b" "):
            payload = payload[1:]
        yield payload.decode("utf-8", "replace")


class _Timer:
    """Token timestamps relative to the send: the first gives TTFT, each later
    one an inter-token gap."""

    def __init__(self, result, start):
        self.result, self.start, self.last = result, start, None

    def token(self, now):
        if self.last is None:
            self.result.ttft = now - self.start
        else:
            self.result.itl.append(now - self.last)
        self.last = now
        self.result.token_chunks += 1


def _fail(result, cause, error):
    result.success, result.cause, result.error = False, cause, error[:2000]
    return result


def _read_openai(response, result, timer):
    usage = None
    for payload in _data_lines(response):
        now = time.perf_counter()
        if payload.strip() == "[DONE]":
            result.latency = now - timer.start
            result.success = True
            break
        try:
            chunk = json.loads(payload)
        except ValueError:
            return _fail(result, "bad chunk", f"not JSON: {payload[:200]}")
        if not isinstance(chunk, dict):
            return _fail(result, "bad chunk", f"not a JSON object: {payload[:200]}")
        if "error" in chunk:
            return _fail(result, "error event", json.dumps(chunk["error"])[:2000])
        choices = chunk.get("choices") or []
        if choices and isinstance(choices[0], dict):
            if choices[0].get("text"):
                timer.token(now)
            if choices[0].get("finish_reason"):
                result.finish_reason = choices[0]["finish_reason"]
        if isinstance(chunk.get("usage"), dict):
            usage = chunk["usage"]
    else:
        return _fail(result, "stream ended early", "the stream ended before data: [DONE]")
    result.output_tokens = result.token_chunks
    if usage is not None:
        if isinstance(usage.get("completion_tokens"), int):
            result.output_tokens = usage["completion_tokens"]
        if isinstance(usage.get("prompt_tokens"), int):
            result.prompt_tokens = usage["prompt_tokens"]
    return result


def _read_tgi(response, result, timer):
    details = None
    for payload in _data_lines(response):
        now = time.perf_counter()
        try:
            event = json.loads(payload)
        except ValueError:
            return _fail(result, "bad chunk", f"not JSON: {payload[:200]}")
        if not isinstance(event, dict):
            return _fail(result, "bad chunk", f"not a JSON object: {payload[:200]}")
        if "error" in event:
            return _fail(result, "error event", json.dumps(event["error"])[:2000])
        if event.get("token") is not None:
            timer.token(now)
        if event.get("generated_text") is not None:
            result.latency = now - timer.start
            result.success = True
            details = event.get("details")
            break
    else:
        return _fail(result, "stream ended early",
                     "the stream ended before the event with generated_text")
    result.output_tokens = result.token_chunks
    if isinstance(details, dict):
        if isinstance(details.get("generated_tokens"), int):
            result.output_tokens = details["generated_tokens"]
        if details.get("finish_reason"):
            result.finish_reason = details["finish_reason"]
    return result


def stream_request(host, port, api, body, prompt_tokens=None, timeout_s=600.0):
    """Sends one request and reads its stream to the end; never raises for a
    network or protocol failure (it is recorded in the result)."""
    result = RequestResult(prompt_tokens=prompt_tokens)
    path = OPENAI_PATH if api == "openai" else TGI_PATH
    data = json.dumps(body).encode()
    headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
    connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
    start = time.perf_counter()
    timer = _Timer(result, start)
    try:
        connection.request("POST", path, body=data, headers=headers)
        response = connection.getresponse()
        result.status = response.status
        if response.status != 200:
            text = response.read(2000).decode("utf-8", "replace")
            return _fail(result, f"HTTP {response.status}", f"HTTP {response.status}: {text}")
        reader = _read_openai if api == "openai" else _read_tgi
        return reader(response, result, timer)
    except socket.timeout as e:  # TimeoutError since Python 3.10
        return _fail(result, "timeout", f"no data for {timeout_s:g} s: {e}")
    except (OSError, http.client.HTTPException) as e:
        return _fail(result, type(e).__name__, f"{type(e).__name__}: {e}")
    finally:
        connection.close()
