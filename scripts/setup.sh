#!/usr/bin/env bash
# Set up edgegru in ./.venv: Debian packages (when root or sudo is available),
# a virtual environment, and edgegru with its dependencies.
#   scripts/setup.sh          the tool: train, quantise, export, verify, run
#   scripts/setup.sh --dev    also the test and lint tools
# torch is pinned: an unpinned torch resolves to a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_PIN="torch==2.13.0"
DEBIAN_PACKAGES=(
    gcc python3-venv                                           # host build of the generated C
    make cmake                                                 # builds of the STM32F4 example
    gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm  # Cortex-M builds and QEMU
    clang llvm                                                 # Cortex-M builds with clang, checked
    gcc-aarch64-linux-gnu qemu-user-static mmdebstrap          # emulated Raspberry Pi (arm64)
    g++ libeigen3-dev                                          # the bench's float C++ peer
)
DEV_PACKAGES=(
    chromium                                                   # tests look at the HTML report
)
extra="all"
if [[ "${1:-}" == "--dev" ]]; then
    extra="dev"
    DEBIAN_PACKAGES+=("${DEV_PACKAGES[@]}")
fi

install_debian_packages() {
    local sudo=""
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
            sudo="sudo"
        else
            echo "setup: not root and no password-less sudo; install these yourself:" >&2
            echo "    apt-get install ${DEBIAN_PACKAGES[*]}" >&2
            return 0
        fi
    fi
    local missing=()
    for pkg in "${DEBIAN_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        echo "setup: installing Debian packages: ${missing[*]}"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

if command -v apt-get >/dev/null; then
    install_debian_packages
fi

python=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q "$TORCH_PIN"
.venv/bin/python -m pip install -q -e ".[$extra]" "$TORCH_PIN"
echo "setup: edgegru is ready in .venv ($(.venv/bin/edgegru --version))"
