// QuantizedStorage's validation: accepted int8 per-channel and int4 g128
// layouts with their scale shapes worked by hand, each refusal naming what
// is wrong, and tensor-parallel slices that keep or split groups.
#include "runtime/support/quantized_storage.h"

#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace bloom {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

QuantizedStorage Int8PerChannel() {
  QuantizedStorage q;
  q.values = DType::kI8;
  q.group_size = 0;
  q.scale_dtype = DType::kF16;
  q.scales = "h.0.dense.weight.scales";
  return q;
}

QuantizedStorage Int4G128() {
  QuantizedStorage q;
  q.values = DType::kI4;
  q.group_size = 128;
  q.scale_dtype = DType::kBF16;
  q.scales = "w.scales";
  q.zero_points = "w.zeros";
  return q;
}

std::string Refusal(const QuantizedStorage& q, const std::vector<int64_t>& shape) {
  absl::Status status = ValidateQuantizedStorage(q, shape, "weight 'w'");
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(std::string(status.message()), HasSubstr("weight 'w': "));
  return std::string(status.message());
}

TEST(QuantizedStorageTest, AcceptsAndShapesScales) {
  const std::vector<int64_t> dense = {1024, 4096};
  ASSERT_TRUE(ValidateQuantizedStorage(Int8PerChannel(), dense, "w").ok());
  EXPECT_EQ(GroupsPerRow(Int8PerChannel(), dense), 1);
  EXPECT_EQ(ScaleShape(Int8PerChannel(), dense), (std::vector<int64_t>{1024, 1}));
  ASSERT_TRUE(ValidateQuantizedStorage(Int4G128(), dense, "w").ok());
  EXPECT_EQ(GroupsPerRow(Int4G128(), dense), 32);  // 4096 / 128
  EXPECT_EQ(ScaleShape(Int4G128(), dense), (std::vector<int64_t>{1024, 32}));
  QuantizedStorage f32_scales = Int4G128();
  f32_scales.scale_dtype = DType::kF32;
  f32_scales.zero_points.clear();
  EXPECT_TRUE(ValidateQuantizedStorage(f32_scales, dense, "w").ok());
}

TEST(QuantizedStorageTest, Refusals) {
  const std::vector<int64_t> dense = {64, 256};
  QuantizedStorage q = Int8PerChannel();
  q.values = DType::kF16;
  EXPECT_THAT(Refusal(q, dense), HasSubstr("values dtype F16 is not a quantized dtype"));
  q.values = DType::kI32;
  EXPECT_THAT(Refusal(q, dense), HasSubstr("values dtype I32"));

  EXPECT_THAT(Refusal(Int8PerChannel(), {256}), HasSubstr("[out, in] with both > 0, got [256]"));
  EXPECT_THAT(Refusal(Int8PerChannel(), {64, 0}), HasSubstr("got [64, 0]"));
  EXPECT_THAT(Refusal(Int4G128(), {64, 255}), HasSubstr("multiple of 2"));

  q = Int4G128();
  q.group_size = -1;
  EXPECT_THAT(Refusal(q, dense), HasSubstr("group size -1 is negative"));
  q.group_size = 96;
  EXPECT_THAT(Refusal(q, dense),
              HasSubstr("group size 96 does not divide the input dimension 256"));
  q.group_size = 3;
  EXPECT_THAT(Refusal(q, {64, 6}),
              HasSubstr("group size 3 of I4 values does not start every group on a byte"));
  QuantizedStorage odd_int8 = Int8PerChannel();
  odd_int8.group_size = 3;  // int8 groups may be any divisor
  EXPECT_TRUE(ValidateQuantizedStorage(odd_int8, {64, 6}, "w").ok());

  q = Int4G128();
  q.scale_dtype = DType::kI8;
  EXPECT_THAT(Refusal(q, dense), HasSubstr("scale dtype I8 is not F16, BF16 or F32"));
  q = Int4G128();
  q.scales.clear();
  EXPECT_THAT(Refusal(q, dense), HasSubstr("the scale tensor has no name"));
  q = Int4G128();
  q.zero_points = q.scales;
  EXPECT_THAT(Refusal(q, dense), HasSubstr("same tensor 'w.scales'"));
}

TEST(QuantizedStorageTest, SlicesKeepGroups) {
  const std::vector<int64_t> dense = {64, 512};
  // Rows (output channels) split anywhere; columns only on group edges.
  EXPECT_TRUE(CheckSliceKeepsGroups(Int4G128(), dense, 0, 7, 33, "w").ok());
  EXPECT_TRUE(CheckSliceKeepsGroups(Int4G128(), dense, 1, 128, 384, "w").ok());
  EXPECT_TRUE(CheckSliceKeepsGroups(Int4G128(), dense, -1, 0, 0, "w").ok());
  absl::Status split = CheckSliceKeepsGroups(Int4G128(), dense, 1, 64, 320, "rank 1 of 'w'");
  EXPECT_THAT(std::string(split.message()),
              AllOf(HasSubstr("rank 1 of 'w': "), HasSubstr("columns [64, 320)"),
                    HasSubstr("group of 128")));
  // Per channel: the one group is the whole row.
  EXPECT_TRUE(CheckSliceKeepsGroups(Int8PerChannel(), dense, 1, 0, 512, "w").ok());
  EXPECT_FALSE(CheckSliceKeepsGroups(Int8PerChannel(), dense, 1, 0, 256, "w").ok());
}

}  // namespace
}  // namespace bloom
