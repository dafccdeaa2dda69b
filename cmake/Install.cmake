# What `cmake --install` puts where (GNUInstallDirs): the agent, the example
# servers, the library with its headers, pkg-config and CMake package files,
# and the systemd unit. Included by the top-level CMakeLists.txt once the
# targets exist; cmake/Packaging.cmake turns the same rules into a .deb.

# On Debian the library goes to the multiarch directory whatever the
# prefix: GNUInstallDirs picks it only for /usr, but the .deb is made from
# a tree configured for /usr/local, and /usr/local/lib/<triplet> is on
# Debian's ld.so and pkg-config paths as well.
if(NOT DEFINED CMAKE_INSTALL_LIBDIR AND CMAKE_LIBRARY_ARCHITECTURE
   AND EXISTS /etc/debian_version)
  set(CMAKE_INSTALL_LIBDIR lib/${CMAKE_LIBRARY_ARCHITECTURE}
      CACHE PATH "Object code libraries (lib)")
endif()
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(DC_SYSTEMD_UNIT_DIR lib/systemd/system CACHE PATH
    "Where the systemd unit goes, relative to the prefix")
set(DC_CMAKE_PACKAGE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/dtls-cookie)

# libbpf under a name of the project's own, so the package config can make
# the same target in a consumer without touching the consumer's LIBBPF_*.
pkg_check_modules(dtls_cookie_libbpf REQUIRED QUIET IMPORTED_TARGET
                  libbpf>=1.0)

# The installed library, libdtls-cookie: the reference API (dtls_cookie)
# and the loader with the pinned key source (dtls_cookie_loader) in one,
# since pinned_keys.hpp is built on responder.hpp and a server that reads
# the kernel's keys needs both. Made from the objects of the two static
# libraries the tree links, so nothing is compiled twice and the agent, the
# servers and the tests keep linking them statically.
#
# Shared, for servers that want security fixes without a rebuild, and
# static, for those that ship one binary. Before 1.0 any minor release may
# change the C++ ABI (classes with standard library members, inline
# functions), so the minor is part of the SONAME; from 1.0 the major alone.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(DC_SOVERSION 0.${PROJECT_VERSION_MINOR})
else()
  set(DC_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()
set(dc_library_objects $<TARGET_OBJECTS:dtls_cookie>
    $<TARGET_OBJECTS:dtls_cookie_loader>)
add_library(dtls_cookie_shared SHARED ${dc_library_objects})
add_library(dtls_cookie_archive STATIC ${dc_library_objects})
set_target_properties(dtls_cookie_shared PROPERTIES
  OUTPUT_NAME dtls-cookie EXPORT_NAME dtls-cookie
  VERSION ${PROJECT_VERSION} SOVERSION ${DC_SOVERSION})
set_target_properties(dtls_cookie_archive PROPERTIES
  OUTPUT_NAME dtls-cookie EXPORT_NAME dtls-cookie-static)
# XXX: every symbol of the library is exported, internal ones (the model,
# the frame builder's helpers) included; a version script or hidden
# visibility with export macros in the headers would narrow the ABI.
if(NOT DC_SANITIZE AND NOT DC_FUZZ)
  # A library that links must name every library it needs.
  target_link_options(dtls_cookie_shared PRIVATE LINKER:--no-undefined)
endif()
foreach(t dtls_cookie_shared dtls_cookie_archive)
  target_include_directories(${t} INTERFACE
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  # The headers use std::span and defaulted comparisons.
  target_compile_features(${t} INTERFACE cxx_std_20)
  # The headers include neither OpenSSL nor libbpf: private to the shared
  # library, link-only for the archive.
  target_link_libraries(${t} PRIVATE OpenSSL::Crypto
                        PkgConfig::dtls_cookie_libbpf)
endforeach()

# The agent acts on the kernel (XDP, bpffs, pinned maps) and runs as a
# root daemon: an administrator's command, so sbin as in Debian. The
# example servers are ordinary network programs anyone may run.
install(TARGETS dtls-cookie RUNTIME DESTINATION ${CMAKE_INSTALL_SBINDIR}
        COMPONENT runtime)
install(TARGETS dtls-cookie-gnutls-server dtls-cookie-openssl-server
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(TARGETS dtls_cookie_shared dtls_cookie_archive
        EXPORT dtls-cookie-targets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
                NAMELINK_COMPONENT development
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development)
# `cmake --install --strip` and the .deb strip the programs and the shared
# library; an archive only loses its debug sections when asked here.
if(IS_ABSOLUTE ${CMAKE_INSTALL_LIBDIR})
  set(dc_archive ${CMAKE_INSTALL_LIBDIR})
else()
  set(dc_archive \${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR})
endif()
set(dc_archive "\$ENV{DESTDIR}${dc_archive}/$<TARGET_FILE_NAME:dtls_cookie_archive>")
install(CODE "if(CMAKE_INSTALL_DO_STRIP)
    execute_process(COMMAND \"${CMAKE_STRIP}\" --strip-debug \"${dc_archive}\"
                    COMMAND_ERROR_IS_FATAL ANY)
  endif()" COMPONENT development)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/dtls_cookie
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT development
        PATTERN "*.in" EXCLUDE PATTERN ".*" EXCLUDE)
install(FILES ${PROJECT_BINARY_DIR}/include/dtls_cookie/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/dtls_cookie
        COMPONENT development)

install(EXPORT dtls-cookie-targets NAMESPACE dtls-cookie::
        FILE dtls-cookieTargets.cmake DESTINATION ${DC_CMAKE_PACKAGE_DIR}
        COMPONENT development)
configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/dtls-cookieConfig.cmake.in
  ${PROJECT_BINARY_DIR}/install/dtls-cookieConfig.cmake
  INSTALL_DESTINATION ${DC_CMAKE_PACKAGE_DIR})
# The same rule as the SONAME: before 1.0 only the same minor is compatible.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(dc_compatibility SameMinorVersion)
else()
  set(dc_compatibility SameMajorVersion)
endif()
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/install/dtls-cookieConfigVersion.cmake
  COMPATIBILITY ${dc_compatibility})
install(FILES ${PROJECT_BINARY_DIR}/install/dtls-cookieConfig.cmake
              ${PROJECT_BINARY_DIR}/install/dtls-cookieConfigVersion.cmake
        DESTINATION ${DC_CMAKE_PACKAGE_DIR} COMPONENT development)

# dc_install_configured(TEMPLATE DESTINATION COMPONENT): installs TEMPLATE
# with @DC_PREFIX@ replaced at install time by the prefix of that install
# (`cmake --install --prefix`, /usr in the .deb), not the one the tree was
# configured with; other @VARIABLES@ are replaced at configure time.
function(dc_install_configured template destination component)
  get_filename_component(name ${template} NAME_WLE)
  set(stage ${PROJECT_BINARY_DIR}/install/${name}.in)
  set(out ${PROJECT_BINARY_DIR}/install/${name})
  # Writes the placeholder back, for the install-time pass.
  set(DC_PREFIX @DC_PREFIX@)
  configure_file(${template} ${stage} @ONLY)
  install(CODE "set(DC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
    configure_file(\"${stage}\" \"${out}\" @ONLY)" COMPONENT ${component})
  install(FILES ${out} DESTINATION ${destination} COMPONENT ${component})
endfunction()

# dc_prefixed(VAR DIR BASE): DIR as a template writes it, under BASE when
# it is relative.
function(dc_prefixed var dir base)
  if(IS_ABSOLUTE ${dir})
    set(${var} ${dir} PARENT_SCOPE)
  else()
    set(${var} ${base}/${dir} PARENT_SCOPE)
  endif()
endfunction()
# The .pc file's directories follow its own prefix variable, as usual.
dc_prefixed(DC_PC_LIBDIR ${CMAKE_INSTALL_LIBDIR} "\${prefix}")
dc_prefixed(DC_PC_INCLUDEDIR ${CMAKE_INSTALL_INCLUDEDIR} "\${prefix}")
dc_prefixed(dc_sbindir ${CMAKE_INSTALL_SBINDIR} @DC_PREFIX@)
set(DC_AGENT_PATH ${dc_sbindir}/dtls-cookie)

dc_install_configured(${CMAKE_CURRENT_LIST_DIR}/dtls-cookie.pc.in
                      ${CMAKE_INSTALL_LIBDIR}/pkgconfig development)
dc_install_configured(${PROJECT_SOURCE_DIR}/packaging/dtls-cookie.service.in
                      ${DC_SYSTEMD_UNIT_DIR} runtime)
