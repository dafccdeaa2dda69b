# DC_SANITIZE and DC_FUZZ: instrument every C and C++ target of the tree.
# BPF objects are built by custom commands with their own flags, so they
# stay as the kernel needs them.

if(DC_SANITIZE AND DC_FUZZ)
  message(FATAL_ERROR "DC_SANITIZE and DC_FUZZ are separate trees; set one")
endif()

# Recovering from a report would let a test pass after undefined behaviour;
# frame pointers give the reports whole stacks in optimised code.
set(DC_SANITIZER_FLAGS -fsanitize=address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)

if(DC_SANITIZE)
  add_compile_options(${DC_SANITIZER_FLAGS})
  add_link_options(-fsanitize=address,undefined)
  # GCC 12 with -fsanitize=address reports -Wmaybe-uninitialized inside
  # libstdc++'s <regex> and <functional> that the plain build does not; the
  # plain build keeps the warning as an error.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-Wno-maybe-uninitialized>)
  endif()
endif()

if(DC_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "DC_FUZZ needs clang (libFuzzer): configure with "
            "-DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14")
  endif()
  # Coverage instrumentation for the library code the targets reach; only
  # the targets themselves link libFuzzer's main (fuzz/CMakeLists.txt).
  add_compile_options(-fsanitize=fuzzer-no-link ${DC_SANITIZER_FLAGS})
  add_link_options(-fsanitize=address,undefined)
endif()
