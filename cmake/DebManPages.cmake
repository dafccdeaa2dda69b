# Run by cpack once it has staged the files of the .deb
# (CPACK_PRE_BUILD_SCRIPTS): Debian policy (12.3) wants manual pages
# compressed with gzip -9n, which dh_compress would do and cpack does not.

set(staged ${CPACK_TEMPORARY_DIRECTORY}${CPACK_PACKAGING_INSTALL_PREFIX})
file(GLOB_RECURSE pages LIST_DIRECTORIES false "${staged}/share/man/*")
list(FILTER pages EXCLUDE REGEX "\\.gz$")
foreach(page IN LISTS pages)
  # -n leaves name and time out of the header: the same page, the same bytes.
  execute_process(COMMAND gzip -9nf "${page}" COMMAND_ERROR_IS_FATAL ANY)
endforeach()
