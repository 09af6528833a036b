// Tests bloom-run's JSONL request reading (runtime/serve/jsonl_batch.*):
// the inference server's field names map onto generation settings as
// documented in docs/cli.md, in particular min_length, which transformers
// counts over prompt + generated tokens.
#include "runtime/serve/jsonl_batch.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "test/unit/checkpoint/safetensors_bytes.h"

namespace bloom::serve {
namespace {

class JsonlBatchTest : public ::testing::Test {
 protected:
  // A directory of its own: ctest runs these tests as parallel processes,
  // and a shared file name let one test delete another's requests.
  void SetUp() override { path_ = bloom::testing::MakeTempDir() + "/requests.jsonl"; }
  std::string Write(const std::string& text) {
    std::ofstream(path_) << text;
    return path_;
  }
  std::string path_;
};

TEST_F(JsonlBatchTest, MinLengthCountsThePromptAndDefaultsComeFromFlags) {
  GenerationDefaults defaults;
  defaults.max_new_tokens = 9;
  defaults.sampling.seed = 5;
  const std::string path = Write(
      "{\"tokens\": [1, 2, 3, 4], \"min_length\": 7, \"max_new_tokens\": 10}\n"
      "\n"
      "{\"tokens\": [1, 2, 3, 4], \"min_length\": 3, \"min_new_tokens\": 2}\n"
      "{\"tokens\": [1, 2, 3, 4], \"min_length\": 50}\n"
      "{\"tokens\": [7], \"temperature\": 0.5, \"ignore_eos\": true, \"seed\": 11}\n"
      "{\"tokens\": [7], \"temperature\": 0.5, \"do_sample\": false, \"id\": [1, \"x\"]}\n");
  auto items = ReadJsonlRequests(path, defaults);
  ASSERT_TRUE(items.ok()) << items.status();
  ASSERT_EQ(items->size(), 5u);
  ASSERT_TRUE(PrepareRequests(*items, path, nullptr, 100, 64, /*eos_token_id=*/2, false).ok());
  const auto& r = *items;
  // 4 prompt tokens + min_length 7: eos blocked for the first 3 new tokens.
  EXPECT_EQ(r[0].request.min_new_tokens, 3);
  EXPECT_EQ(r[0].request.max_new_tokens, 10);
  EXPECT_EQ(r[0].line, 1);
  // min_length below the prompt: min_new_tokens (2) rules.
  EXPECT_EQ(r[1].request.min_new_tokens, 2);
  EXPECT_EQ(r[1].line, 3);  // the blank line counts
  // Capped at max_new_tokens (the flag's 9).
  EXPECT_EQ(r[2].request.min_new_tokens, 9);
  EXPECT_EQ(r[2].request.max_new_tokens, 9);
  EXPECT_EQ(r[0].request.eos_token_id, 2);
  EXPECT_EQ(r[3].request.eos_token_id, -1);  // ignore_eos
  // A warper without do_sample turns sampling on; do_sample false wins.
  EXPECT_TRUE(r[3].request.sampling.do_sample);
  EXPECT_EQ(r[3].request.sampling.seed, 11u);
  EXPECT_FALSE(r[4].request.sampling.do_sample);
  EXPECT_EQ(r[4].request.sampling.seed, 5u);
  EXPECT_EQ(r[4].id.dump(), "[1,\"x\"]");
}

TEST_F(JsonlBatchTest, TruncationKeepsTheEnd) {
  const std::string path = Write("{\"tokens\": [1, 2, 3, 4, 5, 6], \"max_new_tokens\": 3}\n");
  auto items = ReadJsonlRequests(path, GenerationDefaults{});
  ASSERT_TRUE(items.ok());
  // max_seq_len 6: room for 6 - 3 + 1 = 4 prompt tokens.
  absl::Status refused = PrepareRequests(*items, path, nullptr, 100, 6, -1, false);
  EXPECT_NE(refused.message().find(path + ":1"), absl::string_view::npos) << refused;
  EXPECT_NE(refused.message().find("--truncate keeps the last 4"), absl::string_view::npos);
  ASSERT_TRUE(PrepareRequests(*items, path, nullptr, 100, 6, -1, true).ok());
  EXPECT_EQ((*items)[0].request.prompt, (std::vector<int32_t>{3, 4, 5, 6}));
  EXPECT_TRUE((*items)[0].truncated);
}

TEST_F(JsonlBatchTest, ErrorsNameFileAndLine) {
  auto error_of = [&](const std::string& text) {
    auto items = ReadJsonlRequests(Write(text), GenerationDefaults{});
    return items.ok() ? std::string("ok") : std::string(items.status().message());
  };
  EXPECT_EQ(error_of("{\"tokens\": [1]}\n{\"tokens\": [1], \"top_k\": \"5\"}\n"),
            path_ + ":2: \"top_k\" must be an integer");
  EXPECT_EQ(error_of("{\"tokens\": [1], \"min_new_tokens\": 5, \"max_new_tokens\": 2}\n"),
            path_ + ":1: min_new_tokens (5) exceeds max_new_tokens (2)");
  EXPECT_EQ(error_of("{\"tokens\": [1], \"stop\": [\"\"]}\n"),
            path_ + ":1: \"stop\" must be a non-empty string or a list of them");
  EXPECT_EQ(error_of("\n\n"), path_ + ": no requests in the file");
  EXPECT_EQ(error_of("{\"tokens\": [1], \"seed\": -1}\n"),
            path_ + ":1: \"seed\" must be in [0, 9223372036854775807], got -1");
  // A field name is shown escaped, so the error stays one line (found by
  // jsonl_requests_fuzzer), and cut when long.
  EXPECT_EQ(error_of("{\"tokens\": [1], \"a\\nb\": 2}\n"), path_ + ":1: unknown field \"a\\nb\"");
  EXPECT_EQ(error_of("{\"tokens\": [1], \"" + std::string(150, 'x') + "\": 2}\n"),
            path_ + ":1: unknown field \"" + std::string(100, 'x') + "\"...");
}

}  // namespace
}  // namespace bloom::serve
