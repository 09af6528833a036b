# Finds MLIR 19 and makes its CMake helpers (mlir_tablegen, add_mlir_dialect,
# ...) available. Included only when BLOOM_ENABLE_COMPILER is on, from the top
# level, but the compile flags MLIR needs are applied per target through
# bloom_mlir_target() so they never leak into runtime targets.
# MLIR's version file accepts only an exact version, so the major version is
# checked by hand; the LLVM version is pinned here and nowhere else.
set(BLOOM_LLVM_MAJOR 19)
find_package(MLIR REQUIRED CONFIG
  HINTS /usr/lib/llvm-${BLOOM_LLVM_MAJOR}/lib/cmake/mlir)
if(NOT LLVM_VERSION_MAJOR EQUAL BLOOM_LLVM_MAJOR)
  message(FATAL_ERROR "MLIR ${BLOOM_LLVM_MAJOR} is required; found LLVM ${LLVM_PACKAGE_VERSION} at ${MLIR_DIR}")
endif()
message(STATUS "Using MLIR from ${MLIR_DIR} (LLVM ${LLVM_PACKAGE_VERSION})")

list(APPEND CMAKE_MODULE_PATH ${MLIR_CMAKE_DIR} ${LLVM_CMAKE_DIR})
include(TableGen)
include(AddLLVM)
include(AddMLIR)

set(BLOOM_LIT ${LLVM_TOOLS_BINARY_DIR}/../build/utils/lit/lit.py)
if(NOT EXISTS ${BLOOM_LIT})
  set(BLOOM_LIT /usr/lib/llvm-19/build/utils/lit/lit.py)
endif()
set(BLOOM_FILECHECK ${LLVM_TOOLS_BINARY_DIR}/FileCheck)

# Applies LLVM/MLIR's include paths, definitions and no-RTTI setting to one
# target (LLVM 19 from Debian is built without RTTI).
function(bloom_mlir_target target)
  target_include_directories(${target} SYSTEM PUBLIC
    ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})
  separate_arguments(_llvm_defs NATIVE_COMMAND "${LLVM_DEFINITIONS}")
  target_compile_definitions(${target} PUBLIC ${_llvm_defs})
  if(NOT LLVM_ENABLE_RTTI)
    target_compile_options(${target} PRIVATE -fno-rtti)
  endif()
endfunction()
