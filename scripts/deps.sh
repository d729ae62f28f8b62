#!/bin/sh
# Install the Debian packages facet needs to build, test and run, when they are missing.
# Usage: scripts/deps.sh [build|check|demo|hosts|bench]
set -eu
what=${1:-check}
pkgs="build-essential pkg-config libvips-dev libmsgpack-dev libturbojpeg0-dev libdnnl-dev
      libopenblas-dev libjansson-dev libplplot-dev libcairo2-dev plplot-driver-cairo
      fonts-dejavu-core libdlib-dev libdlib-data openmpi-bin libopenmpi-dev"
case $what in
check) pkgs="$pkgs bats bats-support bats-assert python3-msgpack python3-msgpack-numpy
             python3-numpy python3-pil python3-sklearn python3-skimage clang-14 libclang-rt-14-dev jq chromium
             parallel openssh-server openssh-client" ;;
demo) pkgs="$pkgs" ;;
# pipelines/score.sh over several machines: parallel here, ssh to the hosts (sshd on them)
hosts) pkgs="$pkgs parallel openssh-server openssh-client" ;;
bench) pkgs="$pkgs python3-torch libtcmalloc-minimal4 python3-pil python3-numpy python3-skimage
               python3-msgpack python3-msgpack-numpy jq time bc" ;;
esac
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "facet: installing missing Debian packages:$missing" >&2
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >&2
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >&2
