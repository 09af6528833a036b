// The CUDA backend's ranks for RankGroup (runtime/parallel/rank_group.h): a
// CudaExecutor per rank, each on its own GPU, joined by NCCL.
//
// Device choice: rank r of a host's L ranks (threads of one process, or
// mpirun's processes on that host) runs on GPU (local rank mod visible
// GPUs). Collectives: NCCL when every local rank has a GPU of its own;
// when ranks must share GPUs (more ranks than GPUs, e.g. tp=2 on a one-GPU
// machine) NCCL cannot run them, and the ranks fall back to host-staged
// collectives (runtime/cuda/host_staged_communicator.h: correct, slow, no
// CUDA graphs). CudaExecutorOptions::collectives overrides the choice
// (bloom-run --cuda-collectives=nccl|host).
#pragma once

#include "runtime/cuda/cuda_executor_options.h"
#include "runtime/parallel/rank_group.h"

namespace bloom {

// Every rank's executor gets `cuda`.
RankExecutorFactory CudaRankExecutors(const CudaExecutorOptions& cuda = {});

}  // namespace bloom
