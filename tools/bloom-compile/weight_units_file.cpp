#include "tools/bloom-compile/weight_units_file.h"

#include <cstring>
#include <fstream>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dialects/Plan/PlanOps.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "runtime/support/status_macros.h"
#include "tools/bloom-compile/pack_weights.h"

namespace bloom {

absl::Status WriteWeightUnits(mlir::ModuleOp module, const Checkpoint& checkpoint,
                              const std::string& plan_dir) {
  auto programs = module.getOps<plan_ir::ProgramOp>();
  if (std::distance(programs.begin(), programs.end()) != 1) return absl::OkStatus();
  plan_ir::ProgramOp program = *programs.begin();
  // Disk units by file, then by offset: each file is written front to back.
  std::map<std::string, std::map<uint64_t, plan_ir::WeightUnitOp>> files;
  for (auto unit : program.getBody().getOps<plan_ir::WeightUnitOp>()) {
    if (unit.getResidency() != plan_ir::Residency::Disk) continue;
    files[unit.getFile()->str()][*unit.getFileOffset()] = unit;
  }
  if (files.empty()) return absl::OkStatus();
  std::map<std::string, std::vector<plan_ir::WeightOp>> members;
  for (auto weight : program.getBody().getOps<plan_ir::WeightOp>()) {
    if (weight.getStreamUnit()) members[weight.getStreamUnit()->str()].push_back(weight);
  }
  for (auto& [file, units] : files) {
    llvm::SmallString<256> path(plan_dir);
    llvm::sys::path::append(path, file);
    if (std::error_code error =
            llvm::sys::fs::create_directories(llvm::sys::path::parent_path(path))) {
      return absl::InternalError(absl::StrCat(path.str().str(), ": ", error.message()));
    }
    std::ofstream out(path.str().str(), std::ios::binary | std::ios::trunc);
    if (!out) return absl::InternalError(absl::StrCat(path.str().str(), ": cannot create"));
    uint64_t written = 0;
    std::vector<uint8_t> block, bytes;
    for (auto& [offset, unit] : units) {
      if (offset < written) {
        return absl::InternalError(absl::StrCat(path.str().str(), ": unit '", unit.getName().str(),
                                                "' overlaps the previous"));
      }
      // A gap (none as the tier pass lays units out) stays zeros.
      block.assign(offset - written + unit.getBytes(), 0);
      uint8_t* base = block.data() + (offset - written);
      for (plan_ir::WeightOp weight : members[unit.getName().str()]) {
        BLOOM_RETURN_IF_ERROR(ReadPlanWeight(checkpoint, weight, bytes));
        std::memcpy(base + *weight.getSlotOffset(), bytes.data(), bytes.size());
      }
      out.write(reinterpret_cast<const char*>(block.data()),
                static_cast<std::streamsize>(block.size()));
      written = offset + unit.getBytes();
    }
    out.close();
    if (!out) return absl::InternalError(absl::StrCat(path.str().str(), ": write failed"));
  }
  return absl::OkStatus();
}

}  // namespace bloom
