#!/usr/bin/env python3
"""Hugging Face Accelerate's offload as the reference for a tiered plan.

Loads the same checkpoint into BloomForCausalLM (bf16, eager) with
device_map="auto" and max_memory={0: --gpu-memory, "cpu": --cpu-memory}, the
way users run BLOOM larger than their GPU with Accelerate, and times a greedy
decode at batch 1: a --prompt-len random prompt, then --new-tokens forward
passes with the KV cache, each timed on the host clock after a CUDA
synchronise (offloaded layers move their weights to the GPU inside the
forward, so the host clock is the honest measure). Prints one JSON line.
Exits 3 with a JSON error line when accelerate is not installed.
"""
import argparse
import json
import statistics
import sys
import time

import torch


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--gpu-memory", default="6GiB")
    p.add_argument("--cpu-memory", default="100GiB")
    p.add_argument("--prompt-len", type=int, default=32)
    p.add_argument("--new-tokens", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    try:
        import accelerate  # noqa: F401  (device_map="auto" needs it)
    except ImportError as error:
        print(json.dumps({"kind": "hf_offload", "error": f"accelerate is not installed: {error}"}))
        return 3
    from transformers import BloomForCausalLM

    load_start = time.time()
    model = BloomForCausalLM.from_pretrained(
        args.checkpoint, dtype=torch.bfloat16, device_map="auto",
        max_memory={0: args.gpu_memory, "cpu": args.cpu_memory})
    model.eval()
    load_s = time.time() - load_start
    placement = {}
    for device in getattr(model, "hf_device_map", {}).values():
        placement[str(device)] = placement.get(str(device), 0) + 1
    torch.manual_seed(args.seed)
    vocab = model.config.vocab_size
    ids = torch.randint(0, vocab, (1, args.prompt_len), device="cuda")
    torch.cuda.reset_peak_memory_stats()
    steps = []
    tokens = []
    with torch.no_grad():
        torch.cuda.synchronize()
        start = time.time()
        out = model(input_ids=ids, use_cache=True, logits_to_keep=1)
        torch.cuda.synchronize()
        ttft_ms = (time.time() - start) * 1e3
        past = out.past_key_values
        next_id = out.logits[:, -1].argmax(-1, keepdim=True)
        tokens.append(int(next_id))
        for _ in range(args.new_tokens - 1):
            start = time.time()
            out = model(input_ids=next_id, past_key_values=past, use_cache=True, logits_to_keep=1)
            next_id = out.logits[:, -1].argmax(-1, keepdim=True)
            tokens.append(int(next_id))
            torch.cuda.synchronize()
            steps.append((time.time() - start) * 1e3)
            past = out.past_key_values
    print(json.dumps({
        "kind": "hf_offload", "gpu_memory": args.gpu_memory, "cpu_memory": args.cpu_memory,
        "modules_per_device": placement, "load_seconds": round(load_s, 2),
        "ttft_ms": round(ttft_ms, 2), "ms_per_step_median": round(statistics.median(steps), 2),
        "ms_per_step_mean": round(statistics.mean(steps), 2),
        "peak_gpu_bytes": torch.cuda.max_memory_allocated(), "tokens": tokens,
        "torch": torch.__version__}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
