// The one walk over a plan's instructions that every backend steps with:
// in order, stopping at the first error, which comes back naming where it
// happened, "instruction I (Kernel -> 'first result'): cause", with the
// cause's status code kept. What an instruction does is the backend's
// (its op table, its weight streamer); the loop and the error's form are
// the same for all.
#pragma once

#include <cstddef>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

// Runs `run_one(index, instruction)` for each instruction of `plan`.
absl::Status ForEachInstruction(
    const plan::Plan& plan,
    absl::FunctionRef<absl::Status(size_t index, const plan::Instruction& instruction)> run_one);

// `cause` with the context ForEachInstruction adds; OK stays OK. For a
// backend that runs instructions outside the loop (a profile, say).
absl::Status InInstruction(const plan::Plan& plan, size_t index, const absl::Status& cause);

}  // namespace bloom
