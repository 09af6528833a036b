#include "runtime/cuda/weight_upload.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "runtime/checkpoint/safetensors.h"
#include "runtime/exec/plan_view.h"
#include "runtime/exec/quantized_weight_maker.h"
#include "runtime/exec/weight_source.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/cuda/quantized_weights.h"
#include "runtime/plan/quantized_weights.h"
#include "runtime/support/dtype.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

// Elements per staging chunk: 16 Mi elements (64 MiB as fp32).
constexpr size_t kChunkElements = size_t{16} << 20;

// A plan weight found in its file and checked against the plan: the stored
// tensor's bytes, already gathered into float32 when the plan takes a slice
// of it (only the slice's bytes are read) or the file generates its values.
struct ResolvedWeight {
  std::string what;  // "<file>: tensor '<stored>' (plan weight '<name>')"
  DType from = DType::kF32;
  DType to = DType::kF32;
  size_t count = 0;  // elements of the plan's (possibly sliced) shape
  const uint8_t* data = nullptr;
};

// `sliced` holds a slice's gathered values and `maker` a weight quantized
// at load; both must outlive the result's use.
absl::StatusOr<ResolvedWeight> ResolveWeight(const plan::Tensor& tensor, const std::string& dir,
                                             WeightFiles& files, std::vector<float>& sliced,
                                             QuantizedWeightMaker& maker) {
  BLOOM_ASSIGN_OR_RETURN(StoredWeight found, FindStoredWeight(tensor, dir, files));
  const SafetensorsTensor* stored = found.tensor;
  if (tensor.source()->quantize() != nullptr || IsQuantizedDType(tensor.dtype())) {
    // A quantized weight's values, scales or zero points: bytes in the
    // plan's dtype, made at load or stored so (--pack-weights), copied as
    // they are (counted in bytes: I4 has no element size).
    ResolvedWeight weight;
    weight.what = std::move(found.what);
    weight.from = weight.to = DType::kI8;
    const auto expected = static_cast<size_t>(BytesOf(tensor, tensor.shape()->Get(0)));
    absl::Span<const uint8_t> bytes = found.data;
    if (tensor.source()->quantize() != nullptr) {
      BLOOM_ASSIGN_OR_RETURN(bytes, maker.Make(tensor, found));
    } else if (found.file->generated()) {
      return absl::FailedPreconditionError(
          absl::StrCat(weight.what, " is quantized but its file generates float values"));
    }
    if (bytes.size() != expected) {
      return absl::FailedPreconditionError(
          absl::StrCat(weight.what, " holds ", bytes.size(), " bytes where the plan's ",
                       plan::EnumNameDType(tensor.dtype()), " tensor needs ", expected,
                       "; recompile the plan"));
    }
    weight.count = bytes.size();
    weight.data = bytes.data();
    return weight;
  }
  const int dim = tensor.source()->slice_dim();
  ResolvedWeight weight;
  weight.what = std::move(found.what);
  weight.from = stored->dtype;
  weight.to = *ToRuntimeDType(tensor.dtype());
  weight.count = 1;
  for (int64_t d : *tensor.shape()) weight.count *= static_cast<size_t>(d);
  weight.data = found.data.data();
  if (dim != -1 || found.file->generated()) {
    // A slice is gathered on the host first (one run per row of a column
    // slice), reading only its bytes, then converted like a whole tensor;
    // a generated file's values are made there.
    sliced.resize(weight.count);
    BLOOM_RETURN_IF_ERROR(found.file->ReadSliceAsFloat32(
        *stored, dim, tensor.source()->slice_begin(), tensor.source()->slice_end(),
        absl::MakeSpan(sliced), weight.what));
    weight.data = reinterpret_cast<const uint8_t*>(sliced.data());
    weight.from = DType::kF32;
  }
  return weight;
}

// Converts elements [begin, begin + n) of `weight` into `dst` (its storage
// dtype), widening through `widened` when the dtypes differ.
void ConvertChunk(const ResolvedWeight& weight, size_t begin, size_t n, std::vector<float>& widened,
                  uint8_t* dst) {
  const uint8_t* src = weight.data + begin * DTypeSize(weight.from);
  if (weight.from == weight.to) {
    std::memcpy(dst, src, n * DTypeSize(weight.from));
  } else {
    ConvertToFloat32(weight.from, src, widened.data(), n);
    ConvertFromFloat32(weight.to, widened.data(), dst, n);
  }
}

// Loads a tiled quantized weight (quantized_weights.h): its row-major
// values, scales and zero points into `staging` on the device, then the
// repack into the tile buffer at `dst`. Synchronous: the staging is reused.
absl::Status LoadTiledWeight(const plan::Plan& plan, const QuantizedGroup& group,
                             const std::string& dir, WeightFiles& files,
                             std::vector<float>& sliced, QuantizedWeightMaker& maker,
                             uint8_t* staging, void* dst, cudaStream_t stream) {
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream), "weight upload");
  const int64_t ids[] = {static_cast<int64_t>(group.values), static_cast<int64_t>(group.scales),
                         group.zero_points};
  void* parts[3] = {nullptr, nullptr, nullptr};
  size_t offset = 0;
  std::string what;
  for (int i = 0; i < 3; ++i) {
    if (ids[i] < 0) continue;
    BLOOM_ASSIGN_OR_RETURN(
        ResolvedWeight part,
        ResolveWeight(*plan.tensors()->Get(static_cast<uint32_t>(ids[i])), dir, files, sliced,
                      maker));
    if (i == 0) what = part.what;
    parts[i] = staging + offset;
    BLOOM_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(parts[i], part.data, part.count, cudaMemcpyHostToDevice),
        absl::StrCat("copying ", part.what, " to the GPU"));
    offset += DeviceAlignUp(part.count);
  }
  BLOOM_CUDA_RETURN_IF_ERROR(
      cuda::LaunchRepackQuantizedTiles(RowMajorView(group, parts[0], parts[1], parts[2]), dst,
                                       stream),
      absl::StrCat("repacking ", what, " into the quantized product's tiles"));
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream), "weight repack");
  return absl::OkStatus();
}

}  // namespace

absl::Status LoadWeights(const plan::Plan& plan, const std::string& dir,
                         const std::vector<WeightDestination>& device,
                         const std::vector<WeightDestination>& host, cudaStream_t stream,
                         const std::function<void(size_t, size_t)>& on_loaded,
                         const QuantizedDeviceLayout* quantized) {
  PinnedBuffer staging[2];
  cudaEvent_t free_again[2] = {nullptr, nullptr};
  for (int i = 0; i < 2; ++i) {
    BLOOM_ASSIGN_OR_RETURN(staging[i], PinnedBuffer::Allocate(kChunkElements * sizeof(float),
                                                              "weight staging"));
    BLOOM_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&free_again[i], cudaEventDisableTiming),
                               "cudaEventCreate");
  }
  struct EventCleanup {
    cudaEvent_t* events;
    ~EventCleanup() {
      for (int i = 0; i < 2; ++i) cudaEventDestroy(events[i]);
    }
  } cleanup{free_again};
  std::vector<float> widened(kChunkElements);

  WeightFiles files;  // shared by both lists: each file is opened once
  std::vector<float> sliced;
  QuantizedWeightMaker maker;
  DeviceBuffer tile_staging;  // a tiled weight's row-major parts, before the repack
  if (quantized != nullptr && quantized->StagingBytes() > 0) {
    BLOOM_ASSIGN_OR_RETURN(tile_staging, DeviceBuffer::Allocate(quantized->StagingBytes(),
                                                                "quantized weight staging"));
  }
  int next = 0;
  size_t done = 0;
  const size_t total = device.size() + host.size();
  for (size_t i = 0; i < total; ++i) {
    const bool to_device = i < device.size();
    const WeightDestination& destination = to_device ? device[i] : host[i - device.size()];
    const QuantizedGroup* group =
        to_device && quantized != nullptr ? quantized->GroupOfValues(destination.tensor) : nullptr;
    if (group != nullptr && group->tiled) {
      BLOOM_RETURN_IF_ERROR(LoadTiledWeight(plan, *group, dir, files, sliced, maker,
                                            static_cast<uint8_t*>(tile_staging.data()),
                                            destination.memory, stream));
      if (on_loaded) on_loaded(++done, total);
      continue;
    }
    BLOOM_ASSIGN_OR_RETURN(
        ResolvedWeight weight,
        ResolveWeight(*plan.tensors()->Get(destination.tensor), dir, files, sliced, maker));
    uint8_t* dst = static_cast<uint8_t*>(destination.memory);
    for (size_t begin = 0; begin < weight.count; begin += kChunkElements) {
      const size_t n = std::min(kChunkElements, weight.count - begin);
      uint8_t* out = dst + begin * DTypeSize(weight.to);
      if (!to_device) {
        ConvertChunk(weight, begin, n, widened, out);
        continue;
      }
      // Wait until the copy that last read this staging buffer is done.
      BLOOM_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(free_again[next]), "weight upload");
      ConvertChunk(weight, begin, n, widened, staging[next].data());
      BLOOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out, staging[next].data(),
                                                 n * DTypeSize(weight.to),
                                                 cudaMemcpyHostToDevice, stream),
                                 absl::StrCat("copying ", weight.what, " to the GPU"));
      BLOOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(free_again[next], stream), "cudaEventRecord");
      next ^= 1;
    }
    if (on_loaded) on_loaded(++done, total);
  }
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream), "weight upload");
  return absl::OkStatus();
}

}  // namespace bloom
