#include "runtime/parallel/step_message.h"

namespace bloom {

void PackStepMessage(const StepBatch& batch, const int32_t* tables, int64_t table_entries,
                     std::vector<int32_t>& out) {
  out.clear();
  out.insert(out.end(), batch.token_ids.begin(), batch.token_ids.end());
  out.insert(out.end(), batch.positions.begin(), batch.positions.end());
  out.insert(out.end(), batch.sequence_slots.begin(), batch.sequence_slots.end());
  out.insert(out.end(), batch.logit_rows.begin(), batch.logit_rows.end());
  out.insert(out.end(), tables, tables + table_entries);
}

StepBatch UnpackStepMessage(const std::vector<int32_t>& payload, int32_t t, int32_t r) {
  const int32_t* p = payload.data();
  StepBatch batch;
  batch.token_ids = absl::MakeConstSpan(p, t);
  batch.positions = absl::MakeConstSpan(p + t, t);
  batch.sequence_slots = absl::MakeConstSpan(p + 2 * t, t);
  batch.logit_rows = absl::MakeConstSpan(p + 3 * t, r);
  return batch;
}

}  // namespace bloom
