#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment and install everything from nothing.
#
# The environment lives outside the clone, in $DFF_ENV_ROOT (default ~/.cache/dff-env), in a
# folder keyed by the hash of requirements.txt (bump its ENV_REVISION line when this script changes), so fresh clones (CI) reuse it
# and nothing is rebuilt that is already there. Prints the path of the venv's python on its
# last line of stdout.
#
# detectron2 0.6 is not on PyPI: its third-party sdist `pb1-detectron2==0.6` lacks the C++
# sources, so we build a pure-Python wheel of it with `ext_modules` dropped; dff_compat then
# provides placeholders for the missing `detectron2._C` (and mmcv-lite's `mmcv._ext`), through
# dff_compat.pth in site-packages, so that they are in place in every process.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
key=$(sha256sum "$here/requirements.txt" | cut -c1-12)
root="${DFF_ENV_ROOT:-$HOME/.cache/dff-env}"
venv="$root/venv-$key"
py="$venv/bin/python"
log() { echo "[setup_env] $*" >&2; }
# the project, editable, and dff_compat.pth (an editable install does not ship it)
install_project() {
  "$py" -m pip install -q --no-deps --no-build-isolation -e "$here" >&2
  site=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  cp "$here/dff_compat.pth" "$site/dff_compat.pth"
}

if [ ! -f "$venv/.complete" ]; then
  log "creating $venv (first run: a few minutes; later runs reuse it)"
  rm -rf "$venv"
  mkdir -p "$root"
  python3 -m venv "$venv"
  "$py" -m pip install -q --upgrade pip "setuptools==80.10.2" wheel >&2
  # torch first: the detectron2 sdist imports it in setup.py
  "$py" -m pip install -q torch==2.14.1 torchvision==0.29.1 >&2
  "$py" -m pip install -q -r "$here/requirements.txt" >&2
  if ! "$py" -c "import detectron2" 2>/dev/null; then
    log "building pure-Python detectron2 0.6 from the pb1-detectron2 sdist"
    tmp=$(mktemp -d)
    # `pip download` refuses this sdist (its metadata names a direct-URL extra), so fetch it from
    # pip's configured index ourselves and check the pinned sha256.
    "$py" "$here/tools/fetch_sdist.py" pb1-detectron2 0.6 \
      5d2e9e51e523ec72f6a31cca04b0a515492e9514b773a3d134cedc0677170b29 "$tmp" >&2
    tar -xzf "$tmp"/pb1*detectron2-0.6.tar.gz -C "$tmp"
    src=$(find "$tmp" -maxdepth 1 -type d -name "pb1*detectron2-0.6")
    # drop the C++ extension (its sources are not in the sdist)
    sed -i 's/ext_modules=get_extensions(),/ext_modules=[],/' "$src/setup.py"
    grep -q 'ext_modules=\[\]' "$src/setup.py" || { log "could not patch $src/setup.py"; exit 1; }
    # ship the model-zoo configs: the sdist has them under detectron2/model_zoo/configs, but its
    # setup.py globs a top-level configs/ that the sdist lacks, so model_zoo.get_config_file()
    # would find nothing
    sed -i 's|package_data={"detectron2.model_zoo": get_model_zoo_configs()},|package_data={"detectron2.model_zoo": ["configs/**/*.yaml", "configs/**/*.py"]},|' "$src/setup.py"
    grep -q '"configs/\*\*/\*.yaml"' "$src/setup.py" || { log "could not patch $src/setup.py"; exit 1; }
    "$py" -m pip install -q --no-build-isolation --no-deps "$src" >&2
    # detectron2's own runtime requirements (those not already pinned above)
    "$py" -m pip install -q "yacs>=0.1.8" "tabulate" "cloudpickle" "termcolor>=1.1" \
      "omegaconf>=2.1" "hydra-core>=1.1" "black" "fvcore>=0.1.5,<0.1.6" "iopath>=0.1.7,<0.1.10" \
      "tensorboard" "pydot" >&2
    rm -rf "$tmp"
  fi
  install_project
  touch "$venv/.complete"
else
  # the clone may be new: point the editable install at it (cheap, no dependencies), once;
  # the lock keeps concurrent jobs from racing on the same venv
  finder=$(ls "$venv"/lib/python3*/site-packages/__editable___dff_*_finder.py 2>/dev/null || true)
  pth=$(ls "$venv"/lib/python3*/site-packages/dff_compat.pth 2>/dev/null || true)
  if [ -z "$finder" ] || ! grep -q "'$here/dff_common'" "$finder" || ! grep -q "'$here/dff_compat'" "$finder" \
      || [ -z "$pth" ] || ! cmp -s "$pth" "$here/dff_compat.pth"; then
    ( flock 9; install_project ) 9>"$venv/.install.lock"
  fi
fi
echo "$py"
