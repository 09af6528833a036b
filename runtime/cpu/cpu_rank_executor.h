// The CPU backend's ranks for RankGroup (runtime/parallel/rank_group.h): a
// CpuExecutor per rank, its collectives over the rank's host communicator.
#pragma once

#include "runtime/parallel/rank_group.h"

namespace bloom {

RankExecutorFactory CpuRankExecutors();

}  // namespace bloom
