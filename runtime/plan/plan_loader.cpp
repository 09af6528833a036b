#include "runtime/plan/plan_loader.h"

#include <sys/stat.h>

#include <fstream>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "flatbuffers/flatbuffers.h"
#include "runtime/plan/plan_validator.h"
#include "runtime/plan/plan_version.h"
#include "runtime/support/status_macros.h"

namespace bloom {

namespace {

bool FileExists(const std::string& path) {
  struct stat info {};
  return stat(path.c_str(), &info) == 0;
}

}  // namespace

absl::StatusOr<LoadedPlan> LoadedPlan::LoadFile(const std::string& path, const std::string& plan_dir) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open (is ", plan_dir, " a plan directory written by bloom-compile?)"));
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read failed"));
  return FromBytes(std::move(bytes), path, plan_dir);
}

absl::StatusOr<LoadedPlan> LoadedPlan::Load(const std::string& plan_dir) {
  const std::string path = absl::StrCat(plan_dir, "/", plan::kPlanFileName);
  const std::string rank0 = absl::StrCat(plan_dir, "/", plan::RankPlanFileName(0));
  if (!FileExists(path) && FileExists(absl::StrCat(plan_dir, "/", plan::StagePlanFileName(0, 0)))) {
    return absl::FailedPreconditionError(absl::StrCat(
        plan_dir, ": a pipeline-parallel plan directory (", plan::StagePlanFileName(0, 0),
        ", ... and no ", plan::kPlanFileName, "); run its stages together (a thread per mesh "
        "position, or mpirun with one process per position)"));
  }
  if (!FileExists(path) && FileExists(rank0)) {
    return absl::FailedPreconditionError(absl::StrCat(
        plan_dir, ": a tensor-parallel plan directory (", plan::RankPlanFileName(0),
        ", ... and no ", plan::kPlanFileName, "); run its ranks together (a thread per rank, or "
        "mpirun with one process per rank)"));
  }
  BLOOM_ASSIGN_OR_RETURN(LoadedPlan loaded, LoadFile(path, plan_dir));
  if (loaded.plan().tp_size() != 1 || loaded.plan().pp_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": holds rank ", loaded.plan().tp_rank(), " of a tp=", loaded.plan().tp_size(),
        " plan, but ", plan::kPlanFileName, " is the name of a tp=1 plan (ranks are ",
        plan::RankPlanFileName(0), ", ...)"));
  }
  return loaded;
}

absl::StatusOr<LoadedPlan> LoadedPlan::Load(const std::string& plan_dir, int rank) {
  const std::string path = absl::StrCat(plan_dir, "/", plan::RankPlanFileName(rank));
  if (!FileExists(path)) {
    if (rank == 0) {
      const std::string single = absl::StrCat(plan_dir, "/", plan::kPlanFileName);
      if (FileExists(single)) return Load(plan_dir);
      return absl::NotFoundError(absl::StrCat(
          single, ": cannot open (nor ", plan::RankPlanFileName(0), "; is ", plan_dir,
          " a plan directory written by bloom-compile?)"));
    }
    return absl::NotFoundError(absl::StrCat(
        path, ": cannot open the plan of rank ", rank, " (is ", plan_dir,
        " a plan directory written by bloom-compile for this many ranks?)"));
  }
  BLOOM_ASSIGN_OR_RETURN(LoadedPlan loaded, LoadFile(path, plan_dir));
  if (loaded.plan().tp_rank() != rank || loaded.plan().tp_size() < 2 ||
      loaded.plan().pp_size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": holds rank ", loaded.plan().tp_rank(), " of a tp=", loaded.plan().tp_size(),
        " plan, not rank ", rank, " of a tensor-parallel plan"));
  }
  return loaded;
}

absl::StatusOr<LoadedPlan> LoadedPlan::LoadStage(const std::string& plan_dir, int stage,
                                                 int rank) {
  const std::string path = absl::StrCat(plan_dir, "/", plan::StagePlanFileName(stage, rank));
  if (!FileExists(path)) {
    return absl::NotFoundError(absl::StrCat(
        path, ": cannot open the plan of pipeline stage ", stage, ", tensor-parallel rank ", rank,
        " (is ", plan_dir, " a plan directory written by bloom-compile for this mesh?)"));
  }
  BLOOM_ASSIGN_OR_RETURN(LoadedPlan loaded, LoadFile(path, plan_dir));
  const plan::Plan& p = loaded.plan();
  if (p.pp_stage() != stage || p.tp_rank() != rank || p.pp_size() < 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": holds stage ", p.pp_stage(), " of pp=", p.pp_size(), ", rank ", p.tp_rank(),
        " of tp=", p.tp_size(), ", not stage ", stage, ", rank ", rank,
        " of a pipeline-parallel plan"));
  }
  return loaded;
}

absl::StatusOr<LoadedPlan> LoadedPlan::LoadOutputPlan(const std::string& plan_dir) {
  if (!FileExists(absl::StrCat(plan_dir, "/", plan::StagePlanFileName(0, 0)))) {
    return Load(plan_dir, 0);
  }
  BLOOM_ASSIGN_OR_RETURN(LoadedPlan first, LoadStage(plan_dir, 0, 0));
  return LoadStage(plan_dir, first.plan().pp_size() - 1, 0);
}

absl::StatusOr<LoadedPlan> LoadedPlan::FromBytes(std::vector<uint8_t> bytes, std::string label,
                                                 std::string plan_dir) {
  // FlatBuffers reads scalars in place; std::vector's storage comes from
  // operator new and is aligned well enough for every field type.
  if (bytes.size() < 8 || !plan::PlanBufferHasIdentifier(bytes.data())) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": not a plan file (missing the 'BLMP' identifier)"));
  }
  flatbuffers::Verifier verifier(bytes.data(), bytes.size());
  if (!plan::VerifyPlanBuffer(verifier)) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": corrupt plan file (FlatBuffers verification failed)"));
  }
  LoadedPlan loaded;
  loaded.plan_ = plan::GetPlan(bytes.data());
  loaded.bytes_ = std::move(bytes);  // moving a vector keeps its buffer
  loaded.label_ = std::move(label);
  loaded.plan_dir_ = std::move(plan_dir);
  if (loaded.plan_->schema_version() != plan::kPlanSchemaVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        loaded.label_, ": plan schema version ", loaded.plan_->schema_version(),
        " but this bloom-run reads version ", plan::kPlanSchemaVersion,
        "; recompile the plan with a matching bloom-compile"));
  }
  BLOOM_RETURN_IF_ERROR(ValidatePlan(*loaded.plan_, loaded.label_));
  return loaded;
}

}  // namespace bloom
