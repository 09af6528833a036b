// The CPU backend's op table: which CpuOp runs each plan kernel. The one
// place the CPU backend switches on plan::Kernel; a kernel added to
// plan.fbs does not build here (-Werror=switch) until it has an op
// (runtime/cpu/ops).
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "runtime/cpu/cpu_op.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

// Prepares the op that runs `instruction` of `plan` (a validated plan that
// outlives the op). Null for PrefetchWeights and AwaitWeights: those act on
// the executor's weight slots (its WeightStreamer), not on tensors.
absl::StatusOr<std::unique_ptr<CpuOp>> MakeCpuOp(const plan::Plan& plan,
                                                 const plan::Instruction& instruction);

}  // namespace bloom
