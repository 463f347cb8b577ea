#!/usr/bin/env bash
# One-command set-up for ccr-pipeline.
#
#   ./scripts/setup.sh            create .venv/ in the repository root (or use the active venv)
#                                 and install the pipeline with its test tools.
#
# PyTorch: a CUDA build that is already installed is kept. Otherwise, on a machine with an NVIDIA
# driver (nvidia-smi works) the registry's default (CUDA) build is installed, and on a machine
# without one a CPU build: `torch==2.13.0` from a local wheel or index if pip finds one, or
# from $CCR_TORCH_INDEX_URL when that is set (e.g. the PyTorch CPU wheel index).
# pyradiomics: the maintained fork pyradiomics-bhklab (same `radiomics` import), built after numpy.
#
# Environment knobs (all optional):
#   CCR_PYTHON           interpreter used to create .venv (default: python3.11, else python3)
#   CCR_TORCH_SPEC       torch requirement for CPU machines (default: torch==2.13.0)
#   CCR_TORCH_INDEX_URL  index to take the CPU torch build from
#   CCR_DEVICE           force "cpu" or "cuda" instead of detecting nvidia-smi
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
start=$(date +%s)

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

if [[ -n "${VIRTUAL_ENV:-}" ]]; then
  py="$VIRTUAL_ENV/bin/python"
  say "using the active virtual environment $VIRTUAL_ENV"
else
  base="${CCR_PYTHON:-}"
  if [[ -z "$base" ]]; then
    if command -v python3.11 >/dev/null 2>&1; then base=python3.11; else base=python3; fi
  fi
  if [[ ! -x .venv/bin/python ]]; then
    say "creating .venv with $base ($($base --version 2>&1))"
    "$base" -m venv .venv
  fi
  py="$repo/.venv/bin/python"
fi

"$py" - <<'PY'
import sys
if sys.version_info < (3, 10):
    sys.exit(f"ccr-pipeline needs Python >= 3.10, this is {sys.version.split()[0]}")
PY

pip_install() { "$py" -m pip install --disable-pip-version-check -q "$@"; }

device="${CCR_DEVICE:-}"
if [[ -z "$device" ]]; then
  if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then device=cuda; else device=cpu; fi
fi

if "$py" -c "import torch" >/dev/null 2>&1; then
  say "keeping the installed torch $("$py" -c 'import torch; print(torch.__version__)')"
elif [[ "$device" == cuda ]]; then
  say "NVIDIA driver found: installing the default (CUDA) torch build"
  pip_install "torch>=2.3"
else
  spec="${CCR_TORCH_SPEC:-torch==2.13.0}"
  say "no CUDA: installing a CPU build of torch ($spec)"
  if [[ -n "${CCR_TORCH_INDEX_URL:-}" ]]; then
    pip_install "$spec" --index-url "$CCR_TORCH_INDEX_URL"
  else
    pip_install "$spec"
  fi
  if "$py" -c "import sys, torch; sys.exit(0 if torch.version.cuda is None else 1)"; then :; else
    say "warning: the torch that was installed is a CUDA build; on a CPU-only machine set"
    say "         CCR_TORCH_INDEX_URL to a CPU wheel index to save several GB"
  fi
fi

say "installing build prerequisites (numpy first: pyradiomics' build imports it)"
pip_install "numpy>=1.26" "setuptools>=68" wheel

say "installing ccr-pipeline with radiomics and test tools"
pip_install -e "$repo[radiomics,dev]"

"$py" -m pipeline.cli --version >/dev/null
say "done in $(( $(date +%s) - start )) s; torch $("$py" -c 'import torch; print(torch.__version__)'), device=$device"
if [[ -z "${VIRTUAL_ENV:-}" ]]; then
  say "activate with:  source .venv/bin/activate    then try:  ccr demo"
fi
