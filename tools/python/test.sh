#!/usr/bin/env bash
# camoe_torch's tests (tools/python/tests): a venv with the pinned requirements, reused
# while requirements.txt is unchanged (CAMOE_TORCH_VENV, default ~/.cache/camoe/torch-venv;
# a fresh install downloads ~2.8 GB and took 1 min 26 s here), the camoe binary and
# libcamoe.so, then pytest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${CAMOE_TORCH_VENV:-$HOME/.cache/camoe/torch-venv}"
stamp="$venv/.camoe-requirements"

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
fi
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$stamp"; then
    echo "camoe_torch: installing $here/requirements.txt into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    start=$(date +%s)
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$here/requirements.txt"
    echo "camoe_torch: venv installed in $(( $(date +%s) - start )) s"
    cp "$here/requirements.txt" "$stamp"
fi

target="${CARGO_TARGET_DIR:-$repo/target}"
(cd "$repo" && cargo build --profile ci --quiet -p camoe --lib && cargo build --profile ci --quiet -p camoe-tools --bin camoe)
export CAMOE_BIN="$target/ci/camoe" CAMOE_LIB="$target/ci/libcamoe.so"
cd "$here"
PYTHONPATH="$here" OMP_NUM_THREADS=1 "$venv/bin/python" -m pytest -q -s -p no:cacheprovider tests "$@"
