// Tests the CPU executor's weight streaming on hand-written tiered plans
// (tiered_test_plan.h; no compiler involved): logits bit for bit equal to
// the same model with every weight resident, whatever the tier, slot count,
// storage dtype or way of reading (O_DIRECT, or buffered as where the
// filesystem refuses O_DIRECT); bytes streamed per step as derived by hand; disk units never held
// in memory (read again on every use); and a missing, short or unreadable
// disk file ending in one error that names it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "runtime/cpu/cpu_executor.h"
#include "test/unit/runtime/tiered_test_plan.h"

namespace bloom {
namespace {

using plan::Residency;
using testing::TieringLayout;

// Bytes of one layer's unit, by hand: the layer's 12 tensors (hidden 48,
// ffn 192, F32) each rounded up to 256 bytes:
//   ln 192→256, 192→256; qkv 144·48·4 = 27648, bias 576→768;
//   dense 48·48·4 = 9216, bias 192→256; ln 256, 256;
//   h→4h 192·48·4 = 36864, bias 768; 4h→h 36864, bias 192→256
//   = 113664, rounded up to whole 4096-byte blocks: 28 · 4096 = 114688.
constexpr int64_t kUnitBytes = 114688;
// The same layer's weights as the CPU holds resident weights (float32, no
// padding): 28272 elements.
constexpr int64_t kLayerFloat32Bytes = 28272 * 4;

testing::TpModelDims Dims() {
  testing::TpModelDims dims;
  dims.layers = 3;
  return dims;
}

// Where the plan directories are written, and how disk units are read.
struct Medium {
  const char* name;
  const char* dir;
  bool direct_io;
};

class WeightStreamingTest : public ::testing::TestWithParam<Medium> {
 protected:
  void SetUp() override {
    std::string tmpl = std::string(GetParam().dir) + "/bloom-streaming-test-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr)
      GTEST_SKIP() << "cannot create a directory in " << GetParam().dir;
    root_ = tmpl;
    ckpt_ = root_ + "/ckpt";
    mkdir(ckpt_.c_str(), 0755);
    weights_ = testing::MakeTpWeights(Dims(), 11);
    testing::WriteTpCheckpoint(ckpt_, Dims(), weights_);
  }
  void TearDown() override {
    if (!root_.empty()) std::system(("chmod -R u+rwx " + root_ + "; rm -rf " + root_).c_str());
  }

  // Writes plan directory `name` for `layout` (and its disk file).
  std::string WritePlan(const std::string& name, const TieringLayout& layout) {
    const std::string dir = root_ + "/" + name;
    mkdir(dir.c_str(), 0755);
    const testing::TieredPlanSpec spec = testing::MakeTieredPlanSpec(Dims(), ckpt_, layout);
    testing::WriteBytes(dir + "/plan.bplan", testing::SerializeTieredPlan(spec));
    testing::WriteDiskUnits(spec, weights_, dir);
    return dir;
  }
  absl::StatusOr<std::unique_ptr<CpuExecutor>> Open(const std::string& dir) {
    absl::StatusOr<LoadedPlan> plan = LoadedPlan::Load(dir);
    if (!plan.ok()) return plan.status();
    ExecutorOptions options;
    options.direct_io = GetParam().direct_io;
    return CpuExecutor::Create(*std::move(plan), options);
  }
  std::vector<std::vector<float>> Run(const std::string& dir) {
    auto executor = Open(dir);
    EXPECT_TRUE(executor.ok()) << executor.status();
    if (!executor.ok()) return {};
    auto rows = testing::RunTpScenario(**executor);
    EXPECT_TRUE(rows.ok()) << rows.status();
    return rows.ok() ? *rows : std::vector<std::vector<float>>{};
  }

  std::string root_, ckpt_;
  testing::TpWeights weights_;
};

void ExpectBitIdentical(const std::vector<std::vector<float>>& a,
                        const std::vector<std::vector<float>>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t r = 0; r < a.size(); ++r) {
    ASSERT_EQ(a[r].size(), b[r].size());
    EXPECT_EQ(std::memcmp(a[r].data(), b[r].data(), a[r].size() * sizeof(float)), 0) << "row " << r;
  }
}

TEST_P(WeightStreamingTest, StreamedLogitsAreBitIdenticalToResident) {
  for (plan::DType dtype : {plan::DType::F32, plan::DType::BF16, plan::DType::F16}) {
    SCOPED_TRACE(plan::EnumNameDType(dtype));
    const std::string tag = plan::EnumNameDType(dtype);
    const auto resident = Run(WritePlan("resident" + tag, {{}, 2, dtype}));
    ASSERT_EQ(resident.size(), 10u);
    if (dtype == plan::DType::F32) {
      // The resident plan itself against the model computed directly.
      const auto reference = testing::ReferenceScenario(Dims(), weights_);
      for (size_t r = 0; r < reference.size(); ++r) {
        for (size_t v = 0; v < reference[r].size(); ++v)
          EXPECT_NEAR(resident[r][v], reference[r][v], 1e-3);
      }
    }
    const std::vector<TieringLayout> layouts = {
        {{Residency::Host, Residency::Disk, Residency::Disk}, 2, dtype},
        {{Residency::Disk, Residency::Device, Residency::Host}, 1, dtype},
        {{Residency::Disk, Residency::Disk, Residency::Disk}, 3, dtype},
        {{Residency::Host, Residency::Host, Residency::Host}, 2, dtype},
    };
    for (size_t i = 0; i < layouts.size(); ++i) {
      SCOPED_TRACE(i);
      ExpectBitIdentical(Run(WritePlan("tiered" + tag + std::to_string(i), layouts[i])), resident);
    }
  }
}

TEST_P(WeightStreamingTest, CountsBytesStreamedPerStep) {
  auto executor = Open(WritePlan("tiered", {{Residency::Host, Residency::Disk, Residency::Disk}}));
  ASSERT_TRUE(executor.ok()) << executor.status();
  CpuExecutor& cpu = **executor;
  EXPECT_EQ(cpu.weight_stream_totals().bytes, 0);
  ASSERT_TRUE(testing::RunTpScenario(cpu).ok());
  // Each of the scenario's two steps streams all three units once.
  EXPECT_EQ(cpu.last_step_stream_stats().bytes, 3 * kUnitBytes);
  EXPECT_EQ(cpu.last_step_stream_stats().units, 3);
  EXPECT_EQ(cpu.weight_stream_totals().bytes, 2 * 3 * kUnitBytes);
  EXPECT_EQ(cpu.weight_stream_totals().units, 6);
  EXPECT_GT(cpu.weight_stream_totals().fill_seconds, 0.0);
  // Two slots of the largest unit; one packed host copy (h.0).
  EXPECT_EQ(cpu.weight_slot_bytes(), 2 * kUnitBytes);
  EXPECT_EQ(cpu.host_unit_bytes(), kUnitBytes);
  if (!GetParam().direct_io) EXPECT_FALSE(cpu.disk_reads_direct());

  auto resident = Open(WritePlan("resident", {}));
  ASSERT_TRUE(resident.ok()) << resident.status();
  ASSERT_TRUE(testing::RunTpScenario(**resident).ok());
  EXPECT_EQ((*resident)->weight_stream_totals().bytes, 0);
  EXPECT_EQ((*resident)->weight_slot_bytes(), 0);
}

TEST_P(WeightStreamingTest, DiskUnitsAreNotHeldInMemory) {
  auto resident = Open(WritePlan("resident", {}));
  ASSERT_TRUE(resident.ok()) << resident.status();
  const std::string dir =
      WritePlan("tiered", {{Residency::Host, Residency::Disk, Residency::Disk}});
  auto executor = Open(dir);
  ASSERT_TRUE(executor.ok()) << executor.status();
  CpuExecutor& cpu = **executor;
  // None of the three streamed layers is a resident tensor, and the two disk
  // layers are not even read from the checkpoint (the host one is, once).
  EXPECT_EQ(cpu.resident_weight_bytes(),
            (*resident)->resident_weight_bytes() - 3 * kLayerFloat32Bytes);
  EXPECT_EQ(cpu.weight_bytes_read(), (*resident)->weight_bytes_read() - 2 * kLayerFloat32Bytes);
  ASSERT_TRUE(testing::RunTpScenario(cpu).ok());

  // Every use reads the file again: cut it inside h.2 (the second unit in
  // it) and the next step fails there, naming the file.
  ASSERT_EQ(truncate((dir + "/weights.tier").c_str(), kUnitBytes + 4096), 0);
  KvCache& kv = cpu.kv_cache();
  const int32_t slot = *kv.AddSequence();
  ASSERT_TRUE(kv.Reserve(slot, 1).ok());
  const std::vector<int32_t> ids = {4}, positions = {0}, slots = {slot}, rows = {0};
  const absl::Status status = cpu.Step({ids, positions, slots, rows});
  ASSERT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  EXPECT_NE(status.message().find("(AwaitWeights): " + dir +
                                  "/weights.tier: ends at byte 118784, inside "
                                  "unit 'h.2' (bytes [114688, 229376))"),
            std::string::npos)
      << status;
}

TEST_P(WeightStreamingTest, MissingDiskFileIsNamed) {
  const std::string dir = WritePlan("tiered", {{Residency::Disk}});
  ASSERT_EQ(unlink((dir + "/weights.tier").c_str()), 0);
  auto executor = Open(dir);
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(
      executor.status().message(),
      dir + "/weights.tier: cannot open the weight file of unit 'h.0' (No such file or directory)");
}

TEST_P(WeightStreamingTest, ShortDiskFileIsNamed) {
  const std::string dir = WritePlan("tiered", {{Residency::Disk, Residency::Disk}});
  ASSERT_EQ(truncate((dir + "/weights.tier").c_str(), 2 * kUnitBytes - 1), 0);
  auto executor = Open(dir);
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(
      executor.status().message(),
      dir +
          "/weights.tier: holds 229375 bytes but unit 'h.1' needs bytes [114688, 229376); the plan "
          "directory is incomplete (copy it again or recompile)");
}

TEST_P(WeightStreamingTest, UnreadableDiskFileIsNamed) {
  const std::string dir = WritePlan("tiered", {{Residency::Disk}});
  const std::string file = dir + "/weights.tier";
  // A directory where the file should be.
  ASSERT_EQ(unlink(file.c_str()), 0);
  ASSERT_EQ(mkdir(file.c_str(), 0755), 0);
  auto executor = Open(dir);
  ASSERT_FALSE(executor.ok());
  EXPECT_EQ(executor.status().message(),
            file + ": the weight file of unit 'h.0' is not a regular file");
  // A file without read permission (root reads it anyway: checked only
  // where permissions bind).
  if (geteuid() != 0) {
    rmdir(file.c_str());
    WritePlan("tiered", {{Residency::Disk}});
    ASSERT_EQ(chmod(file.c_str(), 0), 0);
    executor = Open(dir);
    ASSERT_FALSE(executor.ok());
    EXPECT_EQ(executor.status().message(),
              file + ": cannot open the weight file of unit 'h.0' (Permission denied)");
  }
}

// O_DIRECT reads (where the filesystem takes them: ext4, and tmpfs on
// kernels since 6.6; older tmpfs refuses them with EINVAL and the streamer
// falls back), and buffered reads, the fallback's path, taken on purpose.
INSTANTIATE_TEST_SUITE_P(Media, WeightStreamingTest,
                         ::testing::Values(Medium{"tmp", "/tmp", true},
                                           Medium{"shm", "/dev/shm", true},
                                           Medium{"tmp_buffered", "/tmp", false}),
                         [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace bloom
