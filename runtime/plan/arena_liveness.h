// The arena check: activations may share bytes only when their live ranges
// do not overlap. A plan that breaks this would silently compute garbage, so
// the loader proves it on every plan instead of trusting the compiler's
// memory planner.
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

// Live range of an arena tensor, in instruction indices: from the first
// instruction that touches it to the last. Tensors with a role (step inputs,
// logits) are live for the whole step, since the host writes or reads them
// outside the instruction list. Also refuses an activation that an
// instruction reads before any instruction writes it. `label` prefixes
// errors. Runs after the per-tensor checks of ValidatePlan.
absl::Status CheckArenaLiveness(const plan::Plan& plan, absl::string_view label);

}  // namespace bloom
