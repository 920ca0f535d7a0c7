#!/usr/bin/env bash
# Install what the stimulus bank is made from (Debian packages, ~420 MB
# downloaded; PyPI packages), then build it: scripts/build_stimulus_bank.sh [OUT] [--workers N]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
debian=$(python3 -c "import ast,sys; t=ast.parse(open(sys.argv[1]).read()); print(' '.join(next(ast.literal_eval(n.value) for n in t.body if isinstance(n, ast.Assign) and getattr(n.targets[0], 'id', '') == 'DEBIAN_PACKAGES')))" "$here/build_stimulus_bank.py")
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $debian
python -m pip install -q music21 pyfluidsynth g722
cd "$here/.."
PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} exec nice -n 10 python scripts/build_stimulus_bank.py "$@"
