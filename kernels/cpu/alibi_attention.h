// Causal self-attention with ALiBi position biases over the paged KV cache,
// for a packed batch of tokens drawn from any sequences (prefill chunks and
// decode steps alike; DESIGN.md, decision 1).
#pragma once

#include <cstdint>

#include "kernels/cpu/paged_kv.h"

namespace bloom::cpu {

// First stores every token's key and value at (sequence_slots[t],
// positions[t]) of `kv`, then for each token t and head h:
//   score[j] = (q_t,h · k_j,h) / sqrt(head_dim) + alibi_slopes[h] * j,
//              for key positions j = 0..positions[t] of the same sequence
//   context[t, h*head_dim : (h+1)*head_dim] = softmax(score) · V
// Storing all tokens first lets a token attend to the earlier tokens of its
// own chunk. The bias slope*j equals transformers' -slope*(i-j) up to a
// per-row constant, which softmax ignores.
//
// qkv is [num_tokens, num_heads * 3 * head_dim] in HF BLOOM's fused layout:
// for head h, q at h*3*head_dim, k at +head_dim, v at +2*head_dim.
// context is [num_tokens, num_heads * head_dim]. alibi_slopes has num_heads
// entries.
// Preconditions (the caller checks): every position's block is assigned in
// the slot's block table; all positions 0..positions[t] of a slot hold keys
// and values (stored earlier or in this batch); no two tokens of the batch
// share (slot, position).
void AlibiAttention(const float* qkv, const int32_t* positions,
                    const int32_t* sequence_slots, int64_t num_tokens,
                    const float* alibi_slopes, const PagedKvLayer& kv,
                    float* context);

}  // namespace bloom::cpu
