"""The tiny random-weight BLOOM models of the goldens: building one with
transformers, overwriting its parameters from a seeded generator, rounding
them to the storage dtype, greedy decoding with the KV cache, the full
forward cross-check, and the search for a (variant, seed) pair whose greedy
decoding has clear margins. Used by make_goldens.py.
"""

import math

from golden_util import log  # first: it sets the environment defaults

import torch
from transformers import BloomConfig, BloomForCausalLM

MIN_MARGIN = 1e-2     # top-1 minus top-2 logit at every greedy step
CROSS_CHECK_TOL = 1e-4
NUM_SPECIAL = 4       # <unk>=0 <s>=1 </s>=2 <pad>=3


# ---------------------------------------------------------------------------
# Model construction


def make_config(vocab, hidden, heads, layers, eps=1e-5, post_ln=False):
    cfg = BloomConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        n_layer=layers,
        n_head=heads,
        layer_norm_epsilon=eps,
        apply_residual_connection_post_layernorm=post_ln,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=3,
        tie_word_embeddings=True,
        hidden_dropout=0.0,
        attention_dropout=0.0,
    )
    assert cfg.vocab_size == vocab, cfg
    assert cfg.hidden_size == hidden, cfg
    assert cfg.n_head == heads, cfg
    assert cfg.n_layer == layers, cfg
    assert cfg.layer_norm_epsilon == eps, cfg
    assert bool(cfg.apply_residual_connection_post_layernorm) == post_ln, cfg
    return cfg


# (embedding layer-norm scale, gain of the blocks' output projections),
# tried in order. With the lm_head tied to the embedding, a residual stream
# dominated by the current token's own embedding makes greedy decoding
# repeat that token forever; a small embedding layer-norm scale and larger
# block outputs let the blocks (context, nonlinearity) decide the logits.
VARIANTS = [(0.1, 2.0), (0.1, 3.0), (0.3, 1.5)]
SEEDS_PER_VARIANT = 12


def perturb(model, seed, emb_ln_scale, out_gain):
    """Overwrites every parameter from a generator seeded with `seed`.

    Linear weights ~ N(0, 1/fan_in) keep activations near unit scale, the
    attention and MLP output projections times `out_gain`; the tied
    embedding ~ N(0, (2.5/sqrt(H))^2) gives logits of std ~2.5 after ln_f;
    layer-norm gammas 1 + 0.1 N (times `emb_ln_scale` for the embedding
    layer norm), every bias and beta 0.1 N.
    """
    gen = torch.Generator().manual_seed(seed)
    hidden = model.config.hidden_size
    with torch.no_grad():
        for name, p in sorted(model.named_parameters(), key=lambda kv: kv[0]):
            noise = torch.randn(tuple(p.shape), generator=gen, dtype=torch.float32)
            emb_ln = "word_embeddings_layernorm" in name
            if p.dim() == 1:
                if name.endswith(".weight"):  # layer-norm gamma
                    value = 1.0 + 0.1 * noise
                else:  # any bias, layer-norm beta included
                    value = 0.1 * noise
                p.copy_(value * emb_ln_scale if emb_ln else value)
            elif "word_embeddings" in name:
                p.copy_(noise * (2.5 / math.sqrt(hidden)))
            else:
                gain = out_gain if name.endswith(("self_attention.dense.weight",
                                                  "mlp.dense_4h_to_h.weight")) else 1.0
                p.copy_(noise * (gain / math.sqrt(p.shape[1])))


def round_to_storage(model, dtype):
    if dtype == torch.float32:
        return
    with torch.no_grad():
        for _, p in model.named_parameters():
            p.copy_(p.to(dtype).to(torch.float32))


def assert_tied(model):
    lm = model.lm_head.weight
    emb = model.transformer.word_embeddings.weight
    assert lm.data_ptr() == emb.data_ptr(), "lm_head is not tied to word_embeddings"


def build_model(cfg, seed, storage_dtype, variant):
    torch.manual_seed(seed)
    model = BloomForCausalLM(cfg).eval()
    model.to(torch.float32)
    assert_tied(model)
    perturb(model, seed, *variant)
    round_to_storage(model, storage_dtype)
    assert_tied(model)
    return model


# ---------------------------------------------------------------------------
# Greedy decoding and the cross-check


def greedy(model, prompt, n_new):
    """Returns (generated ids, per-step margins, logits [P+N-1, V])."""
    ids = torch.tensor([prompt], dtype=torch.long)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=True)
        rows = list(out.logits[0].to(torch.float32))
        cache = out.past_key_values
        generated, margins = [], []
        for step in range(n_new):
            top = torch.topk(rows[-1], 2)
            margins.append(float(top.values[0] - top.values[1]))
            token = int(top.indices[0])
            if margins[-1] > 0:
                assert token == int(torch.argmax(rows[-1]))
            generated.append(token)
            if step == n_new - 1:
                break
            total = len(prompt) + len(generated)
            out = model(
                input_ids=torch.tensor([[token]], dtype=torch.long),
                attention_mask=torch.ones((1, total), dtype=torch.long),
                past_key_values=cache,
                use_cache=True,
            )
            cache = out.past_key_values
            assert out.logits.shape[1] == 1, out.logits.shape
            rows.append(out.logits[0, -1].to(torch.float32))
    logits = torch.stack(rows)
    assert logits.shape == (len(prompt) + n_new - 1, model.config.vocab_size), logits.shape
    return generated, margins, logits


def full_forward(model, tokens):
    ids = torch.tensor([tokens], dtype=torch.long)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False)
    return out.logits[0].to(torch.float32)


def cross_check(model, prompt, generated, logits, what):
    full = full_forward(model, prompt + generated[:-1])
    assert full.shape == logits.shape, (full.shape, logits.shape)
    diff = float((full - logits).abs().max())
    log(f"  {what}: max |full forward - incremental| = {diff:.3e}")
    assert diff < CROSS_CHECK_TOL, f"{what}: {diff} >= {CROSS_CHECK_TOL}"
    return diff


def varied(generated):
    """At least half the tokens distinct and no token three times in a row:
    a degenerate continuation (one token repeated) would let a runtime with
    a broken KV cache or position handling still match the tokens."""
    distinct = len(set(generated)) >= max(2, len(generated) // 2)
    runs = all(not (generated[i] == generated[i + 1] == generated[i + 2])
               for i in range(len(generated) - 2))
    return distinct and runs


def search_seed(cfg, storage_dtype, base_seed, make_prompt, n_new):
    """Tries (variant, seed) pairs until greedy decoding has clear margins,
    no special token and a varied continuation; returns a dict. If no pair
    gives a varied continuation, takes the most varied one that meets the
    margin and special-token rules, and says so (golden.json records it)."""
    fallback = None
    for v_index, variant in enumerate(VARIANTS):
        for k in range(SEEDS_PER_VARIANT):
            seed = base_seed + 100 * v_index + k
            model = build_model(cfg, seed, storage_dtype, variant)
            prompt = make_prompt(seed)
            generated, margins, logits = greedy(model, prompt, n_new)
            min_margin = min(margins)
            special = [t for t in generated if t < NUM_SPECIAL]
            ok_varied = varied(generated)
            log(f"  variant {variant} seed {seed}: min margin {min_margin:.4f}, "
                f"generated {generated}" + (f", special tokens {special}" if special else "")
                + ("" if ok_varied else ", not varied"))
            if min_margin < MIN_MARGIN or special:
                continue
            res = dict(model=model, seed=seed, prompt=prompt, generated=generated,
                       margins=margins, logits=logits, variant=variant,
                       varied=ok_varied)
            if ok_varied:
                return res
            if fallback is None or len(set(generated)) > len(set(fallback["generated"])):
                fallback = res
    if fallback is None:
        raise RuntimeError(f"no seed gave margins >= {MIN_MARGIN} without special tokens")
    log(f"  WARNING: no varied continuation found; using seed {fallback['seed']}")
    return fallback
