// Loads a plan directory's plan file: reads the bytes, runs FlatBuffers'
// Verifier (every offset and vector in bounds), checks the file identifier
// and schema version, then ValidatePlan's semantic checks. Nothing in a plan
// is trusted before this returns OK.
//
// A directory holds one plan (plan.bplan, tp_size 1), one plan per
// tensor-parallel rank (plan.rank<R>.bplan), or one per pipeline mesh position
// (plan.stage<S>.rank<R>.bplan); see plan_version.h.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

class LoadedPlan {
 public:
  // The single plan (tp_size 1) of `plan_dir`, a directory written by
  // bloom-compile. A tensor-parallel directory is refused with a message
  // saying how to run it.
  static absl::StatusOr<LoadedPlan> Load(const std::string& plan_dir);
  // Rank `rank`'s plan: plan.rank<rank>.bplan, whose tp_rank must be `rank`;
  // for rank 0 of a tp_size-1 directory, plan.bplan.
  static absl::StatusOr<LoadedPlan> Load(const std::string& plan_dir, int rank);
  // Mesh position (stage, rank)'s plan of a pipeline-parallel directory:
  // plan.stage<stage>.rank<rank>.bplan, whose pp_stage and tp_rank must match
  // and whose pp_size is at least 2.
  static absl::StatusOr<LoadedPlan> LoadStage(const std::string& plan_dir, int stage, int rank);
  // The plan whose step ends in the logits, for what a tool reads about
  // the model (vocabulary, limits, end-of-sequence id): plan.bplan, rank 0's
  // of a tensor-parallel directory, or the last stage's rank 0 of a
  // pipeline-parallel one.
  static absl::StatusOr<LoadedPlan> LoadOutputPlan(const std::string& plan_dir);
  // Verifies an in-memory plan file; `label` names it in errors. `plan_dir`
  // is where its disk-tier weight files are (WeightUnit.file is relative to
  // it); empty for a plan that has none.
  static absl::StatusOr<LoadedPlan> FromBytes(std::vector<uint8_t> bytes, std::string label,
                                              std::string plan_dir = "");

  const plan::Plan& plan() const { return *plan_; }
  // The plan file's path (or label), for messages.
  const std::string& label() const { return label_; }
  // The directory the plan file was loaded from (or FromBytes' plan_dir).
  const std::string& plan_dir() const { return plan_dir_; }

 private:
  static absl::StatusOr<LoadedPlan> LoadFile(const std::string& path, const std::string& plan_dir);

  std::vector<uint8_t> bytes_;  // owns what plan_ points into
  const plan::Plan* plan_ = nullptr;
  std::string label_;
  std::string plan_dir_;
};

}  // namespace bloom
