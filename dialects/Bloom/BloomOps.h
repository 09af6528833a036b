// Operations of the `bloom` dialect (see BloomOps.td).
#pragma once

#include "dialects/Bloom/BloomAttrs.h"
#include "dialects/Bloom/BloomDialect.h"
#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#define GET_OP_CLASSES
#include "dialects/Bloom/BloomOps.h.inc"
