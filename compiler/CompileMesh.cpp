#include "compiler/CompileMesh.h"

#include <string>
#include <utility>

#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Location.h"

namespace bloom {

std::string UnitsFileOfPosition(llvm::StringRef units_file, MeshPosition position,
                                MeshShape mesh) {
  if (mesh.pp == 1 && mesh.tp == 1) return units_file.str();
  std::string stem = units_file.drop_back(4).str();
  if (mesh.pp > 1) stem += ".stage" + std::to_string(position.stage);
  return stem + ".rank" + std::to_string(position.tp_rank) + ".bin";
}

mlir::FailureOr<std::vector<MeshPlan>> CompileMesh(mlir::ModuleOp graph,
                                                   const CompileMeshOptions& options) {
  mlir::MLIRContext& context = *graph.getContext();
  const MeshShape& mesh = options.mesh;
  auto fail = [&]() { return mlir::emitError(mlir::UnknownLoc::get(&context)); };
  if (mesh.pp < 1 || mesh.tp < 1) {
    fail() << "a mesh needs at least one stage and one rank, got pp=" << mesh.pp
           << " tp=" << mesh.tp;
    return mlir::failure();
  }
  if (options.only && (options.only->stage < 0 || options.only->stage >= mesh.pp ||
                       options.only->tp_rank < 0 || options.only->tp_rank >= mesh.tp)) {
    fail() << "mesh position (stage " << options.only->stage << ", tp rank "
           << options.only->tp_rank << ") is outside the mesh pp=" << mesh.pp << " tp=" << mesh.tp;
    return mlir::failure();
  }

  std::vector<MeshPlan> plans;
  for (int64_t stage = 0; stage < mesh.pp; ++stage) {
    for (int64_t rank = 0; rank < mesh.tp; ++rank) {
      const MeshPosition position{stage, rank};
      if (options.only && (options.only->stage != stage || options.only->tp_rank != rank)) {
        continue;
      }
      mlir::OwningOpRef<mlir::ModuleOp> copy = graph.clone();
      mlir::PassManager pm(&context);
      if (options.configure && mlir::failed(options.configure(pm))) return mlir::failure();
      PipelineOptions pipeline = options.pipeline;
      pipeline.pp_size = mesh.pp;
      pipeline.pp_stage = stage;
      pipeline.tp_size = mesh.tp;
      pipeline.tp_rank = rank;
      pipeline.units_file = UnitsFileOfPosition(options.pipeline.units_file, position, mesh);
      BuildPipeline(pm, pipeline, options.last);
      if (mlir::failed(pm.run(*copy))) return mlir::failure();
      plans.push_back(MeshPlan{position, std::move(copy)});
    }
  }
  return plans;
}

}  // namespace bloom
