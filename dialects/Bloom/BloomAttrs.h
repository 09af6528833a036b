// Attributes, enums and types of the `bloom` dialect (see BloomAttrs.td).
#pragma once

#include "dialects/Bloom/BloomDialect.h"
#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"

#include "dialects/Bloom/BloomEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "dialects/Bloom/BloomAttrs.h.inc"

#define GET_TYPEDEF_CLASSES
#include "dialects/Bloom/BloomTypes.h.inc"
