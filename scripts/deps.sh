#!/usr/bin/env bash
# Installs the Debian packages minimax.c needs to build and test, only when some are missing.
# Called by the Makefile (`make deps`, and before every build) and by .ci/run. With package names as arguments
# it ensures those instead (scripts/deps-test.sh uses it for the test-only ones).
set -euo pipefail

# Build and test dependencies, one line each with what it is for.
pkgs=(
  build-essential      # gcc, make
  pkg-config           # finds the libraries below
  libjansson-dev       # JSON: config.json, safetensors headers, tokenizer.json, HTTP bodies
  libonig-dev          # Oniguruma: the tokenizer's pre-split regex, same engine semantics as the reference
  libutf8proc-dev      # Unicode NFC normalizer for the tokenizer
  libopenblas-dev      # reference BLAS, used only by `minimax bench` to measure the GEMM ceiling
  libmicrohttpd-dev    # HTTP server library for `minimax serve`
  libpng-dev           # PNG: the heatmap of `minimax niah`
  clang                # second compiler: the sanitizer build and the fuzzers (tests/fuzz) are built with it
  libclang-rt-dev      # clang's runtimes: AddressSanitizer, UndefinedBehaviorSanitizer, libFuzzer
  libomp-dev           # OpenMP for clang
  libopenmpi-dev       # Open MPI headers and library: the transport of multi-process runs (src/dist/, make MPI=1)
  openmpi-bin          # mpirun: starts those runs (the tests run 2 and 3 ranks on this machine)
  libpng-dev           # PNG images (MiniMax-VL-01 inputs)
  libjpeg62-turbo-dev  # JPEG images: libjpeg-turbo, the decoder Pillow uses on Debian (bit-identical pixels)
  libwebp-dev          # WebP images
)

[ $# -gt 0 ] && pkgs=("$@")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
