// The collectives a tensor-parallel group needs (DESIGN.md, decision 6),
// behind one interface so that executors are written once for every
// transport. Implementations:
//   - ThreadCommunicator (thread_communicator.h): the ranks are threads of
//     one process; shared memory and a poisonable barrier.
//   - MpiCommunicator (mpi_communicator.h): a rank per process, launched by
//     mpirun; the CPU backend's multi-process transport and the bootstrap
//     that hands NCCL its unique id.
//   - NcclCommunicator (nccl_communicator.h): GPU collectives on a stream.
//
// Contract shared by all of them:
//   - Every rank calls the same collectives in the same order with the same
//     counts (the plan guarantees it: every rank runs the same instruction
//     sequence over the same batch).
//   - Results are identical bit for bit on every rank, so that ranks which
//     feed them to identical computations stay in lockstep. The CPU
//     transports also sum in a fixed order (rank 0 + rank 1 + ...), so the
//     threaded and the MPI group give the same bits.
//   - Failures are values. Once any rank has called Abort(), or a peer is
//     known to have failed, every pending and later collective returns an
//     error naming the failed rank and its cause; none waits forever (the
//     CPU transports also give up after a timeout).
//
// Pointers address memory of the transport's memory_space(): host memory
// for threads and MPI, device memory for NCCL.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace bloom {

enum class MemorySpace { kHost, kDevice };

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int size() const = 0;
  virtual MemorySpace memory_space() const = 0;
  // A short name for messages: "threads", "mpi", "nccl".
  virtual const char* transport() const = 0;

  // data[i] = sum over ranks of data[i], for i in [0, count).
  virtual absl::Status AllReduceSum(float* data, size_t count) = 0;
  // out[r * count + i] = rank r's in[i]: `out` holds size() * count floats,
  // in rank order. `in` and `out` must not overlap.
  virtual absl::Status AllGather(const float* in, size_t count, float* out) = 0;
  // Copies `bytes` bytes at `data` on rank `root` to `data` on every rank.
  virtual absl::Status Broadcast(void* data, size_t bytes, int root) = 0;
  // Returns when every rank has called Barrier (or with an error).
  virtual absl::Status Barrier() = 0;

  // Point to point (pipeline parallelism: a stage's hidden state to the
  // next stage). Send() hands `bytes` bytes at `data` to rank `peer`, whose
  // Recv(data, bytes, <this rank>) receives them; between two ranks, sends
  // and receives match in the order they were made, and both sides name
  // the same byte count. Send may return before the peer has received
  // (the data is copied or the transfer is ordered on the transport's
  // stream); the same failure rules as the collectives apply. The defaults
  // refuse: a transport that has not built them says so.
  virtual absl::Status Send(const void* data, size_t bytes, int peer);
  virtual absl::Status Recv(void* data, size_t bytes, int peer);
  // A Send that may return before the peer has received and before `data`
  // may change: `data` must stay valid and unchanged until WaitOldestSend
  // has returned for it (sends complete oldest first). What breaks a cycle
  // of blocking sends: a pipeline's last stage hands its logits back to the
  // leader while the leader is sending the next step's hidden state. The
  // defaults are Send (complete on return) and nothing to wait for.
  virtual absl::Status SendWithoutWaiting(const void* data, size_t bytes, int peer) {
    return Send(data, bytes, peer);
  }
  virtual absl::Status WaitOldestSend() { return absl::OkStatus(); }
  // Sends begun by SendWithoutWaiting and not yet waited for.
  virtual int pending_sends() const { return 0; }

  // A communicator over the ranks that pass the same `color`, ranked by
  // `key` (then by rank): a pipeline stage's tensor-parallel ranks out of
  // the whole job's. Every rank of this group must call it. Unimplemented
  // unless the transport has it.
  virtual absl::StatusOr<std::unique_ptr<Communicator>> Split(int color, int key);

  // The poison path: this rank has failed with `cause` (not OK). The other
  // ranks' collectives stop waiting and return an error naming this rank
  // and the cause. For MPI, which cannot interrupt a peer blocked in a
  // collective, this reports on stderr and ends the whole job with
  // MPI_Abort: it is the one call in the runtime that may end the process,
  // and only a tool's top level calls it. Idempotent.
  virtual void Abort(const absl::Status& cause) = 0;

 protected:
  // What every transport's Send/Recv checks and reports alike:
  // InvalidArgument unless `peer` is another rank of the group ...
  absl::Status CheckPeer(const char* what, int peer) const;
  // ... and the error for a message whose size is not what Recv expected.
  static absl::Status SizeMismatchError(int from, size_t sent, int to, size_t expected);
};

}  // namespace bloom
