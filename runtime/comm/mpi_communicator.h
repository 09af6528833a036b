// A rank per process, launched by mpirun (OpenMPI), possibly on several
// nodes: the CPU backend's multi-process transport, and the bootstrap that
// hands NCCL its unique id (nccl_communicator.h). Built only where MPI is
// found (BLOOM_ENABLE_MPI).
//
// Collectives are MPI's, with two choices made for the contract of
// communicator.h:
//   - AllReduceSum is an MPI_Allgather followed by a local sum in rank
//     order. MPI_Allreduce's reduction order depends on the algorithm and
//     the rank, so its bits may differ between ranks and from the threaded
//     group; the gather costs size() times the bytes, which the CPU
//     reference backend can afford.
//   - MPI_ERRORS_RETURN on the communicator, so MPI errors become values.
// Send/Recv are MPI_Send/MPI_Recv on the private duplicate of
// MPI_COMM_WORLD. A message of at most INT_MAX bytes is one MPI message
// (tag kWholeTag), whose size Recv checks with MPI_Probe before receiving;
// a larger one is a header carrying its byte count (kLargeTag) followed by
// INT_MAX-byte pieces (kPieceTag), so that a count mismatch is caught for
// every size. MPI_Send may block until the peer receives (large messages).
// After a mismatch the pair's stream is only intact for a whole message
// (not received); the caller treats any mismatch as fatal (Abort).
// A peer blocked in an MPI collective cannot be interrupted, so Abort()
// prints the cause and ends the job with MPI_Abort; mpirun then stops every
// process. A process that dies (a signal) is noticed by mpirun, which stops
// the others and names the failed rank.
#pragma once

#include <mpi.h>

#include <deque>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/comm/communicator.h"

namespace bloom {

class MpiCommunicator : public Communicator {
 public:
  // Initializes MPI if this process has not (and then finalizes it in the
  // destructor) and wraps a duplicate of MPI_COMM_WORLD.
  static absl::StatusOr<std::unique_ptr<MpiCommunicator>> Create();
  ~MpiCommunicator() override;

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  MemorySpace memory_space() const override { return MemorySpace::kHost; }
  const char* transport() const override { return "mpi"; }

  absl::Status AllReduceSum(float* data, size_t count) override;
  absl::Status AllGather(const float* in, size_t count, float* out) override;
  absl::Status Broadcast(void* data, size_t bytes, int root) override;
  absl::Status Barrier() override;
  absl::Status Send(const void* data, size_t bytes, int peer) override;
  absl::Status Recv(void* data, size_t bytes, int peer) override;
  // MPI_Isend of a whole message (at most INT_MAX bytes; a larger one is
  // sent with Send), waited for by WaitOldestSend (MPI_Wait).
  absl::Status SendWithoutWaiting(const void* data, size_t bytes, int peer) override;
  absl::Status WaitOldestSend() override;
  int pending_sends() const override { return static_cast<int>(pending_.size()); }
  // MPI_Comm_split of this communicator; Abort still ends the whole job.
  absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key) override;
  // Prints "bloom: <cause> (MPI rank R of N ends the job)" on stderr and
  // calls MPI_Abort: never returns. The cause should name the failed rank.
  void Abort(const absl::Status& cause) override;

 private:
  MpiCommunicator() = default;

  MPI_Comm comm_ = MPI_COMM_NULL;
  int rank_ = 0;
  int size_ = 1;
  bool finalize_ = false;  // whether Create() initialized MPI
  std::vector<float> gathered_;
  std::deque<MPI_Request> pending_;  // SendWithoutWaiting's, oldest first
};

}  // namespace bloom
