// Token embedding lookup: copies one row of the embedding table per token.
#pragma once

#include <cstdint>

namespace bloom::cpu {

// out[t, :] = table[token_ids[t], :] for t in [0, num_tokens).
// Preconditions (checked by the caller): every id is in [0, vocab); table is
// [vocab, hidden], out is [num_tokens, hidden]; out does not alias table.
void EmbeddingGather(const int32_t* token_ids, int64_t num_tokens,
                     const float* table, int64_t vocab, int64_t hidden,
                     float* out);

}  // namespace bloom::cpu
