# lemur_use_torch_openmp(target)
#
# The addon's CPU kernels split their work with at::parallel_for. Over LibTorch's OpenMP
# backend that function is header-only (ATen/ParallelOpenMP.h: a `#pragma omp parallel`),
# so a translation unit compiled without OpenMP runs every range on the calling thread,
# whatever the intra-op thread count. Compile with OpenMP, and bind the calls to the OpenMP
# runtime LibTorch itself loads: a second runtime in the process would keep a second thread
# pool whose thread count setThreads() never reaches.
#
# Which runtime: the NEEDED entry of libtorch_cpu. PyTorch wheels and the LibTorch download
# bundle theirs beside it (libgomp-<hash>.so.1); a distribution's libtorch (Debian) uses the
# system's libgomp.so.1, the one the compiler's -fopenmp links.
# A LibTorch on its native thread pool (AT_PARALLEL_NATIVE) needs nothing: there
# at::parallel_for calls into LibTorch.
function(lemur_use_torch_openmp target)
  find_file(_config_h ATen/Config.h PATHS ${TORCH_INCLUDE_DIRS} NO_DEFAULT_PATH NO_CACHE)
  if(NOT _config_h)
    message(WARNING "lemur: ATen/Config.h not found; CPU kernels stay single-threaded")
    return()
  endif()
  file(STRINGS "${_config_h}" _openmp REGEX "define AT_PARALLEL_OPENMP 1")
  if(NOT _openmp)
    return()
  endif()
  find_package(OpenMP COMPONENTS CXX)
  if(NOT OpenMP_CXX_FOUND)
    message(WARNING "lemur: this compiler has no OpenMP; CPU kernels stay single-threaded")
    return()
  endif()

  set(_needed "")
  if(CMAKE_OBJDUMP)
    execute_process(COMMAND "${CMAKE_OBJDUMP}" -p "${LEMUR_TORCH_LIB_FILE}"
      OUTPUT_VARIABLE _dump ERROR_QUIET RESULT_VARIABLE _rc)
    if(_rc EQUAL 0)
      string(REGEX MATCH "NEEDED +(lib[gi]omp[^ \n]*)" _m "${_dump}")
      set(_needed "${CMAKE_MATCH_1}")
    endif()
  endif()
  get_filename_component(_torch_lib_dir "${LEMUR_TORCH_LIB_FILE}" DIRECTORY)
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${OpenMP_CXX_FLAGS}>)
  if(_needed AND EXISTS "${_torch_lib_dir}/${_needed}")
    # Link LibTorch's runtime by path (a wheel's bundled libgomp-<hash>.so.1, or the system's
    # beside a distribution's libtorch): its soname is what libtorch_cpu asks for, so the
    # loader maps it once for both.
    target_link_libraries(${target} PRIVATE "${_torch_lib_dir}/${_needed}")
    message(STATUS "lemur: CPU kernels on LibTorch's OpenMP runtime (${_torch_lib_dir}/${_needed})")
  else()
    if(_needed AND OpenMP_CXX_LIB_NAMES)
      list(GET OpenMP_CXX_LIB_NAMES 0 _first)
      if(NOT _needed MATCHES "^lib${_first}[.]")
        message(WARNING "lemur: LibTorch loads ${_needed}, the compiler's OpenMP is ${_first}: "
                        "the CPU kernels may run on a second OpenMP runtime")
      endif()
    endif()
    target_link_libraries(${target} PRIVATE OpenMP::OpenMP_CXX)
    message(STATUS "lemur: CPU kernels on the compiler's OpenMP runtime (${OpenMP_CXX_LIB_NAMES}; LibTorch loads ${_needed})")
  endif()
endfunction()
