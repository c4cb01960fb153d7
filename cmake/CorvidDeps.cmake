# Third-party libraries, all from Debian's archive (scripts/setup installs them).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
pkg_check_modules(URING REQUIRED IMPORTED_TARGET liburing)
pkg_check_modules(ZLIB REQUIRED IMPORTED_TARGET zlib)
pkg_check_modules(ZSTD REQUIRED IMPORTED_TARGET libzstd)
find_package(fmt REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_path(TL_EXPECTED_INCLUDE tl/expected.hpp REQUIRED)

# Debian's libfdt-dev ships no pkg-config file.
find_path(FDT_INCLUDE libfdt.h REQUIRED)
find_library(FDT_LIBRARY fdt REQUIRED)
add_library(corvid_libfdt INTERFACE)
target_include_directories(corvid_libfdt INTERFACE ${FDT_INCLUDE})
target_link_libraries(corvid_libfdt INTERFACE ${FDT_LIBRARY})
