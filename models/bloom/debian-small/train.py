#!/usr/bin/env python3
"""Trains debian-small on the GPU machine and writes its goldens.

From the corpus that build_corpus.py made (train.jsonl.xz and its
manifest.json) and the committed eval.txt: trains the tokenizer (BLOOM's
settings), trains a BloomForCausalLM for a budget of wall-clock time (or a
fixed number of steps), saves it in fp16 shards with config.json and
tokenizer.json, reloads it with transformers in float32 and writes
goldens.json: perplexity on eval.txt (perplexity.py's method, halves and
stride), greedy continuations of a few prompts, and the training summary.

    PYTHONUNBUFFERED=1 python3 models/bloom/debian-small/train.py \
        --corpus .carry/corpus --out "$OUT" --time-budget 240
"""

import argparse
import hashlib
import json
import lzma
import math
import os
import platform
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
START = time.time()


def fail(message):
    sys.exit(f"train.py: {message}")


def log(message):
    print(f"[{time.time() - START:7.1f}s] {message}", flush=True)


def parse_args():
    p = argparse.ArgumentParser(description="Train debian-small and write its goldens.")
    p.add_argument("--corpus", default=os.path.join(REPO, ".carry/corpus"),
                   help="folder with train.jsonl.xz and manifest.json from build_corpus.py")
    p.add_argument("--eval-text", default=os.path.join(HERE, "eval.txt"))
    p.add_argument("--reference-tokenizer",
                   default=os.path.join(REPO, "models/bloom/tiny-random/tokenizer.json"),
                   help="a tokenizer.json with BLOOM's settings, to check ours against")
    p.add_argument("--out", required=True, help="folder for the model files and goldens")
    # Shape.
    p.add_argument("--vocab", type=int, default=8192)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--layers", type=int, default=3)
    # Training.
    p.add_argument("--time-budget", type=float, default=240.0,
                   help="seconds of training (the schedule's length is set from the "
                        "measured speed); ignored with --steps")
    p.add_argument("--steps", type=int, default=0, help="a fixed number of steps")
    p.add_argument("--max-epochs", type=float, default=12.0,
                   help="at most this many passes over the training tokens")
    p.add_argument("--seq-len", type=int, default=512)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--min-lr-ratio", type=float, default=0.1)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--val-fraction", type=float, default=0.01,
                   help="share of the training documents held out to watch overfitting "
                        "(eval.txt is never looked at during training)")
    p.add_argument("--val-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=1234)
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    # Goldens.
    p.add_argument("--ppl-ctx", type=int, default=512)
    p.add_argument("--ppl-stride", type=int, default=128)
    p.add_argument("--max-new-tokens", type=int, default=24)
    p.add_argument("--max-shard-bytes", type=int, default=14_000_000)
    return p.parse_args()


PROMPTS = [
    ("en", "To install a new package on a Debian system,"),
    ("fr", "Pour installer un nouveau paquet sur un système Debian,"),
    ("es", "Para instalar un paquete nuevo en un sistema Debian,"),
    ("pt", "Para instalar um novo pacote em um sistema Debian,"),
    ("zh", "要在 Debian 系统上安装一个新的软件包，"),
    ("vi", "Để cài đặt một gói mới trên hệ thống Debian,"),
]


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def check_inputs(args):
    """Every outside input, before anything slow starts."""
    train_path = os.path.join(args.corpus, "train.jsonl.xz")
    manifest_path = os.path.join(args.corpus, "manifest.json")
    for path, what in ((train_path, "the training corpus"), (manifest_path, "its manifest"),
                       (args.eval_text, "the evaluation text"),
                       (args.reference_tokenizer, "the reference tokenizer")):
        if not os.path.isfile(path):
            fail(f"{path}: {what} is missing (build it with build_corpus.py and carry "
                 f"{os.path.relpath(args.corpus, REPO)})")
    with open(manifest_path, encoding="utf-8") as f:
        manifest = json.load(f)
    if sha256_file(train_path) != manifest.get("train_xz_sha256"):
        fail(f"{train_path}: its SHA-256 is not the one in {manifest_path} (truncated copy?)")
    if sha256_file(args.eval_text) != manifest.get("eval_sha256"):
        fail(f"{args.eval_text}: its SHA-256 is not the one in {manifest_path}: the corpus "
             "and the evaluation text come from different builds")
    if args.hidden % args.heads or args.hidden // args.heads != 64:
        fail(f"--hidden {args.hidden} / --heads {args.heads} must give head_dim 64 "
             "(the runtime's tensor-core attention path)")
    if args.vocab % 64:
        fail(f"--vocab {args.vocab} must be a multiple of 64 (tensor-parallel splits)")
    if not 4 <= args.ppl_ctx <= args.seq_len or args.ppl_ctx % 2:
        fail(f"--ppl-ctx {args.ppl_ctx} must be even, at least 4 and at most --seq-len "
             f"{args.seq_len} (the context the model is trained on)")
    if not 0 < args.ppl_stride < args.ppl_ctx:
        fail(f"--ppl-stride {args.ppl_stride} must be in (0, --ppl-ctx)")
    if args.steps < 0 or args.time_budget <= 0 or args.batch < 1 or args.seq_len < 8:
        fail("--steps, --time-budget, --batch and --seq-len must be positive")
    os.makedirs(args.out, exist_ok=True)
    return train_path, manifest


def read_corpus(train_path):
    docs = []
    with lzma.open(train_path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            try:
                record = json.loads(line)
                docs.append((record["id"], record["lang"], record["text"]))
            except (json.JSONDecodeError, KeyError, TypeError) as e:
                fail(f"{train_path}: line {number} is not a corpus record ({e})")
    if not docs:
        fail(f"{train_path}: no documents")
    return docs


def lr_at(step, total, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    progress = min(1.0, (step - args.warmup) / max(1, total - args.warmup))
    floor = args.lr * args.min_lr_ratio
    return floor + (args.lr - floor) * 0.5 * (1 + math.cos(math.pi * progress))


def main():
    args = parse_args()
    train_path, manifest = check_inputs(args)

    import torch
    import torch.nn.functional as F
    import tokenizers
    import transformers
    from transformers import BloomConfig, BloomForCausalLM

    import bloom_tokenizer
    import checkpoint_shards
    import perplexity

    if not torch.cuda.is_available():
        fail("no CUDA device: this script trains on the GPU machine")
    device = torch.device("cuda")
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
                "gpu": torch.cuda.get_device_name(0)}
    log(f"versions {versions}")

    # --- Corpus and tokenizer ---------------------------------------------
    docs = read_corpus(train_path)
    log(f"read {len(docs)} documents, {sum(len(t) for _, _, t in docs)} characters")
    tok = bloom_tokenizer.train_tokenizer([t for _, _, t in docs], args.vocab)
    try:
        bloom_tokenizer.check_tokenizer(tok, args.reference_tokenizer, args.vocab)
    except ValueError as e:
        fail(str(e))
    tokenizer_path = os.path.join(args.out, "tokenizer.json")
    tok.save(tokenizer_path)
    tok = tokenizers.Tokenizer.from_file(tokenizer_path)  # exactly the committed file
    log(f"tokenizer: {tok.get_vocab_size()} tokens -> {tokenizer_path}")

    ids = bloom_tokenizer.encode_documents(tok, [t for _, _, t in docs])
    order = list(range(len(docs)))
    random.Random(args.seed).shuffle(order)
    n_val = max(1, int(len(docs) * args.val_fraction))
    val_docs, train_docs = order[:n_val], order[n_val:]

    def stream(indices):
        out = []
        for i in indices:
            out.extend(ids[i])
            out.append(bloom_tokenizer.EOS_ID)
        return torch.tensor(out, dtype=torch.int32)

    train_tokens, val_tokens = stream(train_docs), stream(val_docs)
    tokens_by_lang = {}
    for i in train_docs:
        tokens_by_lang[docs[i][1]] = tokens_by_lang.get(docs[i][1], 0) + len(ids[i]) + 1
    log(f"training tokens {train_tokens.numel()} {tokens_by_lang}; "
        f"validation tokens {val_tokens.numel()}")
    if train_tokens.numel() < 100 * (args.seq_len + 1):
        fail(f"only {train_tokens.numel()} training tokens")
    train_tokens, val_tokens = train_tokens.to(device), val_tokens.to(device)

    # --- Model --------------------------------------------------------------
    config = BloomConfig(
        vocab_size=args.vocab, hidden_size=args.hidden, n_layer=args.layers, n_head=args.heads,
        layer_norm_epsilon=1e-5, initializer_range=0.02,
        apply_residual_connection_post_layernorm=False,
        bos_token_id=1, eos_token_id=2, pad_token_id=bloom_tokenizer.PAD_ID,
        tie_word_embeddings=True, hidden_dropout=args.dropout, attention_dropout=args.dropout,
    )
    model = BloomForCausalLM(config).to(device)
    model.train()
    n_params = sum(p.numel() for p in model.parameters())  # the tied matrix once
    log(f"model: {n_params} parameters, config {config.to_diff_dict()}")
    step_fn = torch.compile(model) if args.compile else model

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": args.weight_decay},
         {"params": no_decay, "weight_decay": 0.0}],
        lr=args.lr, betas=(0.9, 0.95), eps=1e-8, fused=True)

    gen = torch.Generator(device=device)
    gen.manual_seed(args.seed)
    offsets = torch.arange(args.seq_len + 1, device=device)

    def batch_from(tokens, generator):
        starts = torch.randint(0, tokens.numel() - args.seq_len - 1, (args.batch,),
                               device=device, generator=generator)
        return tokens[starts[:, None] + offsets].long()

    def loss_of(x):
        with torch.autocast("cuda", dtype=torch.bfloat16):
            logits = step_fn(input_ids=x[:, :-1], use_cache=False).logits
        return F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                               x[:, 1:].reshape(-1))

    @torch.no_grad()
    def validation_loss():
        model.eval()
        g = torch.Generator(device=device)
        g.manual_seed(args.seed + 1)  # the same batches every time
        losses = [float(loss_of(batch_from(val_tokens, g))) for _ in range(8)]
        model.train()
        return sum(losses) / len(losses)

    tokens_per_step = args.batch * args.seq_len
    max_steps = int(args.max_epochs * train_tokens.numel() / tokens_per_step)
    total_steps = args.steps or max_steps
    log(f"{tokens_per_step} tokens a step; at most {max_steps} steps ({args.max_epochs} epochs)")
    history, best = [], None
    train_start, timing_start = time.time(), None
    step, loss_value = 0, float("nan")
    while step < total_steps:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total_steps, args)
        loss = loss_of(batch_from(train_tokens, gen))
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if step == 5:
            torch.cuda.synchronize()
            timing_start = time.time()
        if step == 30 and not args.steps:
            torch.cuda.synchronize()
            per_step = (time.time() - timing_start) / 25
            remaining = args.time_budget - (time.time() - train_start)
            total_steps = max(step + 1, min(max_steps, step + int(remaining / per_step)))
            log(f"{per_step * 1000:.1f} ms a step ({tokens_per_step / per_step:.0f} tokens/s): "
                f"the schedule runs {total_steps} steps")
        if step % 50 == 0 or step == total_steps:
            loss_value = float(loss)
            log(f"step {step}/{total_steps} loss {loss_value:.4f} lr {lr_at(step - 1, total_steps, args):.2e} "
                f"grad_norm {float(grad_norm):.3f}")
            if not math.isfinite(loss_value):
                fail(f"the loss is {loss_value} at step {step}")
        if step % args.val_every == 0 or step == total_steps:
            val = validation_loss()
            history.append({"step": step, "train_loss": float(loss), "val_loss": val,
                            "seconds": round(time.time() - train_start, 1)})
            log(f"step {step} validation loss {val:.4f} (ppl {math.exp(val):.2f})")
            if best is None or val < best[0]:
                best = (val, step, {k: v.detach().clone() for k, v in model.state_dict().items()})
        if not args.steps and time.time() - train_start > 1.15 * args.time_budget:
            log(f"stopping at step {step}: past 1.15 x the time budget")
            break
    torch.cuda.synchronize()
    train_seconds = time.time() - train_start
    loss_value = float(loss)
    if not history or history[-1]["step"] != step:  # stopped by the clock
        val = validation_loss()
        history.append({"step": step, "train_loss": loss_value, "val_loss": val,
                        "seconds": round(train_seconds, 1)})
        if best is None or val < best[0]:
            best = (val, step, None)
    if best[1] != step:
        log(f"keeping step {best[1]}'s weights (validation loss {best[0]:.4f})")
        model.load_state_dict(best[2])

    # --- Checkpoint -----------------------------------------------------------
    model.config.hidden_dropout = 0.0
    model.config.attention_dropout = 0.0
    model.eval()
    files, stored = checkpoint_shards.save_sharded(model, args.out, torch.float16,
                                                   args.max_shard_bytes)
    del model, step_fn, optimizer, best
    torch.cuda.empty_cache()
    try:
        model = checkpoint_shards.load_and_verify(args.out, stored).to(device)
    except ValueError as e:
        fail(str(e))
    log(f"saved and reloaded {files}")

    # --- Goldens, from the reloaded float32 model ---------------------------
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    with open(args.eval_text, "rb") as f:  # bytes as bloom-run reads them (no newline mapping)
        eval_text = f.read().decode("utf-8")
    eval_ids = tok.encode(eval_text, add_special_tokens=False).ids
    ppl_halves = perplexity.perplexity(model, eval_ids, args.ppl_ctx, device)
    ppl_stride = perplexity.perplexity(model, eval_ids, args.ppl_ctx, device,
                                       stride=args.ppl_stride)
    log(f"eval.txt: {len(eval_ids)} tokens; PPL {ppl_halves['ppl']:.3f} +/- "
        f"{ppl_halves['ppl_stderr']:.3f} (halves, {ppl_halves['scored_tokens']} scored), "
        f"{ppl_stride['ppl']:.3f} +/- {ppl_stride['ppl_stderr']:.3f} (stride "
        f"{args.ppl_stride}, {ppl_stride['scored_tokens']} scored)")

    continuations = []
    for lang, prompt in PROMPTS:
        prompt_ids = tok.encode(prompt, add_special_tokens=False).ids
        x = torch.tensor([prompt_ids], device=device)
        with torch.no_grad():
            out = model.generate(input_ids=x, attention_mask=torch.ones_like(x), do_sample=False,
                                 num_beams=1, max_new_tokens=args.max_new_tokens,
                                 eos_token_id=bloom_tokenizer.EOS_ID,
                                 pad_token_id=bloom_tokenizer.PAD_ID)
            generated = out[0, len(prompt_ids):].tolist()
            # The same tokens from full forwards with no cache, and how
            # clear each choice was (a runtime may differ where it is not).
            tokens, margins = list(prompt_ids), []
            for _ in generated:
                ids_now = torch.tensor([tokens], device=device)
                logits = model(input_ids=ids_now, attention_mask=torch.ones_like(ids_now),
                               use_cache=False).logits[0, -1]
                top = torch.topk(logits, 2)
                margins.append(float(top.values[0] - top.values[1]))
                tokens.append(int(top.indices[0]))
        continuations.append({
            "lang": lang, "prompt": prompt, "prompt_tokens": prompt_ids,
            "generated_tokens": generated, "text": tok.decode(generated),
            "full_forward_agrees": tokens[len(prompt_ids):] == generated,
            "min_top1_margin": min(margins) if margins else None,
        })
        log(f"{lang}: {prompt!r} -> {tok.decode(generated)!r}")

    goldens = {
        "model": "debian-small",
        "versions": versions,
        "eval_text": os.path.relpath(args.eval_text, REPO),
        "eval_sha256": manifest["eval_sha256"],
        "eval_tokens": len(eval_ids),
        "perplexity": {"halves": ppl_halves, "stride": ppl_stride,
                       "method": "perplexity.py (float32 model, TF32 off, float64 log_softmax)"},
        "greedy": {"max_new_tokens": args.max_new_tokens, "do_sample": False,
                   "continuations": continuations},
        "training": {
            "steps": step, "scheduled_steps": total_steps, "kept_step": best_step(history),
            "tokens_seen": step * tokens_per_step, "train_tokens": int(train_tokens.numel()),
            "train_tokens_by_language": tokens_by_lang,
            "train_seconds": round(train_seconds, 1),
            "total_seconds": round(time.time() - START, 1),
            "final_train_loss": loss_value, "history": history,
            "parameters": n_params, "args": vars(args),
        },
    }
    with open(os.path.join(args.out, "goldens.json"), "w", encoding="utf-8") as f:
        json.dump(goldens, f, indent=1, ensure_ascii=False)
        f.write("\n")
    log(f"wrote {os.path.join(args.out, 'goldens.json')}")


def best_step(history):
    return min(history, key=lambda h: h["val_loss"])["step"] if history else None


if __name__ == "__main__":
    sys.path.insert(0, HERE)
    main()
