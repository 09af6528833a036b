"""Physical floors of BLOOM inference on one GPU: the least time any
implementation could take, from the bytes it must move through device memory
and the FLOPs it must do, over the two ceilings measured in the same run
(ceilings.py). The larger of the two times is the floor.

Model sizes come from config.json; weights and KV cache are counted at the
storage width of the benchmark (bf16: 2 bytes).

Decode step of b sequences whose context (positions attended, the new one
included) is c:
  bytes = every weight once (the LM head reads the whole embedding table)
        + K and V of every layer for b * c positions
  FLOPs = 2 * b * (matmul parameters, the LM head included)
        + 4 * b * c * hidden * layers          (QK^T and PV)
Prefill of one T-token prompt (time to first token):
  FLOPs = 2 * T * (block parameters) + 2 * hidden * vocab (one LM-head row)
        + 2 * T^2 * hidden * layers            (causal QK^T and PV: half of T^2 each)
  bytes = every weight once + K and V written for T positions
"""
import json


class BloomShape:
    def __init__(self, config, element_bytes=2):
        def key(*names):
            for name in names:
                if name in config:
                    return int(config[name])
            raise KeyError(f"config.json has none of {names}")

        self.vocab = key("vocab_size")
        self.hidden = key("hidden_size", "n_embed")
        self.heads = key("num_attention_heads", "n_head")
        self.layers = key("num_hidden_layers", "n_layer")
        self.tied = bool(config.get("tie_word_embeddings", True))
        self.element_bytes = element_bytes

    @classmethod
    def from_file(cls, path, element_bytes=2):
        with open(path) as f:
            return cls(json.load(f), element_bytes)

    @property
    def embedding_params(self):
        return self.vocab * self.hidden

    @property
    def block_params(self):
        h = self.hidden
        # 2 layer norms (4h), QKV (3h^2 + 3h), dense (h^2 + h),
        # h->4h (4h^2 + 4h), 4h->h (4h^2 + h).
        return self.layers * (12 * h * h + 13 * h)

    @property
    def params(self):
        head = 0 if self.tied else self.embedding_params
        # embeddings + their layer norm + blocks + ln_f (+ untied head)
        return self.embedding_params + 2 * self.hidden + self.block_params + 2 * self.hidden + head

    @property
    def weight_bytes(self):
        return self.params * self.element_bytes

    def kv_bytes(self, positions):
        """K and V of every layer for `positions` cached positions."""
        return 2 * self.layers * positions * self.hidden * self.element_bytes


def _floor(bytes_moved, flops, ceilings):
    memory_s = bytes_moved / ceilings["bandwidth_bytes_per_s"]
    compute_s = flops / ceilings["bf16_flops_per_s"]
    return {
        "bytes": bytes_moved,
        "flops": flops,
        "memory_ms": memory_s * 1e3,
        "compute_ms": compute_s * 1e3,
        "floor_ms": max(memory_s, compute_s) * 1e3,
        "bound": "memory" if memory_s >= compute_s else "compute",
    }


def decode_step_floor(shape, batch, context, ceilings):
    """Floor of one decode step of `batch` sequences at context `context`."""
    matmul_params = shape.block_params + shape.embedding_params  # LM head
    flops = 2 * batch * matmul_params + 4 * batch * context * shape.hidden * shape.layers
    bytes_moved = shape.weight_bytes + shape.kv_bytes(batch * context)
    return _floor(bytes_moved, flops, ceilings)


def median_decode_floor(shape, batch, prompt_len, new_tokens, ceilings):
    """Floor of the median decode step of a run: steps 1 .. new_tokens-1
    attend prompt_len + step positions, so the median step's context is the
    median of those (the floor grows with context)."""
    steps = list(range(1, new_tokens))
    if not steps:
        return None
    contexts = sorted(prompt_len + s for s in steps)
    middle = len(contexts) // 2
    if len(contexts) % 2:
        return decode_step_floor(shape, batch, contexts[middle], ceilings)
    low = decode_step_floor(shape, batch, contexts[middle - 1], ceilings)
    high = decode_step_floor(shape, batch, contexts[middle], ceilings)
    return {k: (low[k] + high[k]) / 2 if k != "bound" else high[k] for k in high}


def prefill_floor(shape, prompt_len, ceilings, batch=1):
    """Floor of the prefill of `batch` prompts of `prompt_len` tokens (time
    to first token)."""
    t = prompt_len
    flops = batch * (2 * t * shape.block_params + 2 * shape.embedding_params
                     + 2 * t * t * shape.hidden * shape.layers)
    bytes_moved = shape.weight_bytes + shape.kv_bytes(batch * t)
    return _floor(bytes_moved, flops, ceilings)


def minimum_memory_bytes(shape, batch, positions):
    """Device memory no implementation can do without: the weights and the
    KV cache of `batch` sequences of `positions` positions."""
    return shape.weight_bytes + shape.kv_bytes(batch * positions)
