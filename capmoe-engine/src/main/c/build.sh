#!/usr/bin/env bash
# Compiles every *.c beside this script into ONE shared library, OUT/<os>-<arch>/libcapmoe-kernels.so,
# which the engine jar carries and capmoe.kernels.NativeKernels loads over FFM. Run by the Maven
# build of capmoe-engine (exec-maven-plugin, phase compile): ./build.sh OUT
# Without a C compiler the build goes on without the library and says so in one line: the exact
# numerics need none of it (F16 prefill then runs its Java path, f16_gemm.c's bits); --dot reduced then stops with a clear error, and the native kernels'
# tests fail naming what is missing.
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="$1"
os="$(uname -s | tr '[:upper:]' '[:lower:]')"
arch="$(uname -m)"
[[ "$arch" == amd64 ]] && arch=x86_64
lib="$out/$os-$arch/libcapmoe-kernels.so"
cc="${CC:-}"
if [[ -z "$cc" ]]; then
  for c in cc gcc clang; do if command -v "$c" >/dev/null 2>&1; then cc="$c"; break; fi; done
fi
if [[ -z "$cc" ]]; then
  echo "[capmoe] WARNING: no C compiler (cc, gcc or clang): the native kernels of --dot reduced are not built; install one, e.g. apt-get install -y --no-install-recommends gcc libc6-dev"
  rm -f "$lib"
  exit 0
fi
sources=("$src"/*.c)
# up to date: nothing to do (the library is newer than every source and this script)
if [[ -f "$lib" && -z "$(find "$src" -newer "$lib" \( -name '*.c' -o -name '*.h' -o -name build.sh \) -print -quit)" ]]; then
  exit 0
fi
mkdir -p "$(dirname "$lib")"
# -ffp-contract=off: no fused multiply-adds the C does not spell out (the portable kernels' bits are the C's)
"$cc" -O3 -fPIC -shared -std=gnu11 -ffp-contract=off -Wall -Wextra -o "$lib.tmp" "${sources[@]}" -lm
mv -f "$lib.tmp" "$lib"
echo "[capmoe] native kernels: $lib (${#sources[@]} C file(s), $("$cc" --version | head -1))"
