// How this process was launched, read from the environment, so that a tool
// can choose between a thread per rank and a rank per process without
// linking MPI.
#pragma once

namespace bloom {

// True when mpirun (OpenMPI), or another PMI/PMIx launcher, started this
// process: its rank variables are set (OMPI_COMM_WORLD_SIZE, PMIX_RANK,
// PMI_SIZE).
bool LaunchedByMpiLauncher();

}  // namespace bloom
