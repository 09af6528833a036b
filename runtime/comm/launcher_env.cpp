#include "runtime/comm/launcher_env.h"

#include <cstdlib>
#include <initializer_list>

namespace bloom {

bool LaunchedByMpiLauncher() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE"}) {
    if (std::getenv(name) != nullptr) return true;
  }
  return false;
}

}  // namespace bloom
