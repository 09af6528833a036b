// The compiler driver over a device mesh: the pipeline (Pipeline.h) run once
// per mesh position, (pipeline stage, tensor-parallel rank), each run on its
// own copy of the imported bloom graph. bloom-compile is a front end over
// it: flags in, plans out.
//
// A position's pipeline cuts its stage's layers (--bloom-partition-pp, when
// pp > 1), then splits them over its tensor-parallel ranks
// (--bloom-partition-tp, when tp > 1).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "compiler/Pipeline.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/LogicalResult.h"

namespace bloom {

// Devices along each axis: pp pipeline stages of tp tensor-parallel ranks.
struct MeshShape {
  int64_t pp = 1;
  int64_t tp = 1;
};

struct MeshPosition {
  int64_t stage = 0;
  int64_t tp_rank = 0;
};

// One position's plan module, after the pipeline ran up to the requested
// stage.
struct MeshPlan {
  MeshPosition position;
  mlir::OwningOpRef<mlir::ModuleOp> module;
};

struct CompileMeshOptions {
  MeshShape mesh;
  // The pipeline's options for every position; the driver sets pp_size,
  // pp_stage, tp_size and tp_rank, and names each position's weight-units
  // file after it (UnitsFileOfPosition) when there are several.
  PipelineOptions pipeline;
  PipelineStage last = PipelineStage::kPlan;
  // Compile this position only (bloom-compile --emit prints one rank's IR).
  std::optional<MeshPosition> only;
  // Called with each position's pass manager before it runs: the front
  // end's command-line pass-manager options and timing. A failure stops
  // the compile (it reports its own diagnostic).
  std::function<mlir::LogicalResult(mlir::PassManager&)> configure;
};

// The weight-units file of mesh position `position` of `mesh` (each position
// streams its own weights): `units_file` itself on a mesh of one device,
// "<stem>.rank<R>.bin" with tensor parallelism alone, and
// "<stem>.stage<S>.rank<R>.bin" with pp > 1 (the rank also at tp = 1, as the
// plan files are named). `units_file` ends in ".bin".
std::string UnitsFileOfPosition(llvm::StringRef units_file, MeshPosition position,
                                MeshShape mesh);

// Runs the pipeline for every position of `options.mesh` (or only
// `options.only`), stage-major then rank order, on clones of `graph`.
// Errors (an empty mesh, a position outside it, a pass that fails) are diagnostics on the graph's context, and the result is failure.
mlir::FailureOr<std::vector<MeshPlan>> CompileMesh(mlir::ModuleOp graph,
                                                   const CompileMeshOptions& options);

}  // namespace bloom
