#!/usr/bin/env bash
# face_template.sh DATA [WORK]: measure facet-detect's alignment template on UTKFace's training
# crops, and check it on the validation crops.
#
# 1. Every face of the training part (facet-split --seed 7 --ratios 80:10:10, as
#    pipelines/prepare.sh splits) goes through facet-detect --largest as a stream of its 200x200
#    crops; the mean of the landmarks found, in the crops' pixels, is the template. It is printed
#    in the form of common/face_template.inc (the file the tools are built with; copy it there).
#    The landmarks do not depend on the template (they are marked before the face is aligned),
#    so the measure does not depend on the template the tools were built with.
# 2. The validation crops go through facet-detect too; each aligned output is compared with the
#    crop it came from (bench/face_template.py roundtrip): how many pixels move, and by how much.
# WORK (default: a temporary folder) keeps the streams. Not run by CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export PATH="${FACET_BIN:-$here/../bin}:$PATH"
case ${1:-} in -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;; esac
[ $# -ge 1 ] || { echo "usage: $0 DATA [WORK]" >&2; exit 2; }
data=$1
work=${2:-$(mktemp -d)}
mkdir -p "$work"

part() { # part NAME: the crops of one part, 200x200, as a stream
	facet-decode -q "$data" | facet-label -q --max-reports 0 |
		facet-split -q --seed 7 --ratios 80:10:10 | facet-take -q "$1"
}
time (part train | facet-detect --largest - 2> "$work/train.log" > "$work/train.facet")
tail -1 "$work/train.log"
/usr/bin/python3 "$here/face_template.py" mean < "$work/train.facet" > "$work/face_template.inc"
echo "template: $work/face_template.inc"
part val > "$work/val.facet"
facet-detect --largest - < "$work/val.facet" 2> "$work/val.log" > "$work/val.detected"
tail -1 "$work/val.log"
/usr/bin/python3 "$here/face_template.py" roundtrip "$work/val.facet" "$work/val.detected" \
	"$here/../common/face_template.inc"
