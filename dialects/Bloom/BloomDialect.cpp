#include "dialects/Bloom/BloomDialect.h"

#include "dialects/Bloom/BloomAttrs.h"
#include "dialects/Bloom/BloomOps.h"
#include "llvm/ADT/TypeSwitch.h"

#include "dialects/Bloom/BloomDialect.cpp.inc"

namespace bloom::graph {

void BloomDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "dialects/Bloom/BloomOps.cpp.inc"
      >();
  registerAttributesAndTypes();
}

}  // namespace bloom::graph
