"""Writes the trained model as transformers writes a sharded checkpoint
(model-0000k-of-0000n.safetensors with "transformer."-prefixed names, the
tied lm_head not stored, model.safetensors.index.json, config.json), in
shards small enough to travel (each file that comes back from the GPU
machine is at most 16 MiB), and checks that transformers loads it back bit
for bit.
"""

import json
import os

import torch
from safetensors.torch import save_file
from transformers import BloomForCausalLM

INDEX_FILE = "model.safetensors.index.json"


def plan_shards(tensors, max_shard_bytes):
    """Groups (name, tensor) in order into shards of at most max_shard_bytes."""
    shards, current, size = [], [], 0
    for name, tensor in tensors:
        nbytes = tensor.numel() * tensor.element_size()
        if nbytes > max_shard_bytes:
            raise ValueError(f"tensor {name} alone is {nbytes} bytes, over the shard limit "
                             f"{max_shard_bytes}")
        if current and size + nbytes > max_shard_bytes:
            shards.append(current)
            current, size = [], 0
        current.append((name, tensor))
        size += nbytes
    if current:
        shards.append(current)
    return shards


def save_sharded(model, directory, storage_dtype, max_shard_bytes):
    """Writes the shards, the index and config.json; returns the file names."""
    os.makedirs(directory, exist_ok=True)
    state = model.state_dict()
    tied = model.lm_head.weight.data_ptr() == model.transformer.word_embeddings.weight.data_ptr()
    if not tied:
        raise ValueError("lm_head is not tied to the word embeddings")
    tensors = [(name, t.detach().to(storage_dtype).contiguous().cpu())
               for name, t in state.items() if name != "lm_head.weight"]
    shards = plan_shards(tensors, max_shard_bytes)
    weight_map, total, files = {}, 0, []
    for k, shard in enumerate(shards, start=1):
        fname = f"model-{k:05d}-of-{len(shards):05d}.safetensors"
        save_file(dict(shard), os.path.join(directory, fname), metadata={"format": "pt"})
        files.append(fname)
        for name, t in shard:
            weight_map[name] = fname
            total += t.numel() * t.element_size()
    index = {"metadata": {"total_size": total}, "weight_map": dict(sorted(weight_map.items()))}
    with open(os.path.join(directory, INDEX_FILE), "w") as f:
        json.dump(index, f, indent=2)
        f.write("\n")
    model.config.save_pretrained(directory)
    return files + [INDEX_FILE, "config.json"], dict(tensors)


def load_and_verify(directory, stored):
    """transformers' own load of `directory`, in float32, checked against
    the stored tensors bit for bit (and lm_head still tied)."""
    model = BloomForCausalLM.from_pretrained(directory).to(torch.float32).eval()
    state = model.state_dict()
    for name, tensor in stored.items():
        if name not in state:
            raise ValueError(f"transformers' reload has no tensor {name}")
        if not torch.equal(state[name].cpu(), tensor.to(torch.float32)):
            raise ValueError(f"transformers' reload of {name} differs from what was stored")
    if not torch.equal(model.lm_head.weight, model.transformer.word_embeddings.weight):
        raise ValueError("transformers' reload does not tie lm_head to the embeddings")
    return model
