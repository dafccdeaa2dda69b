# The Debian package dtls-cookie (cpack -G DEB from the build tree): what
# cmake/Install.cmake and man/ install, under /usr, stripped, with Depends
# from dpkg-shlibdeps. Included by the top-level CMakeLists.txt after every
# install rule.

set(DC_DEB_MAINTAINER
    "dtls-cookie maintainers <maintainers@users.noreply.r-seed-d9cb2227.example>"
    CACHE STRING "Maintainer field of the .deb")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME dtls-cookie)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT ${DC_DEB_MAINTAINER})
# Policy forbids packages in /usr/local, whatever the tree was configured
# for; the unit and the .pc are written for this prefix at install time.
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "DTLS cookie exchange offloaded to XDP")
# Wrapped by hand: the control file shows each line as written.
set(CPACK_PACKAGE_DESCRIPTION
    "An XDP program answers DTLS 1.0/1.2 ClientHellos that carry no valid
cookie with a HelloVerifyRequest (RFC 6347 4.2.1) in the driver, before
they reach the server, so spoofed floods cost the server neither a
wake-up nor a MAC.

This package holds the agent dtls-cookie (attach, detach, rotate,
status, stats, check, and run as a systemd service, which installing
does not enable), example DTLS servers on GnuTLS and OpenSSL, and
libdtls-cookie with its headers, pkg-config and CMake files: cookie_send
and cookie_verify in GnuTLS's call shape computing the responder's
cookies, and a key source that reads the responder's live keys.")

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# A shlibs file for libdtls-cookie; packaging/deb/triggers runs ldconfig,
# as CPack's own ldconfig calls go with its own postinst and postrm.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
# Building against the library needs the headers of what the archive
# links; a host that only runs the responder needs none of them.
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "libssl-dev, libbpf-dev, pkg-config")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/deb/postinst
    ${PROJECT_SOURCE_DIR}/packaging/deb/prerm
    ${PROJECT_SOURCE_DIR}/packaging/deb/postrm
    ${PROJECT_SOURCE_DIR}/packaging/deb/triggers)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_PRE_BUILD_SCRIPTS ${CMAKE_CURRENT_LIST_DIR}/DebManPages.cmake)

set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/")

include(CPack)
