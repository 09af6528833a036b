#include "runtime/cpu/cpu_op.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "runtime/exec/plan_view.h"
#include "runtime/support/dtype.h"

namespace bloom {
namespace {

// How the CPU reads a stored dtype as float32. Exhaustive on purpose: a
// dtype added to DType does not build here until someone decides
// how (or whether) the CPU reads it, never silently float.
enum class FloatReading { kAsIs, kConvert, kCannot };

FloatReading ReadingOf(DType dtype) {
  switch (dtype) {
    case DType::kF32:
      return FloatReading::kAsIs;
    case DType::kF16:
    case DType::kBF16:
      return FloatReading::kConvert;
    case DType::kI32:
    // Quantized values are read through their scales (quantized_storage.h),
    // which no CPU op does yet.
    case DType::kI8:
    case DType::kI4:
      return FloatReading::kCannot;
  }
  return FloatReading::kCannot;
}

absl::Status NotFloat(const ResolvedOperand& operand) {
  return absl::InternalError(absl::StrCat(
      "tensor '", operand.tensor->name()->str(), "' is stored as ",
      plan::EnumNameDType(operand.memory_dtype), ", which the CPU backend cannot read as float"));
}

}  // namespace

std::vector<float>& PrecisionScratch::Buffer(std::vector<std::vector<float>>& buffers,
                                             size_t slot) {
  if (buffers.size() <= slot) buffers.resize(slot + 1);
  return buffers[slot];
}

absl::StatusOr<const float*> PrecisionScratch::Widen(const ResolvedOperand& operand, size_t slot) {
  const DType dtype = ToDType(operand.memory_dtype);
  switch (ReadingOf(dtype)) {
    case FloatReading::kAsIs:
      return static_cast<const float*>(operand.data);
    case FloatReading::kConvert: {
      std::vector<float>& buffer = Buffer(operands_, slot);
      buffer.resize(ElementsOf(*operand.tensor, operand.rows));
      ConvertToFloat32(dtype, operand.data, buffer.data(), buffer.size());
      return buffer.data();
    }
    case FloatReading::kCannot:
      break;
  }
  return NotFloat(operand);
}

absl::StatusOr<float*> PrecisionScratch::Output(const ResolvedOperand& result, size_t slot) {
  switch (ReadingOf(ToDType(result.memory_dtype))) {
    case FloatReading::kAsIs:
      return static_cast<float*>(result.data);
    case FloatReading::kConvert: {
      std::vector<float>& buffer = Buffer(results_, slot);
      buffer.resize(ElementsOf(*result.tensor, result.rows));
      return buffer.data();
    }
    case FloatReading::kCannot:
      break;
  }
  return NotFloat(result);
}

absl::Status PrecisionScratch::Narrow(const ResolvedOperand& result, size_t slot) {
  const DType dtype = ToDType(result.memory_dtype);
  switch (ReadingOf(dtype)) {
    case FloatReading::kAsIs:
      return absl::OkStatus();
    case FloatReading::kConvert: {
      const std::vector<float>& buffer = Buffer(results_, slot);
      ConvertFromFloat32(dtype, buffer.data(), result.data, buffer.size());
      return absl::OkStatus();
    }
    case FloatReading::kCannot:
      break;
  }
  return NotFloat(result);
}

absl::StatusOr<const int32_t*> Int32Values(const ResolvedOperand& operand) {
  if (operand.memory_dtype != plan::DType::I32) {
    return absl::InternalError(
        absl::StrCat("tensor '", operand.tensor->name()->str(), "' is stored as ",
                     plan::EnumNameDType(operand.memory_dtype), ", not I32"));
  }
  return static_cast<const int32_t*>(operand.data);
}

}  // namespace bloom
