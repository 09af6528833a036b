"""Perplexity as llama.cpp's llama-perplexity computes it, and as
bloom-run --perplexity must reproduce it: the method is the golden's
definition, so it is spelled out here once.

The text's tokens (no special tokens) are cut into windows of N tokens.
- Halves (no stride): window k is tokens[k*N:(k+1)*N] for k = 0 ..
  len // N - 1 (a shorter tail is dropped); in each window the logits at
  positions i = N/2 .. N-2 predict token i+1.
- Stride S: windows start at 0, S, 2S, ... while start + N <= len; each
  scores its last S predictions (positions N-1-S .. N-2 predict i+1).
Each scored token's NLL is -log_softmax(logits)[next token], in float64.
PPL = exp(mean NLL); its standard error is, as llama.cpp reports it,
PPL * sqrt((mean(nll^2) - mean(nll)^2) / (count - 1)).
"""

import math

import torch


def half_windows(num_tokens, n_ctx):
    """(start, first scored position) of each window, halves mode."""
    return [(k * n_ctx, n_ctx // 2) for k in range(num_tokens // n_ctx)]


def stride_windows(num_tokens, n_ctx, stride):
    return [(start, n_ctx - 1 - stride) for start in range(0, num_tokens - n_ctx + 1, stride)]


@torch.no_grad()
def score_windows(model, tokens, windows, n_ctx, device, batch_size=16):
    """The NLLs (float64) of every scored token, and each window's sum."""
    nlls, window_sums = [], []
    for b in range(0, len(windows), batch_size):
        batch = windows[b:b + batch_size]
        ids = torch.tensor([tokens[s:s + n_ctx] for s, _ in batch], dtype=torch.long,
                           device=device)
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids),
                       use_cache=False).logits
        for row, (_, first) in enumerate(batch):
            log_probs = torch.log_softmax(logits[row, first:n_ctx - 1].to(torch.float64), dim=-1)
            targets = ids[row, first + 1:n_ctx]
            nll = -log_probs.gather(-1, targets[:, None]).squeeze(-1)
            nlls.append(nll.cpu())
            window_sums.append(float(nll.sum()))
    return torch.cat(nlls), window_sums


def summarise(nlls):
    count = int(nlls.numel())
    if count < 2:
        raise ValueError(f"only {count} tokens were scored: the text is shorter than a window")
    mean = float(nlls.mean())
    mean_sq = float((nlls * nlls).mean())
    ppl = math.exp(mean)
    stderr = ppl * math.sqrt(max(mean_sq - mean * mean, 0.0) / (count - 1))
    return {"ppl": ppl, "ppl_stderr": stderr, "mean_nll": mean, "scored_tokens": count}


def perplexity(model, tokens, n_ctx, device, stride=0):
    """The golden record of one mode: PPL, its error, the counts, and each
    window's NLL sum (for locating a disagreement window by window)."""
    if n_ctx < 4 or n_ctx % 2:
        raise ValueError(f"the window N must be even and at least 4, got {n_ctx}")
    if stride:
        if not 0 < stride < n_ctx:
            raise ValueError(f"the stride S must be in (0, N), got {stride}")
        windows = stride_windows(len(tokens), n_ctx, stride)
    else:
        windows = half_windows(len(tokens), n_ctx)
    if not windows:
        raise ValueError(f"{len(tokens)} tokens do not fill one window of {n_ctx}")
    nlls, sums = score_windows(model, tokens, windows, n_ctx, device)
    record = summarise(nlls)
    record.update({"n_ctx": n_ctx, "stride": stride, "windows": len(windows),
                   "window_nll_sums": sums})
    return record
