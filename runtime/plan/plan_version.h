// The plan file's identity, shared by the writer (bloom-compile) and the
// reader (bloom-run). Bump kPlanSchemaVersion whenever plan.fbs changes in a
// way an older reader would misread; readers refuse any other version.
#pragma once

#include <cstdint>

namespace bloom::plan {

inline constexpr uint32_t kPlanSchemaVersion = 2;
// The file bloom-compile writes into a plan directory, and its readable twin.
inline constexpr char kPlanFileName[] = "plan.bplan";
inline constexpr char kPlanTextFileName[] = "plan.mlir";

}  // namespace bloom::plan
