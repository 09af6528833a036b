// A step as the leader of a multi-process group sends it to the other
// ranks (RankGroup's tensor-parallel followers, DistributedPipeline's
// positions): one int32 payload of token ids, positions, sequence slots (T
// each), logit rows (R) and the block tables, after a header that says T, R
// and the tables' size.
#pragma once

#include <cstdint>
#include <vector>

#include "runtime/exec/executor.h"

namespace bloom {

// Replaces `out` with the payload of `batch` and `table_entries` block-table
// entries from `tables`.
void PackStepMessage(const StepBatch& batch, const int32_t* tables, int64_t table_entries,
                     std::vector<int32_t>& out);
// The payload's int32 count for T tokens, R logit rows and the tables.
inline size_t StepMessageInts(int32_t t, int32_t r, int64_t table_entries) {
  return size_t{3} * t + r + static_cast<size_t>(table_entries);
}
// The batch a payload holds (spans into `payload`); its block tables start
// at StepMessageTables.
StepBatch UnpackStepMessage(const std::vector<int32_t>& payload, int32_t t, int32_t r);
inline const int32_t* StepMessageTables(const std::vector<int32_t>& payload, int32_t t, int32_t r) {
  return payload.data() + size_t{3} * t + r;
}

}  // namespace bloom
