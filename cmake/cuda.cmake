# The optional CUDA backend (csrc/cuda/, binding csrc/python/cuda.cpp, Python adanns/gpu.py).
#
# Off by default: the CPU build is unchanged. Turn it on with
#   pip install . -C cmake.define.ADANNS_CUDA=ON      or      ADANNS_CUDA=1 pip install .
# It then needs a CUDA compiler (nvcc on PATH, $CUDACXX, or /usr/local/cuda/bin/nvcc); a request
# without one stops the configuration with an error instead of silently building for the CPU only.
# GPU architectures: CMAKE_CUDA_ARCHITECTURES (or $CUDAARCHS), default "80;90" (A100, H100; the
# PTX of the newest entry lets later GPUs JIT-compile it). Only the CUDA runtime is linked
# (statically), so importing the module needs no GPU and no driver.
option(ADANNS_CUDA "Build the CUDA backend (csrc/cuda)" OFF)
if(NOT ADANNS_CUDA AND "$ENV{ADANNS_CUDA}" MATCHES "^([1Yy]|[Oo][Nn]|[Tt][Rr][Uu][Ee]|[Yy][Ee][Ss])$")
  set(ADANNS_CUDA ON)
endif()

if(ADANNS_CUDA)
  if(NOT DEFINED CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX} AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    message(FATAL_ERROR "ADANNS_CUDA is on but no CUDA compiler was found: put nvcc on PATH or set CUDACXX")
  endif()
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
    set(CMAKE_CUDA_ARCHITECTURES "80;90")
  endif()
  enable_language(CUDA)
  set(CMAKE_CUDA_STANDARD 17)
  set(CMAKE_CUDA_STANDARD_REQUIRED ON)
  find_package(CUDAToolkit REQUIRED)

  add_library(adanns_cuda STATIC
    ${PROJECT_SOURCE_DIR}/csrc/cuda/gemm.cu
    ${PROJECT_SOURCE_DIR}/csrc/cuda/gpu_ivf.cu
  )
  set_target_properties(adanns_cuda PROPERTIES POSITION_INDEPENDENT_CODE ON CUDA_RUNTIME_LIBRARY Static)
  target_include_directories(adanns_cuda PUBLIC ${PROJECT_SOURCE_DIR}/csrc)
  target_compile_options(adanns_cuda PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:-O3 -Xcompiler=-Wall,-Wextra>)
  target_link_libraries(adanns_cuda PUBLIC CUDA::cudart_static)

  target_sources(_core PRIVATE ${PROJECT_SOURCE_DIR}/csrc/python/cuda.cpp)
  target_compile_definitions(_core PRIVATE ADANNS_WITH_CUDA=1)
  target_link_libraries(_core PRIVATE adanns_cuda)
  message(STATUS "adanns: CUDA backend ON (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, architectures ${CMAKE_CUDA_ARCHITECTURES})")
endif()
