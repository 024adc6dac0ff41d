# Locates LibTorch for the lemur addon, in this order:
#   1. $LIBTORCH: an unpacked libtorch directory (the pytorch.org C++ download);
#   2. the machine's Python PyTorch (torch.utils.cmake_prefix_path);
#   3. the system libtorch (Debian/Ubuntu `libtorch-dev`), found by find_package alone.
# Sets LEMUR_TORCH_SOURCE to which one was used. Fails with instructions when none is found.

set(LEMUR_TORCH_SOURCE "")
if(DEFINED ENV{LIBTORCH} AND NOT "$ENV{LIBTORCH}" STREQUAL "")
  if(NOT EXISTS "$ENV{LIBTORCH}/share/cmake/Torch/TorchConfig.cmake")
    message(FATAL_ERROR
      "lemur: LIBTORCH=$ENV{LIBTORCH} is not an unpacked libtorch directory "
      "(expected $ENV{LIBTORCH}/share/cmake/Torch/TorchConfig.cmake).")
  endif()
  find_package(Torch REQUIRED PATHS "$ENV{LIBTORCH}" NO_DEFAULT_PATH)
  set(LEMUR_TORCH_SOURCE "LIBTORCH")
endif()

if(NOT LEMUR_TORCH_SOURCE AND NOT DEFINED ENV{LEMUR_SKIP_PYTHON_TORCH})
  find_program(LEMUR_PYTHON NAMES python3 python)
  if(LEMUR_PYTHON)
    execute_process(
      COMMAND "${LEMUR_PYTHON}" -c "import torch;print(torch.utils.cmake_prefix_path)"
      OUTPUT_VARIABLE LEMUR_PY_TORCH_PREFIX OUTPUT_STRIP_TRAILING_WHITESPACE
      RESULT_VARIABLE LEMUR_PY_RESULT ERROR_QUIET)
    if(LEMUR_PY_RESULT EQUAL 0 AND EXISTS "${LEMUR_PY_TORCH_PREFIX}/Torch/TorchConfig.cmake")
      find_package(Torch REQUIRED PATHS "${LEMUR_PY_TORCH_PREFIX}" NO_DEFAULT_PATH)
      set(LEMUR_TORCH_SOURCE "python")
    endif()
  endif()
endif()

if(NOT LEMUR_TORCH_SOURCE)
  find_package(Torch QUIET)
  if(Torch_FOUND)
    set(LEMUR_TORCH_SOURCE "system")
  endif()
endif()

if(NOT LEMUR_TORCH_SOURCE)
  message(FATAL_ERROR
    "\nlemur: no LibTorch found. Get one of:\n"
    "  - Debian 12 / Ubuntu 24.04 (CPU):  sudo apt-get install -y --no-install-recommends libtorch-dev libopenblas0\n"
    "  - any Linux, CPU or CUDA: unpack the LibTorch C++ download from https://pytorch.org and set LIBTORCH=/path/to/libtorch\n"
    "  - a Python PyTorch (pip install torch): found automatically through python3\n"
    "then run: npm rebuild lemur --build-from-source\n")
endif()

# Version and ABI as the headers of the chosen libtorch state them.
find_file(LEMUR_TORCH_VERSION_H torch/version.h PATHS ${TORCH_INCLUDE_DIRS} NO_DEFAULT_PATH)
file(STRINGS "${LEMUR_TORCH_VERSION_H}" _lemur_tv REGEX "define TORCH_VERSION_(MAJOR|MINOR|PATCH) ")
string(REGEX REPLACE ".*MAJOR ([0-9]+).*MINOR ([0-9]+).*PATCH ([0-9]+).*" "\\1.\\2.\\3"
       LEMUR_TORCH_VERSION "${_lemur_tv}")
set(LEMUR_TORCH_CXX11_ABI 1)
if("${TORCH_CXX_FLAGS}" MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
  set(LEMUR_TORCH_CXX11_ABI 0)
endif()
# The directory holding libtorch_cpu: recorded so a later load can check it is the same build.
find_library(LEMUR_TORCH_CPU_LIB torch_cpu PATHS ${TORCH_INSTALL_PREFIX}/lib NO_CACHE)
if(NOT LEMUR_TORCH_CPU_LIB)
  set(LEMUR_TORCH_CPU_LIB "${TORCH_LIBRARY}")
endif()
get_filename_component(LEMUR_TORCH_LIB_FILE "${LEMUR_TORCH_CPU_LIB}" REALPATH)
file(SIZE "${LEMUR_TORCH_LIB_FILE}" LEMUR_TORCH_LIB_SIZE)
message(STATUS "lemur: LibTorch ${LEMUR_TORCH_VERSION} from ${LEMUR_TORCH_SOURCE} (${LEMUR_TORCH_LIB_FILE}), CXX11 ABI ${LEMUR_TORCH_CXX11_ABI}")
