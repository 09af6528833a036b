#include "runtime/exec/instruction_loop.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace bloom {

absl::Status InInstruction(const plan::Plan& plan, size_t index, const absl::Status& cause) {
  if (cause.ok()) return cause;
  const plan::Instruction& instruction = *plan.instructions()->Get(index);
  const auto* results = instruction.results();
  const std::string target =
      results->size() == 0
          ? std::string()
          : absl::StrCat(" -> '", plan.tensors()->Get(results->Get(0))->name()->str(), "'");
  return absl::Status(cause.code(),
                      absl::StrCat("instruction ", index, " (",
                                   plan::EnumNameKernel(instruction.kernel_type()), target,
                                   "): ", cause.message()));
}

absl::Status ForEachInstruction(
    const plan::Plan& plan,
    absl::FunctionRef<absl::Status(size_t index, const plan::Instruction& instruction)> run_one) {
  const auto* instructions = plan.instructions();
  for (size_t i = 0; i < instructions->size(); ++i) {
    absl::Status status = run_one(i, *instructions->Get(i));
    if (!status.ok()) return InInstruction(plan, i, status);
  }
  return absl::OkStatus();
}

}  // namespace bloom
