// Finding a plan weight in the files its plan names, checked against what
// the plan recorded at compile time (DESIGN.md, decision 9): one place for
// both backends, so the CPU reference and the CUDA executor refuse the same
// mismatches with the same messages.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/checkpoint/safetensors.h"
#include "runtime/plan/plan_generated.h"
#include "runtime/support/dtype.h"

namespace bloom {

// The runtime's dtype for a plan dtype: plan_view.h's ToDType, which new
// code calls directly. Kept only until runtime/cuda/weight_upload.cpp moves
// to ToDType; then it goes.
std::optional<DType> ToRuntimeDType(plan::DType dtype);

// Files by their name in the plan (a checkpoint's shards, or a pre-sharded
// rank's own rank<R>.safetensors), each opened once and only if needed.
using WeightFiles = std::map<std::string, std::unique_ptr<SafetensorsFile>>;

struct StoredWeight {
  std::string what;  // "<path>: tensor '<stored>' (plan weight '<name>')", for errors
  const SafetensorsFile* file = nullptr;
  const SafetensorsTensor* tensor = nullptr;
  // The whole stored tensor, mapped; none of a generated file's values
  // (file->generated()): read those with file->ReadSliceAsFloat32.
  absl::Span<const uint8_t> data;
};

// Where the plan's weight files are looked up: `checkpoint_dir` (a
// --checkpoint-dir flag), or when that is empty the directory the plan was
// compiled against.
std::string WeightsDirectory(const plan::Plan& plan, const std::string& checkpoint_dir);

// Opens (once) the file that weight `tensor`'s WeightSource names under
// `dir` and finds its tensor. The stored dtype must be the one the plan
// recorded, and the stored shape the plan's, except along a slice's
// dimension, which must hold the slice; otherwise FailedPrecondition saying
// to recompile the plan.
absl::StatusOr<StoredWeight> FindStoredWeight(const plan::Tensor& tensor, const std::string& dir,
                                              WeightFiles& files);

// The seed of the generated weights the plan's files describe
// (runtime/checkpoint/generated_weights.h), or nullopt when they store
// their values: a run says where its weights came from. Reads the headers
// of the files the plan's weights name under WeightsDirectory(plan,
// checkpoint_dir); a file that cannot be
// opened is passed over (the executor's load reports it, or never needs
// it, as for weights streamed from the plan's disk units).
std::optional<uint64_t> GeneratedWeightsSeed(const plan::Plan& plan,
                                             const std::string& checkpoint_dir);

}  // namespace bloom
