"""Writing and verifying the goldens' checkpoints: save_pretrained in the
storage dtype, the stored tensors checked bit for bit against the model,
transformers' reload of a checkpoint, and the rewritten form of the
sharded case (alternative config.json keys, two bare-name shards and
model.safetensors.index.json). Used by make_goldens.py.
"""

import inspect
import json
import os

from golden_util import log  # first: it sets the environment defaults

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import BloomForCausalLM

from golden_models import CROSS_CHECK_TOL, assert_tied, full_forward


# ---------------------------------------------------------------------------
# Checkpoint writing and verification


def save_model(model, directory, storage_dtype):
    os.makedirs(directory, exist_ok=True)
    kwargs = {}
    params = inspect.signature(model.save_pretrained).parameters
    if "safe_serialization" in params:  # removed in transformers v5
        kwargs["safe_serialization"] = True
    model.to(storage_dtype)
    try:
        model.save_pretrained(directory, **kwargs)
    finally:
        model.to(torch.float32)
    assert_tied(model)
    log(f"  saved {sorted(os.listdir(directory))}")


def safetensors_files(directory):
    return sorted(f for f in os.listdir(directory) if f.endswith(".safetensors"))


def verify_stored(directory, model, storage_dtype, prefix):
    """Stored tensors == model parameters bit for bit; names use `prefix`."""
    state = {k: v for k, v in model.state_dict().items()}
    expected = {k[len("transformer."):] if not prefix else k
                for k in state if k != "lm_head.weight"}
    seen = {}
    for fname in safetensors_files(directory):
        with safe_open(os.path.join(directory, fname), framework="pt") as handle:
            for key in handle.keys():
                assert key not in seen, f"{key} stored twice"
                seen[key] = fname
                tensor = handle.get_tensor(key)
                assert tensor.dtype == storage_dtype, (key, tensor.dtype)
                source = key if prefix else "transformer." + key
                ref = state[source]
                assert tensor.shape == ref.shape, (key, tensor.shape, ref.shape)
                assert torch.equal(tensor.to(torch.float32), ref.to(torch.float32)), key
    names = set(seen)
    assert "lm_head.weight" not in names, "lm_head.weight stored although tied"
    if prefix:
        bad = [k for k in names if not k.startswith(prefix)]
        assert not bad, f"names without '{prefix}': {bad}"
    else:
        bad = [k for k in names if k.startswith("transformer.")]
        assert not bad, f"prefixed names in bare checkpoint: {bad}"
    assert names == expected, (sorted(names ^ expected))
    log(f"  verified {len(names)} stored tensors ({storage_dtype}, prefix {prefix!r}, "
        f"lm_head not stored)")
    return seen


def reload_check(directory, prompt, generated, logits):
    """transformers loads `directory` back; its float32 logits must match."""
    model = BloomForCausalLM.from_pretrained(directory).to(torch.float32).eval()
    full = full_forward(model, prompt + generated[:-1])
    diff = float((full - logits).abs().max())
    log(f"  reload {directory}: max |reloaded - golden| = {diff:.3e}")
    assert diff < CROSS_CHECK_TOL, f"reloaded checkpoint differs by {diff}"
    return diff


# transformers' spelling on the left; BloomConfig also accepts the right one.
KEY_PAIRS = [("hidden_size", "n_embed"),
             ("n_head", "num_attention_heads"),
             ("n_layer", "num_hidden_layers")]


def rewrite_config_keys(path):
    """Uses, for each pair, the spelling that transformers did not write."""
    with open(path) as f:
        cfg = json.load(f)
    written = {}
    for a, b in KEY_PAIRS:
        has_a, has_b = a in cfg, b in cfg
        assert has_a or has_b, f"config.json has neither {a} nor {b}"
        if has_a and not has_b:
            cfg[b] = cfg.pop(a)
            written[a] = b
        elif has_b and not has_a:
            cfg[a] = cfg.pop(b)
            written[b] = a
        else:  # both written: keep the bigscience spelling only
            assert cfg[a] == cfg[b], (a, b)
            del cfg[a]
            written[a + "+" + b] = b
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    log(f"  config.json keys rewritten: {written}")
    return written


def shard_of(bare_name):
    """Two shards; layer 1 is split between them on purpose."""
    if bare_name.startswith(("word_embeddings", "h.0.")):
        return 1
    if bare_name.startswith(("h.1.input_layernorm", "h.1.self_attention")):
        return 1
    return 2


def write_bare_shards(saved_dir, case_dir):
    tensors = {}
    for fname in safetensors_files(saved_dir):
        tensors.update(load_file(os.path.join(saved_dir, fname)))
    shards = {1: {}, 2: {}}
    for name, t in tensors.items():
        assert name.startswith("transformer."), name
        bare = name[len("transformer."):]
        shards[shard_of(bare)][bare] = t.contiguous()
    weight_map, total = {}, 0
    for idx, content in shards.items():
        assert content, f"shard {idx} is empty"
        fname = f"model-{idx:05d}-of-00002.safetensors"
        save_file(content, os.path.join(case_dir, fname), metadata={"format": "pt"})
        for name, t in content.items():
            weight_map[name] = fname
            total += t.numel() * t.element_size()
    index = {"metadata": {"total_size": total},
             "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(case_dir, "model.safetensors.index.json"), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    log(f"  wrote 2 bare shards ({len(shards[1])} + {len(shards[2])} tensors, "
        f"total_size {total})")
    return weight_map

