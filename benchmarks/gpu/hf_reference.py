#!/usr/bin/env python3
"""Hugging Face transformers as the reference for bloom-run's benchmark.

Loads a BLOOM checkpoint (the synthetic one that make-synthetic-checkpoint
wrote) into BloomForCausalLM, bf16, eager attention, on CUDA, and measures
what `bloom-run --bench` measures, printing one JSON object per
configuration with the same keys:

  decode: greedy, KV cache on, PROMPT_LEN-token prompts, NEW_TOKENS new
          tokens at each batch size. The first token comes from the prefill
          (ttft_ms); the remaining NEW_TOKENS - 1 forward passes are the
          decode steps whose median and mean are reported.
  ttft:   batch 1, one prefill of each --ttft-prompts length and the argmax
          of its last position, copied to the host; the median of --ttft-reps.

Timing uses CUDA events recorded on the current stream between steps (the
loop itself never synchronises, so the figures include whatever host
synchronisation transformers does inside a forward). Peak memory is
torch.cuda.max_memory_allocated() since a reset before each configuration,
so it includes the weights.

The manual greedy loop is what generate() does for greedy search; for the
first batch size it is checked against generate(min_new_tokens=max_new_tokens)
token for token, and the check's outcome is part of the JSON.

--compile measures issue 15's stronger baseline instead: generate() with a
static KV cache (cache_implementation="static") and the forward compiled
by torch.compile, greedy, the same prompts. Records carry backend
"hf-transformers-compiled". The first generate() of each shape compiles;
its wall time is reported apart (compile_ms) and the figures come from a
second call, timed by a logits processor that records a CUDA event each
time generate() asks for a token's scores (one per forward). For the first
batch the tokens are compared with the eager loop's (matches_eager: bf16
kernels that differ may flip near-ties on random weights, so it is
reported, not required).

--prompt-rows FILE adds, before the timings, issue 15's agreement check's
reference (prompt_rows.py): one forward of the prompt in FILE (token ids,
comma-separated) and, at every row, the argmax of transformers' bf16
logits and their five best ids and values, in a record of kind
"prompt_rows".
"""
import argparse
import inspect
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import prompt_rows  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True, help="checkpoint directory")
    p.add_argument("--batches", default="1,8,32,64,128")
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=100)
    p.add_argument("--ttft-prompts", default="512,2048")
    p.add_argument("--ttft-reps", type=int, default=5)
    p.add_argument("--seed", type=int, default=0, help="seed of the random prompts")
    p.add_argument("--check-generate", type=int, default=1,
                   help="compare the manual loop with generate() at the first batch (0/1)")
    p.add_argument("--out", help="also append each JSON line to this file")
    p.add_argument("--compile", action="store_true",
                   help="static KV cache and torch.compile (issue 15's baseline) instead of eager")
    p.add_argument("--prompt-rows", metavar="FILE",
                   help="first, the argmax of the bf16 logits at every row of this prompt "
                        "(prompt_rows.py prompt's token ids)")
    return p.parse_args()


class Reporter:
    def __init__(self, path):
        self.file = open(path, "a") if path else None

    def emit(self, record):
        line = json.dumps(record)
        print(line, flush=True)
        if self.file:
            self.file.write(line + "\n")
            self.file.flush()


def load_model(checkpoint):
    from transformers import BloomForCausalLM

    # Straight to the GPU (device_map), not through a 14 GB host copy.
    kwargs = dict(attn_implementation="eager", device_map="cuda")
    # transformers 5 spells it dtype=; 4.x spelled it torch_dtype=.
    try:
        model = BloomForCausalLM.from_pretrained(checkpoint, dtype=torch.bfloat16, **kwargs)
    except TypeError:
        model = BloomForCausalLM.from_pretrained(checkpoint, torch_dtype=torch.bfloat16, **kwargs)
    model.eval()
    if next(model.parameters()).device.type != "cuda":
        model = model.to("cuda")
    return model


def random_prompt(batch, length, vocab, seed):
    g = torch.Generator().manual_seed(seed)
    # Ids 0..3 are BLOOM's special tokens; prompts are ordinary tokens.
    return torch.randint(4, vocab, (batch, length), generator=g).to("cuda")


class Greedy:
    """Greedy decoding with transformers' KV cache, one forward per token."""

    def __init__(self, model):
        self.model = model
        params = inspect.signature(model.forward).parameters
        # generate() asks for the last position's logits only when the model
        # supports it; the reference does the same so that prefill does not
        # spend time and memory on logits nobody reads.
        self.logits_to_keep = "logits_to_keep" in params

    def forward(self, input_ids, attention_mask, past):
        kwargs = dict(input_ids=input_ids, attention_mask=attention_mask, use_cache=True)
        if past is not None:
            kwargs["past_key_values"] = past
        if self.logits_to_keep:
            kwargs["logits_to_keep"] = 1
        out = self.model(**kwargs)
        return out.logits[:, -1, :].argmax(dim=-1, keepdim=True), out.past_key_values

    @torch.inference_mode()
    def run(self, prompt, new_tokens):
        """Returns (tokens [batch, new_tokens], per-forward times in ms)."""
        batch = prompt.shape[0]
        mask = torch.ones_like(prompt)
        ones = torch.ones((batch, 1), dtype=mask.dtype, device=mask.device)
        events = [torch.cuda.Event(enable_timing=True) for _ in range(new_tokens + 1)]
        tokens = []
        events[0].record()
        token, past = self.forward(prompt, mask, None)
        events[1].record()
        tokens.append(token)
        for step in range(1, new_tokens):
            mask = torch.cat([mask, ones], dim=1)
            token, past = self.forward(token, mask, past)
            events[step + 1].record()
            tokens.append(token)
        torch.cuda.synchronize()
        times = [events[i].elapsed_time(events[i + 1]) for i in range(new_tokens)]
        return torch.cat(tokens, dim=1), times


@torch.inference_mode()
def check_against_generate(model, prompt, tokens):
    """True when generate()'s greedy tokens equal the manual loop's."""
    new_tokens = tokens.shape[1]
    out = model.generate(
        input_ids=prompt,
        attention_mask=torch.ones_like(prompt),
        max_new_tokens=new_tokens,
        min_new_tokens=new_tokens,
        do_sample=False,
        use_cache=True,
        pad_token_id=model.config.pad_token_id,
    )
    generated = out[:, prompt.shape[1]:]
    return bool(generated.shape == tokens.shape and torch.equal(generated, tokens))


def configure_compile(model):
    """How the compiled baseline compiles, named for the record. transformers
    that has CompileConfig compiles the decoding forward inside generate()
    when the cache is static; an older one gets the forward wrapped here."""
    try:
        from transformers import CompileConfig  # noqa: F401
        return "generate() compiles the forward (static cache)"
    except ImportError:
        model.forward = torch.compile(model.forward, mode="reduce-overhead", fullgraph=True)
        return "torch.compile(model.forward, mode=reduce-overhead, fullgraph=True)"


def step_timer_class():
    from transformers import LogitsProcessor

    class StepTimer(LogitsProcessor):
        """Records a CUDA event each time generate() asks for a token's
        scores (after each forward) and leaves the scores as they are."""

        def __init__(self):
            self.events = []

        def __call__(self, input_ids, scores):
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.events.append(event)
            return scores

    return StepTimer


class CompiledGreedy:
    """Greedy decoding through generate() with a static KV cache, compiled."""

    def __init__(self, model):
        self.model = model
        self.path = configure_compile(model)
        self.timer_class = step_timer_class()
        self.compiled_shapes = {}  # (batch, prompt_len, new_tokens) -> first call's wall ms

    def generate(self, prompt, new_tokens, timer=None):
        # No inference_mode here: generate() runs under no_grad itself, and
        # inference tensors are not what the compiled graphs were traced on.
        from transformers import LogitsProcessorList

        kwargs = dict(input_ids=prompt, attention_mask=torch.ones_like(prompt),
                      max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                      use_cache=True, cache_implementation="static",
                      pad_token_id=self.model.config.pad_token_id)
        if timer is not None:
            kwargs["logits_processor"] = LogitsProcessorList([timer])
        return self.model.generate(**kwargs)[:, prompt.shape[1]:]

    def compile_for(self, prompt, new_tokens):
        """The first call of a shape (the compilation); its wall ms."""
        key = (prompt.shape[0], prompt.shape[1], new_tokens)
        if key not in self.compiled_shapes:
            torch.cuda.synchronize()
            start = time.perf_counter()
            self.generate(prompt, new_tokens)
            torch.cuda.synchronize()
            self.compiled_shapes[key] = (time.perf_counter() - start) * 1e3
        return self.compiled_shapes[key]

    def run(self, prompt, new_tokens):
        """Returns (tokens, per-forward times in ms: the prefill, then each
        decode step), timed after compile_for."""
        timer = self.timer_class()
        start = torch.cuda.Event(enable_timing=True)
        start.record()
        tokens = self.generate(prompt, new_tokens, timer)
        torch.cuda.synchronize()
        events = [start] + timer.events
        return tokens, [events[i].elapsed_time(events[i + 1]) for i in range(len(events) - 1)]


def measure_compiled_decode(compiled, args, batch, eager_tokens):
    model = compiled.model
    prompt = random_prompt(batch, args.prompt_len, model.config.vocab_size, args.seed + batch)
    compile_ms = compiled.compile_for(prompt, args.new_tokens)
    tokens, figures = timed_decode(compiled.run, prompt, args.new_tokens)
    figures.update({"compile_ms": compile_ms, "compile_path": compiled.path,
                    "forwards_timed": figures.pop("forwards")})
    if eager_tokens is not None:
        figures["matches_eager"] = bool(tokens.shape == eager_tokens.shape and torch.equal(tokens, eager_tokens))
    return figures


def measure_compiled_ttft(compiled, args, length):
    prompt = random_prompt(1, length, compiled.model.config.vocab_size, args.seed + length)
    compile_ms = compiled.compile_for(prompt, 1)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    samples = []
    for _ in range(args.ttft_reps):
        torch.cuda.synchronize()
        begin = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        begin.record()
        token_id = compiled.generate(prompt, 1)[0, 0].item()  # the first token reaches the host
        end.record()
        torch.cuda.synchronize()
        samples.append(begin.elapsed_time(end))
    return {
        "new_tokens": 1,
        "ttft_ms": statistics.median(samples),
        "ttft_ms_samples": samples,
        "first_token": token_id,
        "compile_ms": compile_ms,
        "compile_path": compiled.path,
        "peak_device_bytes": torch.cuda.max_memory_allocated(),
    }


def base_record(model, load_ms, backend="hf-transformers"):
    return {
        "backend": backend,
        "device": torch.cuda.get_device_name(),
        "plan": None,
        "load_ms": load_ms,
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "dtype": str(next(model.parameters()).dtype),
    }


def guarded(reporter, model, load_ms, kind, batch, prompt_len, measure, backend="hf-transformers"):
    """Runs one configuration; an exception (out of memory, say) becomes an
    error line for that configuration and the others still run."""
    record = base_record(model, load_ms, backend)
    record.update({"kind": kind, "batch": batch, "prompt_len": prompt_len})
    try:
        record.update(measure())
    except Exception as error:
        record["error"] = f"{type(error).__name__}: {str(error)[:300]}"
    torch.cuda.empty_cache()
    reporter.emit(record)


def timed_decode(run, prompt, new_tokens):
    """One timed generation by `run` (Greedy.run or CompiledGreedy.run): the
    tokens, and the figures both references report."""
    batch = prompt.shape[0]
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    wall_start = time.perf_counter()
    tokens, times = run(prompt, new_tokens)
    total_ms = (time.perf_counter() - wall_start) * 1e3
    decode = times[1:]
    return tokens, {
        "new_tokens": new_tokens,
        "ttft_ms": times[0] if times else None,
        "decode_ms_per_step_median": statistics.median(decode) if decode else None,
        "decode_ms_per_step_mean": statistics.fmean(decode) if decode else None,
        "decode_ms_per_step_min": min(decode) if decode else None,
        "decode_tokens_per_s": batch * 1e3 / statistics.fmean(decode) if decode else None,
        "total_ms": total_ms,
        "forwards": len(times),
        "peak_device_bytes": torch.cuda.max_memory_allocated(),
        "peak_reserved_bytes": torch.cuda.max_memory_reserved(),
    }


def measure_decode(model, greedy, args, batch, check):
    prompt = random_prompt(batch, args.prompt_len, model.config.vocab_size, args.seed + batch)
    tokens, figures = timed_decode(greedy.run, prompt, args.new_tokens)
    del figures["forwards"]  # always new_tokens for the manual loop
    figures["logits_to_keep"] = greedy.logits_to_keep
    if check and args.check_generate:
        try:
            figures["matches_generate"] = check_against_generate(model, prompt, tokens)
        except Exception as error:  # the check is advisory; keep the figures
            figures["matches_generate"] = f"error: {type(error).__name__}: {error}"
    return figures


@torch.inference_mode()
def measure_prompt_rows(model, path):
    """Every row's argmax of one forward's logits over the prompt in `path`,
    in the model's dtype (bf16: the logits transformers gives), with the
    five best ids and values of each row."""
    ids = prompt_rows.read_prompt(path)
    vocab = model.config.vocab_size
    bad = [t for t in ids if not 0 <= t < vocab]
    if bad:
        raise ValueError(f"{path}: token id {bad[0]} outside [0, {vocab})")
    prompt = torch.tensor([ids], device="cuda")
    torch.cuda.synchronize()
    start = time.perf_counter()
    logits = model(input_ids=prompt, attention_mask=torch.ones_like(prompt), use_cache=False).logits[0]
    if logits.shape[0] != len(ids):
        raise ValueError(f"{logits.shape[0]} logit rows for {len(ids)} prompt tokens")
    argmax = logits.argmax(dim=-1)  # the first index among ties
    top = logits.topk(5, dim=-1)
    torch.cuda.synchronize()
    return {
        "prompt_len": len(ids),
        "vocab": logits.shape[1],
        "logits_dtype": str(logits.dtype),
        "forward_ms": (time.perf_counter() - start) * 1e3,
        "argmax": argmax.tolist(),
        "top5_ids": top.indices.tolist(),
        "top5_logits": top.values.float().tolist(),
    }


def measure_ttft(greedy, args, length):
    prompt = random_prompt(1, length, greedy.model.config.vocab_size, args.seed + length)
    mask = torch.ones_like(prompt)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    samples = []
    with torch.inference_mode():
        for rep in range(args.ttft_reps + 1):  # the first is a warm-up
            torch.cuda.synchronize()
            begin = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            begin.record()
            token, _ = greedy.forward(prompt, mask, None)
            token_id = token.item()  # the first token reaches the host
            end.record()
            torch.cuda.synchronize()
            if rep > 0:
                samples.append(begin.elapsed_time(end))
    return {
        "new_tokens": 1,
        "ttft_ms": statistics.median(samples),
        "ttft_ms_samples": samples,
        "first_token": token_id,
        "peak_device_bytes": torch.cuda.max_memory_allocated(),
        "logits_to_keep": greedy.logits_to_keep,
    }


def main():
    args = parse_args()
    reporter = Reporter(args.out)
    if not torch.cuda.is_available():
        print("hf_reference.py: no CUDA device", file=sys.stderr)
        return 1
    torch.backends.cuda.matmul.allow_tf32 = False

    torch.cuda.synchronize()
    start = time.perf_counter()
    model = load_model(args.checkpoint)
    torch.cuda.synchronize()
    load_ms = (time.perf_counter() - start) * 1e3
    vocab = model.config.vocab_size
    greedy = Greedy(model)

    # Warm-up: cuBLAS handles, allocator pools, kernels' first launches.
    greedy.run(random_prompt(2, 16, vocab, args.seed + 999), 4)

    if args.prompt_rows:
        guarded(reporter, model, load_ms, prompt_rows.KIND, 1, None,
                lambda: measure_prompt_rows(model, args.prompt_rows))
        # The same forward in fp32 on the same (bf16) weights: the reference
        # both bf16 computations are judged against (prompt_rows.agreement).
        # bf16 -> fp32 -> bf16 is exact, so the model is unchanged after.
        model.float()
        guarded(reporter, model, load_ms, prompt_rows.KIND, 1, None,
                lambda: measure_prompt_rows(model, args.prompt_rows), prompt_rows.FP32_BACKEND)
        model.to(torch.bfloat16)
        torch.cuda.empty_cache()
    batches = [int(b) for b in args.batches.split(",") if b]
    if args.compile:
        return run_compiled(reporter, model, load_ms, greedy, args, batches)
    for index, batch in enumerate(batches):
        guarded(reporter, model, load_ms, "decode", batch, args.prompt_len,
                lambda: measure_decode(model, greedy, args, batch, check=index == 0))
    for length in [int(t) for t in args.ttft_prompts.split(",") if t]:
        guarded(reporter, model, load_ms, "ttft", 1, length,
                lambda: measure_ttft(greedy, args, length))
    return 0


def run_compiled(reporter, model, load_ms, greedy, args, batches):
    backend = "hf-transformers-compiled"
    # The eager loop's tokens for the first batch, before anything compiles.
    eager_tokens = None
    if batches:
        first = random_prompt(batches[0], args.prompt_len, model.config.vocab_size, args.seed + batches[0])
        eager_tokens, _ = greedy.run(first, args.new_tokens)
    compiled = CompiledGreedy(model)
    for index, batch in enumerate(batches):
        guarded(reporter, model, load_ms, "decode", batch, args.prompt_len,
                lambda: measure_compiled_decode(compiled, args, batch, eager_tokens if index == 0 else None),
                backend)
    for length in [int(t) for t in args.ttft_prompts.split(",") if t]:
        guarded(reporter, model, load_ms, "ttft", 1, length,
                lambda: measure_compiled_ttft(compiled, args, length), backend)
    return 0


if __name__ == "__main__":
    sys.exit(main())
