// PrecisionScratch (runtime/cpu/cpu_op.h), the widen/narrow helpers every
// CPU op reads and writes through, against encodings worked by hand from
// the IEEE binary16 and bfloat16 formats: widening is exact, narrowing
// rounds to nearest with ties to even, and a tensor stored as I32 is never
// read or written as float.
#include <cstdint>
#include <cstring>
#include <vector>

#include "flatbuffers/flatbuffers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/cpu/cpu_op.h"

namespace bloom {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// A [rows, 2] tensor named `name`, alone in its own buffer.
class OneTensor {
 public:
  OneTensor(const char* name, plan::DType dtype, int64_t rows) {
    const std::vector<int64_t> shape = {rows, 2};
    builder_.Finish(plan::CreateTensorDirect(builder_, name, plan::TensorKind::Activation,
                                             plan::TensorRole::None, dtype, &shape));
  }
  const plan::Tensor* get() const {
    return flatbuffers::GetRoot<plan::Tensor>(builder_.GetBufferPointer());
  }

 private:
  flatbuffers::FlatBufferBuilder builder_;
};

TEST(PrecisionScratchTest, WidensBf16AndF16Exactly) {
  // bfloat16: 0x3F80 = 1, 0xC000 = -2, 0x3FC0 = 1.5, 0x0000 = 0.
  const std::vector<uint16_t> bf16 = {0x3F80, 0xC000, 0x3FC0, 0x0000};
  // binary16: 0x3C00 = 1, 0xC000 = -2, 0x3E00 = 1.5, 0x0001 = 2^-24.
  const std::vector<uint16_t> f16 = {0x3C00, 0xC000, 0x3E00, 0x0001};
  OneTensor bf16_tensor("a", plan::DType::BF16, 2), f16_tensor("b", plan::DType::F16, 2);
  PrecisionScratch scratch;
  auto a = scratch.Widen(
      ResolvedOperand{bf16_tensor.get(), const_cast<uint16_t*>(bf16.data()), 2, plan::DType::BF16},
      0);
  auto b = scratch.Widen(
      ResolvedOperand{f16_tensor.get(), const_cast<uint16_t*>(f16.data()), 2, plan::DType::F16}, 1);
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_THAT(std::vector<float>(*a, *a + 4), ElementsAre(1.f, -2.f, 1.5f, 0.f));
  EXPECT_THAT(std::vector<float>(*b, *b + 4), ElementsAre(1.f, -2.f, 1.5f, 0x1p-24f));
}

TEST(PrecisionScratchTest, F32IsReadAndWrittenInPlace) {
  std::vector<float> x = {1.f, 2.f}, y = {0.f, 0.f};
  OneTensor tensor("x", plan::DType::F32, 1);
  PrecisionScratch scratch;
  auto widened = scratch.Widen(ResolvedOperand{tensor.get(), x.data(), 1, plan::DType::F32}, 0);
  auto output = scratch.Output(ResolvedOperand{tensor.get(), y.data(), 1, plan::DType::F32}, 0);
  ASSERT_TRUE(widened.ok() && output.ok());
  EXPECT_EQ(*widened, x.data());
  EXPECT_EQ(*output, y.data());
}

TEST(PrecisionScratchTest, NarrowsToNearestEven) {
  // Each value lies exactly halfway between two neighbours, or just past
  // halfway, so only round-to-nearest-even gives these encodings:
  //   bf16 has 7 fraction bits: 1 + 2^-8 is halfway between 0x3F80 (even)
  //   and 0x3F81, so 0x3F80; 1 + 3*2^-8 is halfway between 0x3F81 and
  //   0x3F82 (even), so 0x3F82; 1 + 2^-8 + 2^-20 is past halfway, 0x3F81.
  //   f16 has 10: 1 + 2^-11 -> 0x3C00, 1 + 3*2^-11 -> 0x3C02.
  struct Case {
    plan::DType dtype;
    std::vector<float> values;
    std::vector<uint16_t> expected;
  };
  const Case cases[] = {
      {plan::DType::BF16,
       {1 + 0x1p-8f, 1 + 3 * 0x1p-8f, 1 + 0x1p-8f + 0x1p-20f, -2.f},
       {0x3F80, 0x3F82, 0x3F81, 0xC000}},
      {plan::DType::F16,
       {1 + 0x1p-11f, 1 + 3 * 0x1p-11f, 1 + 0x1p-11f + 0x1p-20f, -2.f},
       {0x3C00, 0x3C02, 0x3C01, 0xC000}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(plan::EnumNameDType(c.dtype));
    OneTensor tensor("y", c.dtype, 2);
    std::vector<uint16_t> stored(4, 0xFFFF);
    const ResolvedOperand result{tensor.get(), stored.data(), 2, c.dtype};
    PrecisionScratch scratch;
    auto y = scratch.Output(result, 0);
    ASSERT_TRUE(y.ok()) << y.status();
    EXPECT_NE(static_cast<void*>(*y), static_cast<void*>(stored.data()));
    std::memcpy(*y, c.values.data(), 4 * sizeof(float));
    ASSERT_TRUE(scratch.Narrow(result, 0).ok());
    EXPECT_EQ(stored, c.expected);
  }
}

TEST(PrecisionScratchTest, AnI32TensorIsNeverFloat) {
  std::vector<int32_t> ids = {3, 4};
  OneTensor tensor("token_ids", plan::DType::I32, 1);
  const ResolvedOperand operand{tensor.get(), ids.data(), 1, plan::DType::I32};
  PrecisionScratch scratch;
  auto widened = scratch.Widen(operand, 0);
  ASSERT_FALSE(widened.ok());
  EXPECT_THAT(widened.status().message(), HasSubstr("'token_ids' is stored as I32"));
  EXPECT_FALSE(scratch.Output(operand, 0).ok());
  EXPECT_FALSE(scratch.Narrow(operand, 0).ok());
  EXPECT_EQ(ids, std::vector<int32_t>({3, 4}));  // nothing written
  auto values = Int32Values(operand);
  ASSERT_TRUE(values.ok());
  EXPECT_EQ(*values, ids.data());
}

TEST(PrecisionScratchTest, Int32ValuesRefusesAFloatTensor) {
  std::vector<float> x = {1.f, 2.f};
  OneTensor tensor("x", plan::DType::F32, 1);
  auto values = Int32Values(ResolvedOperand{tensor.get(), x.data(), 1, plan::DType::F32});
  ASSERT_FALSE(values.ok());
  EXPECT_THAT(values.status().message(), HasSubstr("'x' is stored as F32, not I32"));
}

}  // namespace
}  // namespace bloom
