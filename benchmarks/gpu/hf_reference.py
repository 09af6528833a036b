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
"""
import argparse
import inspect
import json
import statistics
import sys
import time

import torch


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


def base_record(model, load_ms):
    return {
        "backend": "hf-transformers",
        "device": torch.cuda.get_device_name(),
        "plan": None,
        "load_ms": load_ms,
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "attn_implementation": getattr(model.config, "_attn_implementation", None),
        "dtype": str(next(model.parameters()).dtype),
    }


def guarded(reporter, model, load_ms, kind, batch, prompt_len, measure):
    """Runs one configuration; an exception (out of memory, say) becomes an
    error line for that configuration and the others still run."""
    record = base_record(model, load_ms)
    record.update({"kind": kind, "batch": batch, "prompt_len": prompt_len})
    try:
        record.update(measure())
    except Exception as error:
        record["error"] = f"{type(error).__name__}: {str(error)[:300]}"
    torch.cuda.empty_cache()
    reporter.emit(record)


def measure_decode(model, greedy, args, batch, check):
    prompt = random_prompt(batch, args.prompt_len, model.config.vocab_size, args.seed + batch)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    wall_start = time.perf_counter()
    tokens, times = greedy.run(prompt, args.new_tokens)
    total_ms = (time.perf_counter() - wall_start) * 1e3
    decode = times[1:]
    figures = {
        "new_tokens": args.new_tokens,
        "ttft_ms": times[0],
        "decode_ms_per_step_median": statistics.median(decode) if decode else None,
        "decode_ms_per_step_mean": statistics.fmean(decode) if decode else None,
        "decode_ms_per_step_min": min(decode) if decode else None,
        "decode_tokens_per_s": batch * 1e3 / statistics.fmean(decode) if decode else None,
        "total_ms": total_ms,
        "peak_device_bytes": torch.cuda.max_memory_allocated(),
        "peak_reserved_bytes": torch.cuda.max_memory_reserved(),
        "logits_to_keep": greedy.logits_to_keep,
    }
    if check and args.check_generate:
        try:
            figures["matches_generate"] = check_against_generate(model, prompt, tokens)
        except Exception as error:  # the check is advisory; keep the figures
            figures["matches_generate"] = f"error: {type(error).__name__}: {error}"
    return figures


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

    batches = [int(b) for b in args.batches.split(",") if b]
    for index, batch in enumerate(batches):
        guarded(reporter, model, load_ms, "decode", batch, args.prompt_len,
                lambda: measure_decode(model, greedy, args, batch, check=index == 0))
    for length in [int(t) for t in args.ttft_prompts.split(",") if t]:
        guarded(reporter, model, load_ms, "ttft", 1, length,
                lambda: measure_ttft(greedy, args, length))
    return 0


if __name__ == "__main__":
    sys.exit(main())
