// Tests ALiBi slopes against transformers' own values: test/golden/
// alibi_slopes.json was written by build_alibi_tensor (transformers 5.17,
// torch 2.11) for head counts 1..16, 20, 32, 71 and 112. torch's float32
// pow is not always correctly rounded, so a difference of one unit in the
// last place is allowed (seen: 1 of 371 values); anything more is a bug.
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"
#include "models/bloom/alibi.h"
#include "nlohmann/json.hpp"

namespace bloom::model {
namespace {

TEST(AlibiSlopesGoldenTest, MatchTransformersWithinOneUlp) {
  std::ifstream in(std::string(BLOOM_SOURCE_DIR) + "/test/golden/alibi_slopes.json");
  ASSERT_TRUE(in) << "missing test/golden/alibi_slopes.json";
  std::stringstream text;
  text << in.rdbuf();
  const nlohmann::json golden = nlohmann::json::parse(text.str());
  ASSERT_GE(golden.size(), 20u);
  int checked = 0;
  for (const auto& [heads, expected] : golden.items()) {
    const std::vector<float> slopes = AlibiSlopes(std::stoi(heads));
    ASSERT_EQ(slopes.size(), expected.size()) << heads << " heads";
    for (size_t h = 0; h < slopes.size(); ++h) {
      const float want = expected[h].get<float>();
      const float ulp = std::nextafter(want, 1.0f) - want;
      EXPECT_LE(std::fabs(slopes[h] - want), ulp)
          << heads << " heads, head " << h << ": " << slopes[h] << " vs transformers' " << want;
      ++checked;
    }
  }
  EXPECT_GE(checked, 300);
}

}  // namespace
}  // namespace bloom::model
