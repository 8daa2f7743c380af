#!/usr/bin/env bash
# Build llama.cpp's server (llama-server) for the served-engine tests and `agentroute bench --suite engine`,
# from the llama.cpp sources vendored in the bench extra's sdist (llama-cpp-python 0.3.36, MIT), into DIR
# (default build/llama-server). Needs cmake and a C++ compiler; about 7 minutes on 2 cores; prints the binary's path.
#
# The CPU flags are explicit instead of -DGGML_NATIVE=ON: on this project's AMX machine a native
# build enables llama.cpp's AMX kernels, and the server then died at start (SIGILL) on q8_0 GGUFs.
set -euo pipefail
out="$(realpath -m "${1:-build/llama-server}")"
version=0.3.36
mkdir -p "$out"
cd "$out"
if [ ! -d "llama_cpp_python-$version" ]; then
  "${PYTHON:-python3}" -m pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d .
  tar xzf "llama_cpp_python-$version.tar.gz"
fi
src="llama_cpp_python-$version/vendor/llama.cpp"
# Each x86 extension on only where /proc/cpuinfo lists it (cpuinfo name -> ggml option).
flags=(-DGGML_NATIVE=OFF)
for pair in avx:AVX avx2:AVX2 fma:FMA f16c:F16C avx512f:AVX512 avx512vbmi:AVX512_VBMI avx512_vnni:AVX512_VNNI \
            avx512_bf16:AVX512_BF16; do
  if grep -qw "${pair%%:*}" /proc/cpuinfo; then flags+=("-DGGML_${pair##*:}=ON"); fi
done
# The compiler's output (thousands of warnings) goes to build.log, shown only if the build fails.
cmake -S "$src" -B build -DCMAKE_BUILD_TYPE=Release -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF "${flags[@]}" \
  >build.log 2>&1 || { tail -40 build.log >&2; exit 1; }
cmake --build build --target llama-server -j "$(nproc)" >>build.log 2>&1 || { tail -40 build.log >&2; exit 1; }
echo "$out/build/bin/llama-server"
