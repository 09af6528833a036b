# Abseil, linked statically: a stand-in abslConfig.cmake for builds whose
# binaries are carried to the GPU machine, which has no Abseil. Point
# CMake at it with -Dabsl_DIR=<this directory>: it loads the system's
# package, then swaps each imported shared library for its static archive
# (Debian's libabsl-dev ships both). Used by benchmarks/gpu/prepare.sh; the
# project's own CMake files are unchanged.
set(_bloom_system_absl_dir "/usr/lib/x86_64-linux-gnu/cmake/absl"
    CACHE PATH "Where the system's abslConfig.cmake lives")
include("${_bloom_system_absl_dir}/abslConfig.cmake")

get_directory_property(_bloom_absl_targets IMPORTED_TARGETS)
foreach(_target IN LISTS _bloom_absl_targets)
  if(NOT _target MATCHES "^absl::")
    continue()
  endif()
  get_target_property(_type ${_target} TYPE)
  if(NOT _type STREQUAL "SHARED_LIBRARY")
    continue()
  endif()
  foreach(_config IN ITEMS "" _NONE _RELEASE _DEBUG _RELWITHDEBINFO)
    get_target_property(_location ${_target} IMPORTED_LOCATION${_config})
    if(_location)
      string(REGEX REPLACE "\\.so(\\.[0-9.]+)?$" ".a" _archive "${_location}")
      if(NOT EXISTS "${_archive}")
        message(FATAL_ERROR "static Abseil: ${_archive} not found for ${_target}")
      endif()
      set_target_properties(${_target} PROPERTIES IMPORTED_LOCATION${_config} "${_archive}")
      set_property(TARGET ${_target} PROPERTY IMPORTED_SONAME${_config})
    endif()
  endforeach()
endforeach()
