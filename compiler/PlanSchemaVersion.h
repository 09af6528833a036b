// The plan.fbs schema version that this compiler writes. Lives here until
// runtime/plan has a header for it (plan.fbs names plan_format.h), so that
// writer and loader can share one constant.
#pragma once

#include <cstdint>

namespace bloom {

inline constexpr uint32_t kPlanSchemaVersion = 1;

}  // namespace bloom
