# Abseil, protobuf and gRPC for Gauntlet's libraries: link `gauntlet_rpc`,
# never their targets directly. An executable that sets the target property
# GAUNTLET_STATIC_RPC gets Debian's static archives of all three instead of
# their ~50 shared libraries: the dynamic loader's symbol lookups and
# relocations were half of `gauntlet`'s start-up (bench/scan_bench.sh: a
# one-file scan is mostly start-up). Only torch-free executables that load
# no other library depending on them set it (libtorch links the shared
# protobuf, and two protobuf runtimes in one process must not meet).
add_library(gauntlet_rpc_shared INTERFACE)
target_link_libraries(gauntlet_rpc_shared INTERFACE
  absl::status absl::statusor absl::strings absl::str_format protobuf::libprotobuf gRPC::grpc++)

get_target_property(_absl_base absl::base LOCATION)
get_filename_component(_library_dir "${_absl_base}" DIRECTORY)
file(GLOB _rpc_archives "${_library_dir}/libabsl_*.a")
set(_rpc_missing "")
foreach(name grpc++ grpc gpr upb address_sorting protobuf re2 cares)
  if(EXISTS "${_library_dir}/lib${name}.a")
    list(APPEND _rpc_archives "${_library_dir}/lib${name}.a")
  else()
    list(APPEND _rpc_missing "lib${name}.a")
  endif()
endforeach()

add_library(gauntlet_rpc INTERFACE)
if(_rpc_missing OR NOT _rpc_archives)
  message(STATUS "Static Abseil/protobuf/gRPC archives missing (${_rpc_missing}): linking them shared")
  target_link_libraries(gauntlet_rpc INTERFACE gauntlet_rpc_shared)
else()
  add_library(gauntlet_rpc_static INTERFACE)
  # One group: the archives depend on each other in cycles.
  target_link_libraries(gauntlet_rpc_static INTERFACE
    -Wl,--start-group ${_rpc_archives} -Wl,--end-group
    OpenSSL::SSL OpenSSL::Crypto ZLIB::ZLIB Threads::Threads ${CMAKE_DL_LIBS})
  target_link_libraries(gauntlet_rpc INTERFACE
    "$<IF:$<BOOL:$<TARGET_PROPERTY:GAUNTLET_STATIC_RPC>>,gauntlet_rpc_static,gauntlet_rpc_shared>")
endif()
