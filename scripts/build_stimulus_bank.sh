#!/usr/bin/env bash
# Install what the stimulus bank is made from (Debian packages, about 330 MB
# downloaded; PyPI packages), then build it:
#   scripts/build_stimulus_bank.sh [OUT] [--workers N]
# Packages already installed are not fetched again.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# The package list lives in one place: DEBIAN_PACKAGES in the Python script.
debian=$(python3 - "$here/build_stimulus_bank.py" <<'PY'
import ast, sys
tree = ast.parse(open(sys.argv[1]).read())
names = next(ast.literal_eval(n.value) for n in tree.body
             if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "DEBIAN_PACKAGES")
print(" ".join(names))
PY
)
missing=""
for package in $debian; do
    dpkg-query -W -f '${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing
fi
python -m pip install -q music21 pyfluidsynth g722
cd "$here/.."
PYTHONPATH=src${PYTHONPATH:+:$PYTHONPATH} exec nice -n 10 python scripts/build_stimulus_bank.py "$@"
