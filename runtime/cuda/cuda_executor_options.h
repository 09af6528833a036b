// The CUDA backend's implementation choices: what the GEMM does, how a
// tensor-parallel rank's collectives travel, and the step profile. The
// libraries read no environment variable for them; the tools set them
// (bloom-cuda-bench's flags, bloom-run's --cuda-collectives).
#pragma once

#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "kernels/cuda/attention_decode.cuh"
#include "kernels/cuda/gemm.cuh"
#include "runtime/cuda/step_profile.h"

namespace bloom {

// How a tensor-parallel rank's AllReduce/AllGather reach the other ranks.
enum class CudaCollectives {
  kNccl,        // NCCL on the executor's stream (a GPU per rank; graph-capturable)
  kHostStaged,  // through the host communicator (ranks sharing a GPU; no graphs)
};

struct CudaExecutorOptions {
  // The GEMM (kernels/cuda/gemm.cuh): Linears of at most this many rows
  // with 16-bit operands take the GEMV kernel (0 to cuda::kGemvMaxRows; 0
  // never), and whether the first run of each GEMM times the heuristic's
  // candidate algorithms.
  cuda::GemmOptions gemm;
  // Which kernel runs decode attention (kernels/cuda/attention_decode.cuh):
  // kAuto, or the block-per-split kernel for a side-by-side measurement.
  cuda::DecodeAttentionKernel decode_attention = cuda::DecodeAttentionKernel::kAuto;
  // A rank group's collectives; nullopt chooses NCCL when every rank of the
  // host has a GPU of its own, host-staged when ranks must share GPUs
  // (runtime/cuda/cuda_rank_executor.h). The lone executor ignores it.
  std::optional<CudaCollectives> collectives;
  // The per-instruction step profile (runtime/cuda/step_profile.h) of the
  // first replayed step of each decode bucket and the second eager step of
  // each (tokens, logit rows) shape (prefill), on stderr: 0 off, 1 the
  // table and the instructions outside layers 1.., 2 every instruction.
  int profile = 0;
  // The machine's ceilings the profile's floors use.
  ProfileCeilings profile_ceilings;
};

// InvalidArgument, naming the field, for a value outside its range.
absl::Status ValidateCudaExecutorOptions(const CudaExecutorOptions& options);

// "auto" (nullopt), "nccl" or "host"; InvalidArgument otherwise, as
// "'VALUE': expected auto, nccl or host" (callers prefix their flag).
absl::StatusOr<std::optional<CudaCollectives>> ParseCudaCollectives(absl::string_view text);

// "auto" or "block"; InvalidArgument otherwise, as "'VALUE': expected auto
// or block".
absl::StatusOr<cuda::DecodeAttentionKernel> ParseDecodeAttentionKernel(absl::string_view text);

}  // namespace bloom
