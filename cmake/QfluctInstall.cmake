# Install rules and the CMake package: after `cmake --install BUILD --prefix PREFIX`, a project
# finds the library with find_package(qfluct) (CMAKE_PREFIX_PATH=PREFIX) and links qfluct::qfluct.
#   PREFIX/bin/qfluct                        the command-line program
#   PREFIX/include/qfluct/...                the public headers (with the generated version.hpp)
#   PREFIX/lib/libqfluct.a (or .so)          the library
#   PREFIX/lib/cmake/qfluct/                 qfluct-config.cmake, its version file and targets
include(CMakePackageConfigHelpers)

set(QFLUCT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/qfluct)

install(TARGETS qfluct_lib EXPORT qfluct-targets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(TARGETS qfluct RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/qfluct DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.hpp")
install(FILES ${PROJECT_BINARY_DIR}/generated/qfluct/version.hpp
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/qfluct)
install(EXPORT qfluct-targets NAMESPACE qfluct:: DESTINATION ${QFLUCT_CMAKE_DIR})

# A static library carries its private dependencies to the consumer's link step; the config
# file looks them up only then.
get_target_property(QFLUCT_LIBRARY_TYPE qfluct_lib TYPE)
if(QFLUCT_LIBRARY_TYPE STREQUAL "STATIC_LIBRARY")
  set(QFLUCT_STATIC ON)
else()
  set(QFLUCT_STATIC OFF)
  # The installed CLI finds the shared library next to it.
  set_target_properties(qfluct PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
endif()

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/qfluct-config.cmake.in
                              ${PROJECT_BINARY_DIR}/qfluct-config.cmake
                              INSTALL_DESTINATION ${QFLUCT_CMAKE_DIR}
                              PATH_VARS CMAKE_INSTALL_BINDIR)
# 0.x: a minor release may change the API, so only the same major.minor is compatible.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/qfluct-config-version.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/qfluct-config.cmake ${PROJECT_BINARY_DIR}/qfluct-config-version.cmake
        DESTINATION ${QFLUCT_CMAKE_DIR})
