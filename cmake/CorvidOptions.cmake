# Warning and sanitizer flags shared by every corvid target (applied through corvid_target()).
add_library(corvid_flags INTERFACE)
target_compile_options(corvid_flags INTERFACE -Wall -Wextra -Wno-missing-field-initializers)
if(CORVID_WERROR)
  target_compile_options(corvid_flags INTERFACE -Werror)
endif()
if(CORVID_SANITIZE)
  # Through corvid_flags rather than globally, so freestanding guest programs stay unsanitized.
  target_compile_options(corvid_flags INTERFACE -fsanitize=${CORVID_SANITIZE} -fno-omit-frame-pointer
                                                -fno-sanitize-recover=all)
  target_link_options(corvid_flags INTERFACE -fsanitize=${CORVID_SANITIZE})
endif()
if(CORVID_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "CORVID_FUZZ needs clang: configure with CXX=clang++ CC=clang")
  endif()
  target_compile_options(corvid_flags INTERFACE -fsanitize=fuzzer-no-link)
endif()

# corvid_library(NAME SOURCES... DEPS ...): a static library named corvid_NAME whose public
# include root is the project root, so headers are included as "block/qcow2.h".
function(corvid_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(corvid_${name} STATIC ${ARG_SOURCES})
  # corvid_flags is public so the sanitizer link flags reach every executable using the library.
  target_link_libraries(corvid_${name} PUBLIC ${ARG_DEPS} corvid_flags PRIVATE ${ARG_PRIVATE_DEPS})
endfunction()
