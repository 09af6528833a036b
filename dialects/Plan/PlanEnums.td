// Enumerations of the `plan` dialect; each mirrors the plan.fbs enum of the
// same name (less its None value, which an absent attribute expresses).
#ifndef BLOOM_DIALECT_PLAN_ENUMS_TD
#define BLOOM_DIALECT_PLAN_ENUMS_TD

include "mlir/IR/EnumAttr.td"

def Plan_TensorRole : I32EnumAttr<"TensorRole",
    "what the host writes into a step input or reads after a step", [
  I32EnumAttrCase<"TokenIds", 1, "token_ids">,
  I32EnumAttrCase<"Positions", 2, "positions">,
  I32EnumAttrCase<"SequenceSlots", 3, "sequence_slots">,
  I32EnumAttrCase<"LogitRows", 4, "logit_rows">,
  I32EnumAttrCase<"Logits", 5, "logits">,
  // Pipeline parallelism: the residual stream a later stage reads and an
  // earlier stage writes ([T, hidden] floats).
  I32EnumAttrCase<"HiddenIn", 6, "hidden_in">,
  I32EnumAttrCase<"HiddenOut", 7, "hidden_out">,
]> {
  let cppNamespace = "::bloom::plan_ir";
}

def Plan_RowDim : I32EnumAttr<"RowDim",
    "which leading dimension of a tensor varies from step to step", [
  I32EnumAttrCase<"Static", 0, "static">,
  I32EnumAttrCase<"Tokens", 1, "tokens">,
  I32EnumAttrCase<"LogitRows", 2, "logit_rows">,
]> {
  let cppNamespace = "::bloom::plan_ir";
}

def Plan_Epilogue : I32EnumAttr<"Epilogue",
    "what a linear applies to its result before storing it", [
  I32EnumAttrCase<"Gelu", 1, "gelu">,
]> {
  let cppNamespace = "::bloom::plan_ir";
}

def Plan_Residency : I32EnumAttr<"Residency",
    "where an offloaded weight unit lives between uses (device units are not declared)", [
  I32EnumAttrCase<"Host", 1, "host">,
  I32EnumAttrCase<"Disk", 2, "disk">,
]> {
  let cppNamespace = "::bloom::plan_ir";
}

def Plan_WeightFormat : I32EnumAttr<"WeightFormat",
    "how a quantized weight is stored (docs/quantization.md)", [
  I32EnumAttrCase<"Int8PerChannel", 0, "int8">,
  I32EnumAttrCase<"Int4Grouped", 1, "int4">,
]> {
  let cppNamespace = "::bloom::plan_ir";
}

def Plan_QuantizedPart : I32EnumAttr<"QuantizedPart",
    "which of a quantized weight's tensors a plan.weight is", [
  I32EnumAttrCase<"Values", 0, "values">,
  I32EnumAttrCase<"Scales", 1, "scales">,
  I32EnumAttrCase<"ZeroPoints", 2, "zero_points">,
]> {
  let cppNamespace = "::bloom::plan_ir";
}

#endif  // BLOOM_DIALECT_PLAN_ENUMS_TD
