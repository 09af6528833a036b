#!/usr/bin/env python3
"""Makes the Hugging Face golden outputs for the end-to-end parity tests.

Runs where torch, transformers, safetensors, tokenizers and numpy are
installed (the GPU machine; everything here runs on its CPU in float32):

    python3 test/golden/make_goldens.py --out DIR

DIR then mirrors the repository layout:

    DIR/test/golden/cases/<case>/{config.json, *.safetensors, [index],
                                  golden.json, logits.npy}
    DIR/test/golden/alibi_slopes.json
    DIR/test/golden/tokenizer_cases.json
    DIR/test/golden/versions.json
    DIR/models/bloom/tiny-random/{config.json, model.safetensors,
                                  tokenizer.json}

so `tar -C DIR -czf goldens.tgz .` unpacked at the repository root puts
every file in place.

Every model is a tiny random-weight BLOOM built by transformers itself
(BloomConfig + BloomForCausalLM + save_pretrained). transformers' default
init (std 0.02, zero biases, unit layer norms) gives nearly uniform logits
and fragile greedy ties, so every parameter is overwritten from a seeded
generator with spread-out values (see perturb and VARIANTS in
golden_models.py); a case is
accepted only when every greedy step's top-1 logit beats the top-2 by at
least MIN_MARGIN, no generated token is a special token (ids 0..3) and the
continuation is varied (not one token repeated), else the next seed is
tried.

Greedy decoding is incremental: one forward over the prompt, then one
forward per new token with past_key_values (the model's KV cache). The
script asserts that a single full forward over prompt + generated[:-1]
gives the same logit rows within 1e-4.

F16/BF16 cases: the float32 weights are rounded to the storage dtype and
back before any logits are computed, so the golden logits are the float32
forward of exactly the weights stored in the checkpoint; the script checks
the stored tensors bit for bit and reloads the checkpoint with transformers
to confirm.

Each step runs inside its own error guard: a failure is printed with its
traceback, the remaining steps still run, and the exit status is 1.

The pieces are modules next to this script: golden_models.py (building,
perturbing and rounding the random models, greedy decoding, the full
forward cross-check, the seed search), golden_checkpoints.py (writing and
verifying checkpoints: save_pretrained, the bit-for-bit check, transformers'
reload, the sharded case's bare shards, index and rewritten config keys),
golden_tokenizer.py (the tiny tokenizer: training text, training, reference
cases) and golden_util.py (environment defaults, log, the error guard).
This file holds the cases, golden.json and logits.npy, the ALiBi slopes,
the tiny default model and main.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile

# The golden_* modules sit next to this script: import them from here
# whatever the working directory.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from golden_util import FAILURES, guarded, log  # noqa: E402 - sets the environment defaults first

import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from golden_checkpoints import (reload_check, rewrite_config_keys, save_model,  # noqa: E402
                                verify_stored, write_bare_shards)
from golden_models import (CROSS_CHECK_TOL, NUM_SPECIAL, cross_check, make_config,  # noqa: E402
                           search_seed)
from golden_tokenizer import train_tokenizer, write_tokenizer_cases  # noqa: E402


# ---------------------------------------------------------------------------
# Golden outputs: logits.npy and golden.json


def write_npy(path, logits):
    arr = np.ascontiguousarray(logits.detach().cpu().numpy().astype(np.float32))
    np.save(path, arr)


def logit_stats(logits, margins):
    return {
        "logits_std": float(logits.std()),
        "logits_min": float(logits.min()),
        "logits_max": float(logits.max()),
        "step_margins": [float(m) for m in margins],
    }


# ---------------------------------------------------------------------------
# Golden cases

CASES = [
    dict(name="f32-basic", heads=4, hidden=64, layers=2, vocab=512,
         dtype=torch.float32, prompt=16, new=10, base_seed=1000,
         description="F32, n_head 4, hidden 64, 2 layers, vocab 512; save_pretrained "
                     "as-is: one model.safetensors, 'transformer.'-prefixed names, "
                     "lm_head tied and not stored."),
    dict(name="f16-heads6", heads=6, hidden=96, layers=3, vocab=384,
         dtype=torch.float16, prompt=24, new=8, base_seed=2000,
         description="F16 storage, n_head 6 (not a power of two: ALiBi's extra "
                     "slopes), hidden 96, 3 layers, vocab 384; golden logits are the "
                     "float32 forward of the stored F16 weights."),
    dict(name="bf16-long-prompt", heads=12, hidden=96, layers=2, vocab=512,
         dtype=torch.bfloat16, prompt=300, new=8, base_seed=3000,
         description="BF16 storage, n_head 12 (head_dim 8), hidden 96, 2 layers, "
                     "vocab 512, 300-token prompt; golden logits are the float32 "
                     "forward of the stored BF16 weights."),
    dict(name="sharded-bare-postln", heads=5, hidden=80, layers=3, vocab=448,
         dtype=torch.float32, prompt=20, new=12, base_seed=4000,
         eps=1e-6, post_ln=True, shard=True,
         description="F32, n_head 5 (not a power of two), hidden 80, 3 layers, vocab "
                     "448, apply_residual_connection_post_layernorm=True, "
                     "layer_norm_epsilon=1e-6; two shards with bare tensor names "
                     "(no 'transformer.' prefix) plus model.safetensors.index.json; "
                     "config.json uses the alternative key spellings."),
]


def write_golden(case_dir, description, res, n_new, extra):
    write_npy(os.path.join(case_dir, "logits.npy"), res["logits"])
    golden = {
        "description": description,
        "prompt_tokens": [int(t) for t in res["prompt"]],
        "max_new_tokens": n_new,
        "generated_tokens": [int(t) for t in res["generated"]],
        "logits_file": "logits.npy",
        "logits_shape": list(res["logits"].shape),
        "min_top1_margin": float(min(res["margins"])),
        "transformers_version": transformers.__version__,
        "torch_version": torch.__version__,
        "seed": res["seed"],
        "init": {"embedding_layernorm_scale": res["variant"][0],
                 "output_projection_gain": res["variant"][1],
                 "rule": "linear W ~ N(0, gain^2/fan_in) (gain on self_attention.dense "
                         "and mlp.dense_4h_to_h only), word_embeddings ~ N(0, (2.5/"
                         "sqrt(H))^2), layer-norm gamma 1+0.1N, biases and betas 0.1N, "
                         "embedding layer norm's gamma and beta times its scale"},
        "varied_continuation": res["varied"],
        "decoding": "greedy, no EOS stop; row i of logits predicts token i+1 of "
                    "prompt+generated: the prompt forward's P rows, then one row per "
                    "decode step computed incrementally with past_key_values; checked "
                    "against one full forward over prompt+generated[:-1] (tolerance "
                    f"{CROSS_CHECK_TOL}). float32 on CPU.",
    }
    golden.update(extra)
    golden.update(logit_stats(res["logits"], res["margins"]))
    with open(os.path.join(case_dir, "golden.json"), "w") as f:
        json.dump(golden, f, indent=2)
        f.write("\n")


def run_case(case, out_root, scratch):
    name = case["name"]
    log(f"== case {name}")
    cfg = make_config(case["vocab"], case["hidden"], case["heads"], case["layers"],
                      eps=case.get("eps", 1e-5), post_ln=case.get("post_ln", False))
    vocab, plen = case["vocab"], case["prompt"]

    def make_prompt(seed):
        gen = torch.Generator().manual_seed(seed * 7919 + 17)
        return [int(t) for t in torch.randint(NUM_SPECIAL, vocab, (plen,), generator=gen)]

    res = search_seed(cfg, case["dtype"], case["base_seed"], make_prompt, case["new"])
    model = res["model"]
    cross_check(model, res["prompt"], res["generated"], res["logits"], "cross-check")

    case_dir = os.path.join(out_root, "test", "golden", "cases", name)
    if os.path.exists(case_dir):
        shutil.rmtree(case_dir)
    os.makedirs(case_dir)
    extra = {
        "storage_dtype": str(case["dtype"]).replace("torch.", ""),
        "config": {"vocab_size": vocab, "hidden_size": case["hidden"],
                   "n_head": case["heads"], "n_layer": case["layers"],
                   "layer_norm_epsilon": case.get("eps", 1e-5),
                   "apply_residual_connection_post_layernorm": case.get("post_ln", False)},
    }
    if not case.get("shard"):
        save_model(model, case_dir, case["dtype"])
        with open(os.path.join(case_dir, "config.json")) as f:
            log("  config.json as written by transformers: " + f.read().replace("\n", " "))
        verify_stored(case_dir, model, case["dtype"], "transformer.")
        extra["tensor_names"] = "transformer.-prefixed (save_pretrained as-is), lm_head not stored"
        extra["reload_max_abs_diff"] = reload_check(case_dir, res["prompt"],
                                                    res["generated"], res["logits"])
    else:
        saved = os.path.join(scratch, name)
        save_model(model, saved, case["dtype"])
        with open(os.path.join(saved, "config.json")) as f:
            log("  config.json as written by transformers: " + f.read().replace("\n", " "))
        verify_stored(saved, model, case["dtype"], "transformer.")
        # Reload the as-written checkpoint, a sanity check of the model itself.
        reload_check(saved, res["prompt"], res["generated"], res["logits"])
        shutil.copy(os.path.join(saved, "config.json"), os.path.join(case_dir, "config.json"))
        extra["config_key_rewrites"] = rewrite_config_keys(os.path.join(case_dir, "config.json"))
        weight_map = write_bare_shards(saved, case_dir)
        seen = verify_stored(case_dir, model, case["dtype"], "")
        assert seen == weight_map, "index weight_map disagrees with the shards"
        extra["tensor_names"] = "bare (no transformer. prefix), 2 shards + index"
        # Does transformers itself load the rewritten checkpoint? Recorded,
        # not required: the golden logits come from the in-memory model.
        try:
            extra["reload_max_abs_diff"] = reload_check(
                case_dir, res["prompt"], res["generated"], res["logits"])
            extra["transformers_loads_rewritten_checkpoint"] = True
        except Exception as e:  # noqa: BLE001
            log(f"  NOTE: transformers could not reload the rewritten checkpoint: {e!r}")
            extra["transformers_loads_rewritten_checkpoint"] = False
            extra["transformers_reload_error"] = repr(e)[:500]
    write_golden(case_dir, case["description"], res, case["new"], extra)
    log(f"  wrote {sorted(os.listdir(case_dir))}")


# ---------------------------------------------------------------------------
# ALiBi slopes

ALIBI_HEADS = list(range(1, 17)) + [20, 32, 71, 112]


def write_alibi(out_root):
    log("== alibi slopes")
    from transformers.models.bloom.modeling_bloom import build_alibi_tensor
    result = {}
    mask = torch.ones((1, 2), dtype=torch.long)
    for n in ALIBI_HEADS:
        alibi = build_alibi_tensor(mask, n, torch.float32)
        assert tuple(alibi.shape) == (n, 1, 2), alibi.shape
        assert alibi.dtype == torch.float32
        assert bool((alibi[:, 0, 0] == 0).all())
        # Position 1 times the slope is the slope exactly.
        slopes = [float(v) for v in alibi[:, 0, 1]]
        assert all(s > 0 for s in slopes)
        result[str(n)] = slopes
    log(f"  n=8: {result['8']}")
    log(f"  n=5: {result['5']}")
    path = os.path.join(out_root, "test", "golden", "alibi_slopes.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")


# ---------------------------------------------------------------------------
# Tiny default model (its tokenizer: golden_tokenizer.py)

TINY_PROMPT = "The quick brown fox jumps over the lazy dog."


def make_tiny(out_root):
    log("== tiny-random default model")
    tok = train_tokenizer(1024)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    log(f"  tokenizer vocab size {vocab}")
    cfg = make_config(vocab, 64, 4, 2)
    prompt = list(tok.encode(TINY_PROMPT).ids)
    log(f"  prompt {TINY_PROMPT!r} -> {prompt}")
    n_new = 8
    res = search_seed(cfg, torch.float32, 5000, lambda seed: prompt, n_new)
    model = res["model"]
    cross_check(model, prompt, res["generated"], res["logits"], "cross-check")

    model_dir = os.path.join(out_root, "models", "bloom", "tiny-random")
    if os.path.exists(model_dir):
        shutil.rmtree(model_dir)
    save_model(model, model_dir, torch.float32)
    for extra_file in ("generation_config.json",):
        p = os.path.join(model_dir, extra_file)
        if os.path.exists(p):
            os.remove(p)
    tok.save(os.path.join(model_dir, "tokenizer.json"), pretty=True)
    verify_stored(model_dir, model, torch.float32, "transformer.")
    reload_diff = reload_check(model_dir, prompt, res["generated"], res["logits"])

    # The saved tokenizer must load and behave like the trained one.
    from tokenizers import Tokenizer
    reloaded = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    assert reloaded.encode(TINY_PROMPT).ids == prompt
    write_tokenizer_cases(reloaded, out_root)

    case_dir = os.path.join(out_root, "test", "golden", "cases", "tiny-random-text")
    if os.path.exists(case_dir):
        shutil.rmtree(case_dir)
    os.makedirs(case_dir)
    write_golden(case_dir,
                 "The embedded default model models/bloom/tiny-random with its "
                 "tokenizer: a text prompt, tokenized, then greedy decoding.",
                 res, n_new,
                 {"checkpoint_dir": "models/bloom/tiny-random",
                  "prompt_text": TINY_PROMPT,
                  "generated_text": reloaded.decode(res["generated"]),
                  "full_text": reloaded.decode(prompt + res["generated"]),
                  "storage_dtype": "float32",
                  "reload_max_abs_diff": reload_diff,
                  "config": {"vocab_size": vocab, "hidden_size": 64, "n_head": 4,
                             "n_layer": 2}})
    log(f"  tiny model files {sorted(os.listdir(model_dir))}")


# ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="output root (mirrors the repo)")
    parser.add_argument("--only", default="", help="comma-separated case names (debug)")
    args = parser.parse_args()

    versions = {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
    }
    log(f"versions: {versions}")
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_default_dtype(torch.float32)

    out_root = os.path.abspath(args.out)
    os.makedirs(os.path.join(out_root, "test", "golden", "cases"), exist_ok=True)
    with open(os.path.join(out_root, "test", "golden", "versions.json"), "w") as f:
        json.dump(versions, f, indent=2)
        f.write("\n")

    only = set(filter(None, args.only.split(",")))
    guarded("alibi", write_alibi, out_root)
    scratch = tempfile.mkdtemp(prefix="bloom-goldens-")
    for case in CASES:
        if only and case["name"] not in only:
            continue
        guarded(case["name"], run_case, case, out_root, scratch)
    if not only or "tiny-random" in only:
        guarded("tiny-random", make_tiny, out_root)
    shutil.rmtree(scratch, ignore_errors=True)

    if FAILURES:
        log(f"FAILURES: {FAILURES}")
        sys.exit(1)
    log("all goldens written")


if __name__ == "__main__":
    main()
