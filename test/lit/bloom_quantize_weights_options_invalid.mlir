// Tests that bad pass options end in one line naming the option and value.
//
// group-size 0 (and any size below 1) for int4:
// RUN: not bloom-opt --bloom-quantize-weights="weights=int4 group-size=0" %s 2>&1 | FileCheck %s --check-prefix=ZERO
// ZERO: error: bloom-quantize-weights: group-size=0 must be at least 1
//
// an odd group size: int4 groups must start on a byte:
// RUN: not bloom-opt --bloom-quantize-weights="weights=int4 group-size=33" %s 2>&1 | FileCheck %s --check-prefix=ODD
// ODD: error: bloom-quantize-weights: group-size=33 must be even (int4 groups start on a byte)
//
// a format that is not a quantized one (bf16 means: run no pass):
// RUN: not bloom-opt --bloom-quantize-weights="weights=int3" %s 2>&1 | FileCheck %s --check-prefix=FORMAT
// RUN: not bloom-opt --bloom-quantize-weights="weights=bf16" %s 2>&1 | FileCheck %s --check-prefix=BF16
// FORMAT: error: bloom-quantize-weights: weights=int3 is not a quantized format (int8 or int4)
// BF16: error: bloom-quantize-weights: weights=bf16 is not a quantized format (int8 or int4)
//
// an LM head format that is not a quantized one, and one given without
// quantize-lm-head (the head would not be quantized at all):
// RUN: not bloom-opt --bloom-quantize-weights="weights=int4 quantize-lm-head=true lm-head-weights=bf16" %s 2>&1 | FileCheck %s --check-prefix=HEADFORMAT
// RUN: not bloom-opt --bloom-quantize-weights="weights=int4 lm-head-weights=int8" %s 2>&1 | FileCheck %s --check-prefix=HEADOFF
// HEADFORMAT: error: bloom-quantize-weights: lm-head-weights=bf16 is not a quantized format (int8 or int4)
// HEADOFF: error: bloom-quantize-weights: lm-head-weights=int8 needs quantize-lm-head=true (the LM head is not quantized)
//
// the int4 head's group size is checked as the blocks' is:
// RUN: not bloom-opt --bloom-quantize-weights="weights=int8 quantize-lm-head=true lm-head-weights=int4 group-size=0" %s 2>&1 | FileCheck %s --check-prefix=ZERO
module {
  func.func @step(%x: tensor<?x64xf32>) -> tensor<?x8xf32> {
    %w = bloom.weight "h.0.self_attention.dense.weight" : tensor<8x64xf32>
    %y = bloom.linear %x, %w : (tensor<?x64xf32>, tensor<8x64xf32>) -> tensor<?x8xf32>
    return %y : tensor<?x8xf32>
  }
}
