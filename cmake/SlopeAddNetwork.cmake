# slope_add_network: compile a .slope network ahead of time, at build time, into a
# static library that carries its C header (SPEC §5; in the spirit of Halide's
# add_halide_library).
#
#   slope_add_network(<target>
#     SOURCE net.slope            # required
#     [WEIGHTS w.safetensors]     # embed the weights; without, the function takes them
#     [NETWORK name]              # when the file holds several networks
#     [CPU cpu]                   # e.g. x86-64-v3 or native (default: native for the host)
#     [TRIPLE triple]             # e.g. aarch64-linux-gnu (default: the host's)
#     [HEADER name.h])            # the header's file name (default: <target>.h)
#
# gives the library <target>: link it and `#include "<target>.h"`, then call
# `<network>_forward`. The object needs nothing but the C library and libm.
#
# The compiler is the imported slope::slope_cli of find_package(slope), or the
# slope_cli target of the build that includes this file; set SLOPE_COMPILER to use
# another `slope` program.
include_guard(GLOBAL)

function(slope_add_network target)
  cmake_parse_arguments(PARSE_ARGV 1 ARG "" "SOURCE;WEIGHTS;NETWORK;CPU;TRIPLE;HEADER" "")
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "slope_add_network: unknown arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_SOURCE)
    message(FATAL_ERROR "slope_add_network(${target}): SOURCE is required")
  endif()

  if(SLOPE_COMPILER)
    set(compiler "${SLOPE_COMPILER}")
  elseif(TARGET slope::slope_cli)
    set(compiler "$<TARGET_FILE:slope::slope_cli>")
    set(compiler_target slope::slope_cli)
  elseif(TARGET slope_cli)
    set(compiler "$<TARGET_FILE:slope_cli>")
    set(compiler_target slope_cli)
  else()
    message(FATAL_ERROR "slope_add_network(${target}): no slope compiler; "
                        "call find_package(slope) first, or set SLOPE_COMPILER")
  endif()

  get_filename_component(source "${ARG_SOURCE}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
  set(dir "${CMAKE_CURRENT_BINARY_DIR}/slope_networks/${target}")
  if(ARG_HEADER)
    set(header_name "${ARG_HEADER}")
  else()
    set(header_name "${target}.h")
  endif()
  # The library is archived with the C tools, or the C++ ones in a C++-only project.
  get_property(languages GLOBAL PROPERTY ENABLED_LANGUAGES)
  if("C" IN_LIST languages)
    set(language C)
  else()
    set(language CXX)
  endif()
  set(object "${dir}/${target}${CMAKE_${language}_OUTPUT_EXTENSION}")
  set(header "${dir}/${header_name}")

  set(command "${compiler}" compile "${source}" -o "${object}" --header "${header}")
  set(depends "${source}")
  if(ARG_WEIGHTS)
    get_filename_component(weights "${ARG_WEIGHTS}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    list(APPEND command --weights "${weights}")
    list(APPEND depends "${weights}")
  endif()
  if(ARG_NETWORK)
    list(APPEND command --network "${ARG_NETWORK}")
  endif()
  if(ARG_CPU)
    list(APPEND command --cpu "${ARG_CPU}")
  endif()
  if(ARG_TRIPLE)
    list(APPEND command --target "${ARG_TRIPLE}")
  endif()
  if(compiler_target)
    list(APPEND depends ${compiler_target})
  endif()

  file(MAKE_DIRECTORY "${dir}")
  add_custom_command(
    OUTPUT "${object}" "${header}"
    COMMAND ${command}
    DEPENDS ${depends}
    COMMENT "Compiling network ${target} with slope"
    VERBATIM)
  set_source_files_properties("${object}" PROPERTIES EXTERNAL_OBJECT TRUE GENERATED TRUE)

  add_library(${target} STATIC "${object}" "${header}")
  set_target_properties(${target} PROPERTIES LINKER_LANGUAGE ${language})
  target_include_directories(${target} INTERFACE "${dir}")
  # Transcendental activations may call libm.
  if(UNIX AND NOT APPLE)
    target_link_libraries(${target} INTERFACE m)
  endif()
endfunction()
