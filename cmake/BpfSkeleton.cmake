# dc_add_bpf_skeleton(NAME SOURCE): compiles SOURCE with clang for the BPF
# target, generates NAME.skel.h with bpftool and exposes it as the interface
# target NAME_skel, so C++ targets that link it embed the BPF object.

find_program(BPF_CLANG NAMES clang-14 clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

function(dc_add_bpf_skeleton name source)
  set(obj ${CMAKE_CURRENT_BINARY_DIR}/${name}.bpf.o)
  set(skel ${CMAKE_CURRENT_BINARY_DIR}/${name}.skel.h)
  set(arch_inc /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
  file(GLOB abi_headers ${PROJECT_SOURCE_DIR}/include/dtls_cookie/abi/*.h
       ${PROJECT_SOURCE_DIR}/bpf/*.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -Wall -Werror
            -I${PROJECT_SOURCE_DIR}/include -I${arch_inc}
            -c ${CMAKE_CURRENT_SOURCE_DIR}/${source} -o ${obj}
    DEPENDS ${source} ${abi_headers}
    COMMENT "BPF ${source}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}
    DEPENDS ${obj}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  # ALL: the object files are also used on their own (ip link ... obj).
  add_custom_target(${name}_skel_gen ALL DEPENDS ${skel})
  add_library(${name}_skel INTERFACE)
  add_dependencies(${name}_skel ${name}_skel_gen)
  target_include_directories(${name}_skel INTERFACE ${CMAKE_CURRENT_BINARY_DIR})
  target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
