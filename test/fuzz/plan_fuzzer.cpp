// Feeds arbitrary bytes to the plan loader (FlatBuffers verification, the
// schema version check and ValidatePlan). A plan file is outside input:
// whatever it holds must end in an error status, never a crash or an
// out-of-bounds read. An accepted plan must also be safe to walk: every
// operand index resolves to a tensor.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "runtime/plan/plan_loader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<uint8_t> bytes(data, data + size);
  absl::StatusOr<bloom::LoadedPlan> plan = bloom::LoadedPlan::FromBytes(std::move(bytes), "fuzz.bplan");
  if (!plan.ok()) return 0;
  const auto& p = plan->plan();
  for (const auto* instruction : *p.instructions()) {
    for (uint32_t id : *instruction->operands()) {
      if (id >= p.tensors()->size()) std::abort();
      (void)p.tensors()->Get(id)->name()->size();
    }
  }
  return 0;
}
