// Loads a plan directory's plan.bplan: reads the bytes, runs FlatBuffers'
// Verifier (every offset and vector in bounds), checks the file identifier
// and schema version, then ValidatePlan's semantic checks. Nothing in a plan
// is trusted before this returns OK.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

class LoadedPlan {
 public:
  // `plan_dir` is a directory written by bloom-compile.
  static absl::StatusOr<LoadedPlan> Load(const std::string& plan_dir);
  // Verifies an in-memory plan file; `label` names it in errors.
  static absl::StatusOr<LoadedPlan> FromBytes(std::vector<uint8_t> bytes,
                                              std::string label);

  const plan::Plan& plan() const { return *plan_; }
  // The plan file's path (or label), for messages.
  const std::string& label() const { return label_; }

 private:
  std::vector<uint8_t> bytes_;  // owns what plan_ points into
  const plan::Plan* plan_ = nullptr;
  std::string label_;
};

}  // namespace bloom
