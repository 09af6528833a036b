// Semantic checks of a plan that FlatBuffers' Verifier cannot make: enum
// values in range, tensor shapes consistent with their row dimension, arena
// ranges inside the arena, every step-input role present once, and each
// instruction's operands of the kinds, dtypes and shapes its kernel needs,
// and the memory-tiering fields (weight_tiering_validator.h).
// After ValidatePlan succeeds the executor may index tensors and call
// kernels without further checks on the plan itself (per-step inputs are
// checked per step).
#pragma once

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

// `label` (the plan file's path) prefixes every error message.
absl::Status ValidatePlan(const plan::Plan& plan, absl::string_view label);

// Bytes one row of `tensor` takes (product of all dims but a dynamic first
// one, times the element size), or the whole tensor for a static one.
// Only meaningful on a validated plan.
uint64_t TensorRowBytes(const plan::Tensor& tensor);
// Bytes reserved for `tensor` in the arena: max_batch_tokens rows for a
// dynamic tensor, its full size for a static one.
uint64_t TensorCapacityBytes(const plan::Tensor& tensor, const plan::Plan& plan);

}  // namespace bloom
