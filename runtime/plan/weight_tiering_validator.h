// Checks of a plan's memory-tiering fields (DESIGN.md, decision 5): the
// streamed WeightUnits, the tensors that stream with them, and the slot
// discipline of PrefetchWeights / AwaitWeights in program order. Called by
// ValidatePlan once every tensor and instruction has passed its own checks
// (operand indices are in range), so that an executor may stream without
// further checks: every unit fits its slot, every streamed tensor lies
// inside its unit, and every read of a streamed tensor finds its unit's
// bytes in the slot.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

// Alignments of the tiering contract (plan.fbs): units are whole 4096-byte
// blocks at 4096-aligned file offsets, so a disk unit can be read with
// O_DIRECT straight into its slot; streamed tensors start 256-byte aligned
// inside a unit (and so inside a slot).
inline constexpr uint64_t kWeightUnitAlignment = 4096;
inline constexpr uint64_t kStreamedTensorAlignment = 256;

// `label` (the plan file's path) prefixes every error message.
absl::Status ValidateWeightTiering(const plan::Plan& plan, absl::string_view label);

}  // namespace bloom
