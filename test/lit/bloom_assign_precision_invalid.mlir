// RUN: bloom-opt --bloom-assign-precision=policy=int8 --split-input-file --verify-diagnostics %s

// Tests that an unknown policy is an error naming the accepted ones.
// expected-error @+1 {{bloom-assign-precision: unknown policy 'int8' (expected fp32, bf16 or fp16)}}
module {
  func.func @step() {
    return
  }
}
