// How this process was launched, read from the environment, so that a tool
// can choose between a thread per rank and a rank per process without
// linking MPI.
#pragma once

namespace bloom {

// True when mpirun (OpenMPI), or another PMI/PMIx launcher, started this
// process: its rank variables are set (OMPI_COMM_WORLD_SIZE, PMIX_RANK,
// PMI_SIZE).
bool LaunchedByMpiLauncher();

// This process's rank as the launcher set it (0 when not launched by one),
// known before MPI is initialised: a tool uses it to make every rank but 0 a
// silent follower before reading any input.
int MpiLauncherRank();

// This process's index among the launcher's processes on its host, and how
// many there are (OMPI_COMM_WORLD_LOCAL_RANK/_SIZE, MPI_LOCALRANKID,
// PMIX_LOCAL_RANK/_SIZE): how a GPU rank picks its device. 0 and 1 when
// not launched by one, or the launcher does not say.
int MpiLauncherLocalRank();
int MpiLauncherLocalSize();

}  // namespace bloom
