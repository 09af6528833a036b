# Third-party packages of the runtime side. All come from Debian packages
# installed by scripts/install-deps.sh.
find_package(absl REQUIRED)
find_package(FlatBuffers REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenMP)
# bloom-serve's HTTP server: Debian's cpp-httplib, a header and a shared
# library built with TLS and compression. Its defines come from pkg-config so
# that the header's types match the library's (bloom-serve uses no TLS); where
# it is missing, bloom-serve is not built.
find_package(PkgConfig)
if(PkgConfig_FOUND)
  pkg_check_modules(CPP_HTTPLIB IMPORTED_TARGET cpp-httplib>=0.11)
endif()

# flatc turns runtime/plan/plan.fbs into a header. Debian names the target
# flatbuffers::flatc; fall back to the program on PATH.
if(TARGET flatbuffers::flatc)
  set(BLOOM_FLATC $<TARGET_FILE:flatbuffers::flatc>)
else()
  find_program(BLOOM_FLATC flatc REQUIRED)
endif()
