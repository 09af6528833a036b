// Start-up agreement: before any rank runs a step, every rank must know
// whether all ranks are ready, so that a rank that failed to load makes the
// others stop with its message instead of leaving them blocked in the first
// collective.
#pragma once

#include "absl/status/status.h"
#include "runtime/comm/communicator.h"

namespace bloom {

// Collective: every rank passes its own outcome and gets back the same
// answer: OK if every rank's `local` is OK, otherwise the error of the lowest
// failed rank as "rank R: <its message>" (with its code). Messages longer
// than 1 KiB are cut. Needs a host-memory communicator (threads, MPI); if a
// collective itself fails, that failure is returned.
absl::Status AgreeOnStatus(Communicator& comm, const absl::Status& local);

}  // namespace bloom
