#include "dialects/Plan/PlanDialect.h"

#include "dialects/Plan/PlanOps.h"

#include "dialects/Plan/PlanDialect.cpp.inc"
#include "dialects/Plan/PlanEnums.cpp.inc"

namespace bloom::plan_ir {

void PlanDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/Plan/PlanOps.cpp.inc"
      >();
}

}  // namespace bloom::plan_ir
