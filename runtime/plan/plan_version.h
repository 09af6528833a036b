// The plan file's identity, shared by the writer (bloom-compile) and the
// reader (bloom-run). Bump kPlanSchemaVersion whenever plan.fbs changes in a
// way an older reader would misread; readers refuse any other version.
#pragma once

#include <cstdint>
#include <string>

namespace bloom::plan {

inline constexpr uint32_t kPlanSchemaVersion = 6;
// The file bloom-compile writes into a plan directory, and its readable twin.
inline constexpr char kPlanFileName[] = "plan.bplan";
inline constexpr char kPlanTextFileName[] = "plan.mlir";

// A tensor-parallel plan directory (tp_size N > 1) holds one plan per rank,
// plan.rank0.bplan ... plan.rank<N-1>.bplan, and no plan.bplan; a tp_size-1
// directory holds plan.bplan alone. Each rank reads only its own file.
inline std::string RankPlanFileName(int rank) {
  return "plan.rank" + std::to_string(rank) + ".bplan";
}
inline std::string RankPlanTextFileName(int rank) {
  return "plan.rank" + std::to_string(rank) + ".mlir";
}

// A pipeline-parallel plan directory (pp_size M > 1) holds one plan per mesh
// position, plan.stage<S>.rank<R>.bplan for S < M and R < tp_size (the rank
// suffix also when tp_size is 1), and neither plan.bplan nor plan.rank<R>.bplan.
// Under mpirun, global rank G runs stage G / tp_size, tensor-parallel rank
// G % tp_size.
inline std::string StagePlanFileName(int stage, int rank) {
  return "plan.stage" + std::to_string(stage) + ".rank" + std::to_string(rank) + ".bplan";
}
inline std::string StagePlanTextFileName(int stage, int rank) {
  return "plan.stage" + std::to_string(stage) + ".rank" + std::to_string(rank) + ".mlir";
}

}  // namespace bloom::plan
