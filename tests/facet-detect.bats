#!/usr/bin/env bats
# facet-detect: photos -> one record per face found, cut out aligned like UTKFace's crops.
# The photos are Debian python3-skimage's samples (the astronaut, a cat, a cup of coffee, the
# cameraman), variants and scenes made from them here, and, where the UTKFace faces are at hand,
# scenes with two known faces pasted at known places (made in the test's folder, never kept).
# Each facet-detect run loads a 100 MB landmark model (about a second), so setup_file makes the
# photos and runs the tool once over most of them; the tests read those runs.
load helper

SK="${FACET_SKIMAGE_DATA:-/usr/lib/python3/dist-packages/skimage/data}"
FD() { $PY "$BATS_FILE_TMPDIR/fd.py" "$@"; }

# Skip unless skimage's sample photos and the Python modules that read the output are at hand.
need_skimage() {
	[ -f "$SK/astronaut.png" ] || skip "skimage's sample photos not found in $SK (Debian python3-skimage)"
	need_py msgpack msgpack_numpy numpy PIL
}

# Where the astronaut's face is in astronaut.png (512x512), looked at by eye: her skin spans
# x 180..275, y 70..190; her eyes are at about (201, 102) and (247, 103).
FACE_X0=190 FACE_X1=260 FACE_Y0=95 FACE_Y1=160

# on_face X0 Y0 X1 Y1 [SCALE [DX DY]]: is the box's centre on her face (the photo scaled by SCALE
# and shifted by DX, DY), its side 60..140 pixels (times SCALE)?
on_face() {
	awk -v x0="$1" -v y0="$2" -v x1="$3" -v y1="$4" -v s="${5:-1}" -v dx="${6:-0}" -v dy="${7:-0}" \
		-v fx0=$FACE_X0 -v fx1=$FACE_X1 -v fy0=$FACE_Y0 -v fy1=$FACE_Y1 'BEGIN {
		cx = (x0 + x1) / 2 / s - dx; cy = (y0 + y1) / 2 / s - dy; side = (x1 - x0) / s
		exit !(cx >= fx0 && cx <= fx1 && cy >= fy0 && cy <= fy1 && side >= 60 && side <= 140)
	}'
}

# face_of STREAM ID_PREFIX [SCALE [DX DY]]: the "ID X0 Y0 X1 Y1 SCORE" line of the record of that
# photo whose box is on her face (fails when there is none).
face_of() {
	local id x0 y0 x1 y1 score
	while read -r id x0 y0 x1 y1 score; do
		[[ "$id" == "$2#"* ]] || continue
		if on_face "$x0" "$y0" "$x1" "$y1" "${3:-1}" "${4:-0}" "${5:-0}"; then
			echo "$id $x0 $y0 $x1 $y1 $score"
			return 0
		fi
	done < <(FD faces "$1")
	echo "no face of $2 on her face in $1: $(FD faces "$1" | tr '\n' ';')" >&2
	return 1
}

# near A B TOL: |A - B| <= TOL
near() {
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'
}

setup_file() {
	cd "$BATS_FILE_TMPDIR"
	cat > fd.py <<-'EOF'
		"""Helpers for tests/facet-detect.bats (python3-msgpack, -msgpack-numpy, -numpy, -pil).

		  faces STREAM              "ID X0 Y0 X1 Y1 SCORE" per record
		  eyes STREAM INDEX         "X Y X Y": the means of landmarks 36..41 and 42..47
		  shapes STREAM             "ID HxWxC NxM": the image's and the landmarks' shapes
		  keys STREAM               "ID KEY,KEY,...", in the record's order
		  get STREAM INDEX KEY      a key's value
		  mad STREAM INDEX FILE [M] mean absolute difference between the record's image and an
		                            image file of its size, M pixels of border left out
		  madr A IA B IB            the same between two records' images, B's resized to A's side
		  scene OUT SEED [FACE CX CY SIDE DEG]...  a cluttered 640x480 photo with each FACE file
		                            pasted scaled to SIDE, centred on (CX, CY), turned DEG degrees
		                            clockwise (its turned square's corners show the clutter)
		  stream < STREAM           each record as {"source": "skimage", "id", "image", "n": its index}
		  photos SKIMAGE_DIR        the photos the tests read, in the current folder
		"""
		import io, struct, sys
		import msgpack, msgpack_numpy
		import numpy as np
		from PIL import Image, ImageDraw


		def records(path):
		    f = sys.stdin.buffer if path == "-" else open(path, "rb")
		    return list(msgpack.Unpacker(f, object_hook=msgpack_numpy.decode, raw=False))


		def scene(out, seed, faces):
		    rng = np.random.default_rng(seed)
		    w, h = 640, 480
		    y, x = np.mgrid[0:h, 0:w]
		    bg = np.stack([60 + 120 * x / w, 90 + 80 * y / h, 150 - 60 * x / w], -1)
		    im = Image.fromarray(bg.astype(np.uint8))
		    d = ImageDraw.Draw(im)
		    for _ in range(40):
		        x0, y0 = rng.uniform(-40, w), rng.uniform(-40, h)
		        box = [x0, y0, x0 + rng.uniform(10, 160), y0 + rng.uniform(10, 120)]
		        col = tuple(int(v) for v in rng.integers(0, 256, 3))
		        (d.rectangle if rng.integers(2) else d.ellipse)(box, fill=col)
		    for _ in range(25):
		        pts = [tuple(rng.uniform(0, [w, h])) for _ in range(2)]
		        d.line(pts, fill=tuple(int(v) for v in rng.integers(0, 256, 3)),
		               width=int(rng.integers(1, 5)))
		    a = np.asarray(im).astype(np.float32) + rng.normal(0, 6, (h, w, 3))
		    im = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)).convert("RGBA")
		    for i in range(0, len(faces), 5):
		        f, cx, cy, side, deg = faces[i], *map(float, faces[i + 1:i + 5])
		        f = Image.open(f).convert("RGBA").resize((int(side), int(side)), Image.LANCZOS)
		        f = f.rotate(-deg, resample=Image.BICUBIC, expand=True)
		        im.alpha_composite(f, (int(round(cx - f.width / 2)), int(round(cy - f.height / 2))))
		    im = im.convert("RGB")
		    im.save(out, quality=92) if out.endswith(".jpg") else im.save(out)


		def photos(sk):
		    astro = Image.open(sk + "/astronaut.png").convert("RGB")
		    astro.save("astro.jpg", quality=92)
		    # EXIF orientation: a 400x300 view (not square, so the two frames differ), stored
		    # turned so that a viewer shows it upright
		    view = astro.crop((40, 0, 440, 300))
		    view.save("view.jpg", quality=92)
		    for o, t in ((6, Image.ROTATE_90), (8, Image.ROTATE_270)):
		        e = Image.Exif()
		        e[0x0112] = o
		        view.transpose(t).save("exif%d.jpg" % o, quality=92, exif=e)
		    astro.save("webp.jpg", "WEBP", quality=90)
		    astro.convert("L").save("grey.png")
		    astro.convert("CMYK").save("cmyk.jpg", quality=92)
		    Image.fromarray(np.asarray(astro.convert("L")).astype(np.uint16) * 257).save("grey16.png")
		    a = np.asarray(astro.convert("RGBA")).copy()
		    a[:40, :40, 3] = 0
		    Image.fromarray(a).save("alpha.png")
		    Image.new("RGB", (1, 1), (200, 100, 50)).save("one.png")
		    astro.resize((256, 256), Image.LANCZOS).save("small.png")
		    astro.resize((2048, 2048), Image.BICUBIC).save("big.jpg", quality=92)
		    # turned about her face: 20 degrees anticlockwise, 45 clockwise
		    grey = (128, 128, 128)
		    astro.rotate(20, Image.BICUBIC, center=(222, 127), fillcolor=grey).save("tilt20.png")
		    astro.rotate(-45, Image.BICUBIC, center=(222, 127), fillcolor=grey).save("tilt45.png")
		    astro.crop((130, 30, 320, 220)).save("face.png")
		    # hostile files
		    b = open("astro.jpg", "rb").read()
		    open("truncated.jpg", "wb").write(b[:len(b) // 2])
		    c = bytearray(b)
		    for i in range(c.index(b"\xff\xda") + 20, len(c) - 2, 7):
		        c[i] = 0xFF
		    open("corrupt.jpg", "wb").write(c)
		    open("empty.jpg", "wb").write(b"")
		    h = bytearray(b)  # the frame header (SOF0: FF C0 len prec H W) claims 30000x30000
		    i = h.index(b"\xff\xc0")
		    h[i + 5:i + 9] = struct.pack(">HH", 30000, 30000)
		    open("huge.jpg", "wb").write(h)


		def main(a):
		    cmd = a[1]
		    if cmd == "faces":
		        for r in records(a[2]):
		            b = r["box"]
		            print("%s %.2f %.2f %.2f %.2f %.4f" % (r["id"], *b, r["score"]))
		    elif cmd == "eyes":
		        lm = records(a[2])[int(a[3])]["landmarks"]
		        print("%.2f %.2f %.2f %.2f" % (*lm[36:42].mean(0), *lm[42:48].mean(0)))
		    elif cmd == "shapes":
		        for r in records(a[2]):
		            print("%s %s %s" % (r["id"], "x".join(map(str, r["image"].shape)),
		                                "x".join(map(str, r["landmarks"].shape))))
		    elif cmd == "keys":
		        for r in records(a[2]):
		            print(r.get("id"), ",".join(r))
		    elif cmd == "get":
		        print(records(a[2])[int(a[3])][a[4]])
		    elif cmd == "mad":
		        x = records(a[2])[int(a[3])]["image"].astype(np.int32)
		        y = np.asarray(Image.open(a[4]).convert("RGB")).astype(np.int32)
		        m = int(a[5]) if len(a) > 5 else 0
		        d = np.abs(x - y)[m:x.shape[0] - m, m:x.shape[1] - m]
		        print("%.2f" % d.mean())
		    elif cmd == "madr":
		        x = records(a[2])[int(a[3])]["image"]
		        y = records(a[4])[int(a[5])]["image"]
		        y = np.asarray(Image.fromarray(y).resize(x.shape[1::-1], Image.BOX))
		        print("%.2f" % np.abs(x.astype(np.int32) - y.astype(np.int32)).mean())
		    elif cmd == "scene":
		        scene(a[2], int(a[3]), a[4:])
		    elif cmd == "stream":
		        out = sys.stdout.buffer
		        for n, r in enumerate(records("-")):
		            rec = {"source": "skimage", "id": r["id"], "image": r["image"], "n": n}
		            out.write(msgpack.packb(rec, default=msgpack_numpy.encode))
		    elif cmd == "photos":
		        photos(a[2])


		main(sys.argv)
	EOF
	$PY -c 'import msgpack, msgpack_numpy, numpy, PIL' 2> /dev/null || return 0
	local rc
	if [ -d "$FACET_DATA" ]; then
		# two known UTKFace faces, turned 10 degrees either way, in a cluttered photo
		UA=17_0_3_20170104225710543.jpg.chip.jpg
		UB=29_1_2_20170116164713504.jpg.chip.jpg
		if [ -f "$FACET_DATA/$UA" ] && [ -f "$FACET_DATA/$UB" ]; then
			cp "$FACET_DATA/$UA" ua.jpg
			cp "$FACET_DATA/$UB" ub.jpg
			FD scene SCENE.png 11 ua.jpg 190 250 240 10 ub.jpg 480 200 160 -10
			rc=0
			facet-detect SCENE.png ua.jpg ub.jpg > utk.facet 2> utk.err || rc=$?
			echo $rc > utk.rc
		fi
	fi

	[ -f "$SK/astronaut.png" ] || return 0
	FD photos "$SK"
	# her face twice, pasted 280 and 200 pixels wide (the face in it 128 and 92), turned 8
	# degrees either way; and twice at one size, upright
	FD scene pair.png 7 face.png 190 250 280 8 face.png 480 200 200 -8
	FD scene twin.png 5 face.png 170 240 200 0 face.png 470 240 200 0

	# the skimage photos as they are
	rc=0
	facet-detect "$SK"/astronaut.png "$SK"/chelsea.png "$SK"/coffee.png "$SK"/camera.png \
		> sk.facet 2> sk.err || rc=$?
	echo $rc > sk.rc
	# valid photos in other forms
	rc=0
	facet-detect view.jpg exif6.jpg exif8.jpg webp.jpg grey.png cmyk.jpg grey16.png alpha.png \
		one.png small.png big.jpg pair.png > var.facet 2> var.err || rc=$?
	echo $rc > var.rc
}

setup() {
	cd "$BATS_FILE_TMPDIR"
}

# ---------------------------------------------------------------- real photos

@test "astronaut.png: exactly one face, its box on her face, a [68, 2] landmarks and a 200x200 face" {
	need_skimage
	assert_equal "$(cat sk.rc)" 0
	run FD faces sk.facet
	assert_success
	local faces
	faces=$(grep -c '^astronaut\.png#' <<< "$output")
	[ "$faces" -eq 1 ] || fail "astronaut.png gave $faces faces: $output"
	read -r id x0 y0 x1 y1 score < <(grep '^astronaut\.png#' <<< "$output")
	assert_equal "$id" "astronaut.png#0"
	on_face "$x0" "$y0" "$x1" "$y1" || fail "box $x0 $y0 $x1 $y1 is not on her face"
	awk -v s="$score" 'BEGIN { exit !(s > 0) }' || fail "score $score"
	run FD shapes sk.facet
	assert_line "astronaut.png#0 200x200x3 68x2"
}

@test "astronaut.png: the eyes' landmarks are level, apart, and inside the box" {
	need_skimage
	read -r id x0 y0 x1 y1 score < <(FD faces sk.facet | grep '^astronaut\.png#0 ')
	read -r lx ly rx ry < <(FD eyes sk.facet 0)
	# the eye on the photo's left (36..41) is left of the other; both level within 5 pixels
	awk -v lx="$lx" -v ly="$ly" -v rx="$rx" -v ry="$ry" -v x0="$x0" -v y0="$y0" -v x1="$x1" \
		-v y1="$y1" 'BEGIN {
		d = ly - ry; if (d < 0) d = -d
		ok = d <= 5 && rx - lx >= 30 && rx - lx <= 70
		ok = ok && lx > x0 && rx < x1 && ly > y0 && ly < y1 && ry > y0 && ry < y1
		exit !ok
	}' || fail "eyes at ($lx, $ly) and ($rx, $ry), box $x0 $y0 $x1 $y1"
	# where they are in the photo, by eye: (201, 102) and (247, 103)
	near "$lx" 201 6 && near "$ly" 102 6 && near "$rx" 247 6 && near "$ry" 103 6 ||
		fail "eyes at ($lx, $ly) and ($rx, $ry)"
}

@test "chelsea.png (a cat) and coffee.png: no record, exit 0, a 'no face found' line naming each" {
	need_skimage
	assert_equal "$(cat sk.rc)" 0
	run FD faces sk.facet
	refute_output --partial "chelsea.png#"
	refute_output --partial "coffee.png#"
	run cat sk.err
	assert_line "facet-detect: no face found ($SK/chelsea.png)"
	assert_line "facet-detect: no face found ($SK/coffee.png)"
	# the summary counts them
	local faces faceless
	faces=$(FD faces sk.facet | wc -l)
	faceless=$(grep -c 'no face found' sk.err)
	local noun=faces
	[ "$faces" -eq 1 ] && noun=face
	assert_line "facet-detect: $faces $noun in 4 photos ($faceless without a face)"
}

@test "camera.png: the cameraman, in profile behind his camera, is no face or a face on his head" {
	need_skimage
	# his head spans x 150..270, y 60..210 of the 512x512 photo
	local id x0 y0 x1 y1 score n=0
	while read -r id x0 y0 x1 y1 score; do
		n=$((n + 1))
		awk -v x0="$x0" -v y0="$y0" -v x1="$x1" -v y1="$y1" 'BEGIN {
			cx = (x0 + x1) / 2; cy = (y0 + y1) / 2
			exit !(cx >= 150 && cx <= 270 && cy >= 60 && cy <= 210) }' ||
			fail "camera.png: a face at $x0 $y0 $x1 $y1, not on his head"
	done < <(FD faces sk.facet | grep '^camera\.png#')
	if [ "$n" -eq 0 ]; then
		grep -qxF "facet-detect: no face found ($SK/camera.png)" sk.err
	fi
}

# ---------------------------------------------------------------- made by facet itself

@test "facet-synth's drawn faces are no faces to dlib: no record, exit 0, one line per record" {
	facet-synth -q -n 3 -S 2 -s 200x200 > "$BATS_TEST_TMPDIR/synth.facet"
	facet-synth -q -n 1 -s 1x1 >> "$BATS_TEST_TMPDIR/synth.facet"
	run --separate-stderr facet-detect - < "$BATS_TEST_TMPDIR/synth.facet"
	assert_success
	assert_output ""
	assert_equal "$stderr" "facet-detect: no face found (stdin, record 1)
facet-detect: no face found (stdin, record 2)
facet-detect: no face found (stdin, record 3)
facet-detect: no face found (stdin, record 4)
facet-detect: 0 faces in 4 photos (4 without a face)"
}

# ---------------------------------------------------------------- faces placed in scenes

# in_order: the "id x0 y0 x1 y1 score" lines of one photo are numbered #0, #1, ... with the
# scores falling
in_order() {
	awk '{ split($1, a, "#"); if (a[2] != NR - 1) { print "index " a[2] " on line " NR; exit 1 }
	       if (NR > 1 && $6 > prev) { print "score " $6 " after " prev; exit 1 } prev = $6 }'
}

# line_at LINES CX CY: the line whose box centre lies nearest (CX, CY)
line_at() {
	awk -v cx="$2" -v cy="$3" '{ dx = ($2 + $4) / 2 - cx; dy = ($3 + $5) / 2 - cy; d = dx * dx + dy * dy
	       if (best == "" || d < bd) { best = $0; bd = d } } END { print best }' <<< "$1"
}

@test "two faces pasted in a scene, turned 8 degrees: both found where they were put, surest first" {
	need_skimage
	assert_equal "$(cat var.rc)" 0
	run FD faces var.facet
	local pair
	pair=$(grep '^pair\.png#' <<< "$output")
	[ "$(wc -l <<< "$pair")" -eq 2 ] || fail "pair.png: $pair"
	in_order <<< "$pair" || fail "pair.png's faces are not #0, #1 by falling score: $pair"
	# face.png is cut from x 130..320, y 30..220 of astronaut.png: pasted S pixels wide centred
	# on (CX, CY), a point (u, v) of astronaut.png lands at (CX, CY) + S/190 (u - 225, v - 125)
	read -r id x0 y0 x1 y1 score < <(line_at "$pair" 190 250)
	on_face "$x0" "$y0" "$x1" "$y1" "$(echo "280 / 190" | bc -l)" \
		"$(echo "190 * 190 / 280 - 225" | bc -l)" "$(echo "250 * 190 / 280 - 125" | bc -l)" ||
		fail "no face on the 280-pixel paste at (190, 250): $pair"
	read -r id x0 y0 x1 y1 score < <(line_at "$pair" 480 200)
	on_face "$x0" "$y0" "$x1" "$y1" "$(echo "200 / 190" | bc -l)" \
		"$(echo "480 * 190 / 200 - 225" | bc -l)" "$(echo "200 * 190 / 200 - 125" | bc -l)" ||
		fail "no face on the 200-pixel paste at (480, 200): $pair"
}

@test "--max-faces 1 keeps the surest face, --largest the widest box" {
	need_skimage
	cd "$BATS_TEST_TMPDIR"
	local all
	all=$(FD faces "$BATS_FILE_TMPDIR/var.facet" | grep '^pair\.png#')
	facet-detect -q --max-faces 1 "$BATS_FILE_TMPDIR/pair.png" > n1.facet
	run FD faces n1.facet
	assert_equal "${#lines[@]}" 1
	assert_equal "${lines[0]}" "$(grep '^pair\.png#0 ' <<< "$all")"
	facet-detect -q --largest "$BATS_FILE_TMPDIR/pair.png" > l.facet
	run FD faces l.facet
	assert_equal "${#lines[@]}" 1
	# the 280-pixel paste, whatever its score; renumbered #0
	read -r id x0 y0 x1 y1 score <<< "${lines[0]}"
	assert_equal "$id" "pair.png#0"
	assert_equal "$x0 $y0 $x1 $y1 $score" "$(line_at "$all" 190 250 | cut -d' ' -f2-)"
}

@test "faces come surest first, whatever their size" {
	need_skimage
	cd "$BATS_TEST_TMPDIR"
	# twin.png holds her face twice, 200 pixels wide, at x 170 and 470
	facet-detect -q --min-face 88 "$BATS_FILE_TMPDIR/twin.png" > twin.facet
	run FD faces twin.facet
	assert_equal "${#lines[@]}" 2
	printf '%s\n' "${lines[@]}" | in_order || fail "not surest first: ${lines[*]}"
	# and on every photo of the shared run
	FD faces "$BATS_FILE_TMPDIR/var.facet" | awk '{ split($1, a, "#"); print > (a[1] ".lines") }'
	for f in *.lines; do
		in_order < "$f" || fail "$f: not #0, #1, ... by falling score: $(cat "$f")"
	done
}

@test "--turn: a face turned 45 degrees is found only with the turned passes" {
	need_skimage
	cd "$BATS_TEST_TMPDIR"
	facet-detect -q "$BATS_FILE_TMPDIR/tilt45.png" > t45.facet
	facet-detect -q --turn 0 "$BATS_FILE_TMPDIR/tilt45.png" > t45_0.facet 2> t45_0.err
	face_of t45.facet tilt45.png > /dev/null
	run FD faces t45_0.facet
	assert_output ""
	grep -qxF "facet-detect: no face found ($BATS_FILE_TMPDIR/tilt45.png)" t45_0.err
	# turned 20 degrees, dlib finds it upright too; the turned passes only add: the score with
	# them is at least the upright one's
	facet-detect -q "$BATS_FILE_TMPDIR/tilt20.png" > t20.facet
	facet-detect -q --turn 0 "$BATS_FILE_TMPDIR/tilt20.png" > t20_0.facet
	read -r _ _ _ _ _ s < <(face_of t20.facet tilt20.png)
	read -r _ _ _ _ _ s0 < <(face_of t20_0.facet tilt20.png)
	awk -v s="$s" -v s0="$s0" 'BEGIN { exit !(s >= s0) }' || fail "score $s with turns, $s0 upright"
}

@test "--min-face larger than the face finds nothing; --threshold above its score finds nothing" {
	need_skimage
	# her face's box is 87 pixels wide
	run --separate-stderr facet-detect --min-face 160 "$SK/astronaut.png"
	assert_success
	assert_output ""
	assert_equal "${stderr_lines[0]}" "facet-detect: no face found ($SK/astronaut.png)"
	local score
	read -r _ _ _ _ _ score < <(FD faces sk.facet | grep '^astronaut\.png#0 ')
	run --separate-stderr facet-detect --threshold "$(echo "$score + 0.3" | bc -l)" "$SK/astronaut.png"
	assert_success
	assert_output ""
	assert_equal "${stderr_lines[0]}" "facet-detect: no face found ($SK/astronaut.png)"
}

@test "--upsample finds a face smaller than the smallest sought" {
	need_skimage
	# small.png is astronaut.png at half its side: her face is 44 pixels wide, under 80
	grep -qxF "facet-detect: no face found (small.png)" var.err
	facet-detect -q --upsample 1 small.png > "$BATS_TEST_TMPDIR/up.facet"
	face_of "$BATS_TEST_TMPDIR/up.facet" small.png 0.5 > /dev/null
}

@test "--jobs 1 and --jobs 2 give the same bytes; a folder gives its image files sorted" {
	need_skimage
	cd "$BATS_TEST_TMPDIR"
	mkdir photos
	cp "$BATS_FILE_TMPDIR"/{pair.png,twin.png,view.jpg,small.png} "$SK/chelsea.png" photos/
	echo "not a photo" > photos/notes.txt
	facet-detect -q --jobs 1 photos > j1.facet 2> j1.err
	facet-detect -q --jobs 2 photos > j2.facet 2> j2.err
	cmp j1.facet j2.facet
	cmp j1.err j2.err
	run FD faces j1.facet
	# by name: chelsea.png (none), pair.png (2), small.png (none), twin.png, view.jpg
	[[ "${lines[0]} ${lines[1]}" == "pair.png#0 "*" pair.png#1 "* ]] || fail "$output"
	[[ "${lines[-1]}" == "view.jpg#0 "* ]] || fail "$output"
	run cat j1.err
	assert_output "facet-detect: no face found (photos/chelsea.png)
facet-detect: no face found (photos/small.png)"
}

# ---------------------------------------------------------------- inputs

@test "'-': a stream of image records; ids ID#K, every other key kept in order, the same faces" {
	need_skimage
	cd "$BATS_TEST_TMPDIR"
	{
		facet-decode -q "$SK/astronaut.png" "$SK/chelsea.png"
		facet-decode -q --gray "$SK/astronaut.png"
	} | FD stream > in.facet
	run --separate-stderr facet-detect - < in.facet
	assert_success
	assert_equal "${stderr_lines[0]}" "facet-detect: no face found (stdin, record 2)"
	facet-detect -q - < in.facet > out.facet 2> /dev/null
	run FD keys out.facet
	assert_output "astronaut.png#0 source,id,image,n,box,score,landmarks
astronaut.png#0 source,id,image,n,box,score,landmarks"
	assert_equal "$(FD get out.facet 0 source) $(FD get out.facet 0 n) $(FD get out.facet 1 n)" "skimage 0 2"
	# the photo decoded by facet-decode gives the face the file gives, to the bit
	assert_equal "$(FD faces out.facet | sed -n 1p)" "$(FD faces "$BATS_FILE_TMPDIR/sk.facet" | grep '^astronaut\.png#0 ')"
	# a grey record gives a grey face
	run FD shapes out.facet
	assert_output "astronaut.png#0 200x200x3 68x2
astronaut.png#0 200x200x1 68x2"
}

@test "a WebP named .jpg is read by its content" {
	need_skimage
	face_of var.facet webp.jpg > /dev/null
}

@test "EXIF Orientation 6 and 8: boxes and landmarks in the photo as shown, the same face" {
	need_skimage
	# view.jpg is the 400x300 view shown upright; exif6.jpg and exif8.jpg store it turned
	local v e
	v=$(face_of var.facet view.jpg 1 -40 0) || fail "view.jpg"
	for e in exif6 exif8; do
		read -r id x0 y0 x1 y1 score < <(face_of var.facet $e.jpg 1 -40 0) || fail "$e.jpg"
		read -r _ vx0 vy0 vx1 vy1 _ <<< "$v"
		near "$x0" "$vx0" 3 && near "$y0" "$vy0" 3 && near "$x1" "$vx1" 3 && near "$y1" "$vy1" 3 ||
			fail "$e.jpg: box $x0 $y0 $x1 $y1, view.jpg's $vx0 $vy0 $vx1 $vy1"
	done
	# the aligned faces agree (JPEG noise apart)
	local iv i6 i8
	iv=$(FD faces var.facet | grep -n '^view\.jpg#' | head -1 | cut -d: -f1)
	i6=$(FD faces var.facet | grep -n '^exif6\.jpg#' | head -1 | cut -d: -f1)
	i8=$(FD faces var.facet | grep -n '^exif8\.jpg#' | head -1 | cut -d: -f1)
	for i in $i6 $i8; do
		run FD madr var.facet $((iv - 1)) var.facet $((i - 1))
		awk -v m="$output" 'BEGIN { exit !(m < 5) }' || fail "aligned faces differ by $output"
	done
}

@test "grey PNG, CMYK JPEG, 16-bit PNG, PNG with alpha: valid photos, her face found in each" {
	need_skimage
	assert_equal "$(cat var.rc)" 0
	local f
	for f in grey.png cmyk.jpg grey16.png alpha.png; do
		face_of var.facet $f > /dev/null || fail "$f"
	done
	run FD shapes var.facet
	for f in grey.png cmyk.jpg grey16.png alpha.png; do
		assert_line --regexp "^$f#[0-9] 200x200x3 68x2$"
	done
	# a 1x1 photo is no error either
	grep -qxF "facet-detect: no face found (one.png)" var.err
}

@test "a 2048x2048 photo is scanned shrunk and cut finer: the box scales, the face is the same" {
	need_skimage
	# big.jpg is astronaut.png four times larger: scanned from a decode at 5/8 (the smallest
	# face sought 2048 / 16 = 128 pixels wide, scanned at 80), cut from one at which the smallest
	# face found still has a pixel for each of the crop's
	local big small ib is
	big=$(face_of var.facet big.jpg 4) || fail "big.jpg"
	small=$(FD faces sk.facet | grep '^astronaut\.png#0 ')
	read -r _ x0 y0 x1 y1 _ <<< "$big"
	read -r _ sx0 sy0 sx1 sy1 _ <<< "$small"
	for c in "$x0 $sx0" "$y0 $sy0" "$x1 $sx1" "$y1 $sy1"; do
		set -- $c
		near "$1" "$(echo "4 * $2" | bc -l)" 16 || fail "box $x0 $y0 $x1 $y1 against 4 x ($sx0 $sy0 $sx1 $sy1)"
	done
	ib=$(FD faces var.facet | grep -n "^${big%% *} " | cut -d: -f1)
	is=$(FD faces sk.facet | grep -n '^astronaut\.png#0 ' | cut -d: -f1)
	run FD madr sk.facet $((is - 1)) var.facet $((ib - 1))
	awk -v m="$output" 'BEGIN { exit !(m < 5) }' || fail "the aligned faces differ by $output"
}

# ---------------------------------------------------------------- bad photos

@test "hostile photos: each named with its reason, exit 1, the good photo still comes out" {
	need_skimage
	local cap="ulimit -v 1500000;"
	# AddressSanitizer reserves terabytes of address space: no cap there
	sanitized && cap=""
	run --separate-stderr bash -c "$cap"' timeout 60 facet-detect -j 2 truncated.jpg corrupt.jpg \
		empty.jpg huge.jpg "$REPO/tests/hostile/image-png-100000x100000.png" missing.jpg \
		"$0" > "$1"' "$SK/astronaut.png" "$BATS_TEST_TMPDIR/bad.facet"
	assert_equal "$status" 1
	assert_equal "${stderr_lines[0]}" "facet-detect: Premature end of JPEG file (truncated.jpg)"
	[[ "${stderr_lines[1]}" == "facet-detect: Corrupt JPEG data"*" (corrupt.jpg)" ]] || fail "${stderr_lines[1]}"
	assert_equal "${stderr_lines[2]}" "facet-detect: empty file (empty.jpg)"
	assert_equal "${stderr_lines[3]}" "facet-detect: image too large: 30000x30000 pixels, over the limit of 100000000 (huge.jpg)"
	assert_equal "${stderr_lines[4]}" "facet-detect: image too large: 100000x100000 pixels, over the limit of 100000000 ($REPO/tests/hostile/image-png-100000x100000.png)"
	assert_equal "${stderr_lines[5]}" "facet-detect: No such file or directory (missing.jpg)"
	assert_equal "${stderr_lines[6]}" "facet-detect: 6 of 7 photos could not be read; 1 faces in the others"
	assert_equal "${#stderr_lines[@]}" 7
	# astronaut.png, named last, still comes out, as it does alone
	assert_equal "$(FD faces "$BATS_TEST_TMPDIR/bad.facet")" "$(FD faces sk.facet | grep '^astronaut\.png#')"
}

@test "under a 700 MB memory limit the landmarks still come out, on two threads (no BLAS buffers)" {
	need_skimage
	# AddressSanitizer reserves terabytes of address space: no limit can be set there
	sanitized && skip "no address-space limit under AddressSanitizer"
	# dlib's 3x3 products went to OpenBLAS, which mallocs 128 MB in each calling thread and
	# retries forever when that fails: this hung until the timeout
	run --separate-stderr bash -c 'ulimit -v 700000; timeout 60 facet-detect -j 2 "$0" "$0" > "$1"' \
		"$SK/astronaut.png" "$BATS_TEST_TMPDIR/lim.facet"
	assert_equal "$status" 0
	assert_equal "$stderr" "facet-detect: 2 faces in 2 photos (0 without a face)"
	assert_equal "$(FD faces "$BATS_TEST_TMPDIR/lim.facet" | head -1)" "$(FD faces sk.facet | grep '^astronaut\.png#')"
}

@test "--max-pixels refuses a photo from its header and a stream record's image" {
	need_skimage
	run --separate-stderr bash -c 'facet-decode -q "$0" | facet-detect --max-pixels 100000 "$0" -' "$SK/astronaut.png"
	assert_equal "$status" 1
	assert_output ""
	assert_equal "${stderr_lines[0]}" "facet-detect: image too large: 512x512 pixels, over the limit of 100000 ($SK/astronaut.png)"
	assert_equal "${stderr_lines[1]}" "facet-detect: image too large: 512x512 pixels, over the limit of 100000 (stdin, record 1)"
}

@test "a landmark model that cannot be loaded: exit 1, the file named, nothing on stdout" {
	facet-synth -q -n 1 -s 64x64 > "$BATS_TEST_TMPDIR/one.facet"
	run --separate-stderr facet-detect --landmarks /nonexistent - < "$BATS_TEST_TMPDIR/one.facet"
	assert_equal "$status" 1
	assert_output ""
	[[ "$stderr" == "facet-detect: cannot load the landmark model /nonexistent: "* ]] || fail "$stderr"
	assert_equal "${#stderr_lines[@]}" 1
	run --separate-stderr env FACET_LANDMARK_MODEL=/nonexistent facet-detect - < "$BATS_TEST_TMPDIR/one.facet"
	assert_equal "$status" 1
	assert_output ""
	[[ "$stderr" == "facet-detect: cannot load the landmark model /nonexistent: "* ]] || fail "$stderr"
	# a file that is not a model
	run --separate-stderr facet-detect --landmarks "$BATS_TEST_TMPDIR/one.facet" - < "$BATS_TEST_TMPDIR/one.facet"
	assert_equal "$status" 1
	assert_output ""
	[[ "$stderr" == "facet-detect: cannot load the landmark model $BATS_TEST_TMPDIR/one.facet"* ]] || fail "$stderr"
}

# ---------------------------------------------------------------- options and output

@test "--size 64 and 64x64: [64, 64, 3], the same bytes, the 200x200 face scaled; 64x32 is a usage error" {
	need_skimage
	cd "$BATS_TEST_TMPDIR"
	facet-detect -q --size 64 "$SK/astronaut.png" > s64.facet
	facet-detect -q --size 64x64 "$SK/astronaut.png" > s64x64.facet
	cmp s64.facet s64x64.facet
	run FD shapes s64.facet
	assert_output "astronaut.png#0 64x64x3 68x2"
	run FD madr s64.facet 0 "$BATS_FILE_TMPDIR/sk.facet" 0
	awk -v m="$output" 'BEGIN { exit !(m < 6) }' || fail "64x64 against the 200x200 face scaled: $output"
	run --separate-stderr facet-detect --size 64x32 "$SK/astronaut.png"
	assert_equal "$status" 2
	assert_output ""
	assert_equal "${stderr_lines[0]}" "facet-detect: --size takes a square size (the face is cut square), not '64x32'"
}

@test "bad option values exit 2 with a one-line hint and nothing on stdout" {
	local a
	for a in "--size 7" "--size 4097" "--size abc" "--min-face 0" "--min-face x" "--upsample 4" \
		"--max-faces 0" "--turn 46" "--turn -1" "--threshold x" "--threshold 11" "--max-pixels 0" \
		"--max-pixels 12x" "--jobs 0" "- -"; do
		run --separate-stderr facet-detect $a < /dev/null
		[ "$status" -eq 2 ] || fail "'$a' exited $status"
		[ -z "$output" ] || fail "'$a' wrote to stdout"
		[ "${#stderr_lines[@]}" -eq 2 ] || fail "'$a': $stderr"
		[[ "${stderr_lines[0]}" == "facet-detect: "* ]] || fail "'$a': $stderr"
		assert_equal "${stderr_lines[1]}" "Try 'facet-detect --help' for more information."
	done
}

@test "> /dev/full fails with exit 1; | head -c 1 ends quietly" {
	need_skimage
	run --separate-stderr bash -c 'facet-detect -q "$0" > /dev/full' "$SK/astronaut.png"
	assert_equal "$status" 1
	[[ "${stderr_lines[0]}" == "facet-detect: write error"*"No space left on device" ]] || fail "$stderr"
	# three faces of 120 KB each: more than a pipe holds
	run --separate-stderr bash -c 'facet-detect "$0" "$0" "$0" | head -c 1 | wc -c; echo "${PIPESTATUS[0]}"' "$SK/astronaut.png"
	assert_output "1
141"
	[ -z "$stderr" ]
}

@test "--help on stdout, exit 0; --version" {
	run --separate-stderr facet-detect --help
	assert_success
	[[ "$output" == "Usage: facet-detect "* ]]
	[ -z "$stderr" ]
	run --separate-stderr facet-detect --version
	assert_success
	[[ "$output" == "facet-detect (facet) "* ]]
}

# ---------------------------------------------------------------- with the other tools

@test "facet-detect | facet-score: her face scores as a woman's with the shipped model" {
	need_skimage
	[ -f "$REPO/models/facet-utk64.facet" ] || skip "no shipped model in models/"
	facet-score -q --model "$REPO/models/facet-utk64.facet" < sk.facet > "$BATS_TEST_TMPDIR/scored.facet"
	run FD get "$BATS_TEST_TMPDIR/scored.facet" 0 pred
	assert_success
	$PY -c '
import sys, ast
p = ast.literal_eval(sys.argv[1])
assert 20 <= p["age"] <= 60, p
assert p["gender"][1] > 0.5, p
' "$output" || fail "pred: $output"
}

@test "facet-label labels a face of a photo named like UTKFace (NAME#K takes NAME's labels)" {
	need_skimage
	cd "$BATS_TEST_TMPDIR"
	cp "$BATS_FILE_TMPDIR/astro.jpg" 45_1_0_20170109150557335.jpg.chip.jpg
	facet-detect -q 45_1_0_20170109150557335.jpg.chip.jpg | facet-label -q > labelled.facet
	run FD keys labelled.facet
	assert_line --index 0 "45_1_0_20170109150557335.jpg.chip.jpg#0 id,box,score,landmarks,image,age,gender,ethnicity"
	local i
	for ((i = 0; i < ${#lines[@]}; i++)); do
		assert_equal "$(FD get labelled.facet $i age) $(FD get labelled.facet $i gender) $(FD get labelled.facet $i ethnicity)" "45 1 0"
	done
}

# ---------------------------------------------------------------- UTKFace faces (../shared)

@test "UTKFace scene: two known faces turned 10 degrees, found around their places, surest first" {
	need_data
	need_py msgpack msgpack_numpy numpy PIL
	[ -f utk.rc ] || skip "the two UTKFace faces this test pastes are not in $FACET_DATA"
	assert_equal "$(cat utk.rc)" 0
	run FD faces utk.facet
	local scene
	scene=$(grep '^SCENE\.png#' <<< "$output")
	[ "$(wc -l <<< "$scene")" -eq 2 ] || fail "SCENE.png: $scene"
	# a UTKFace crop's box covers most of it: pasted at side S, the box is 0.75 S to 1.05 S
	# wide and its centre within S/8 of where the crop's centre went
	in_order <<< "$scene" || fail "SCENE.png's faces are not #0, #1 by falling score: $scene"
	local want=("190 250 240" "480 200 160") i
	for i in 0 1; do
		read -r cx cy s <<< "${want[$i]}"
		read -r id x0 y0 x1 y1 score < <(line_at "$scene" "$cx" "$cy")
		awk -v x0="$x0" -v y0="$y0" -v x1="$x1" -v y1="$y1" -v cx="$cx" -v cy="$cy" -v s="$s" 'BEGIN {
			dx = (x0 + x1) / 2 - cx; dy = (y0 + y1) / 2 - cy; w = x1 - x0
			exit !(dx * dx + dy * dy <= (s / 8) ^ 2 && w >= 0.75 * s && w <= 1.05 * s)
		}' || fail "$id: box $x0 $y0 $x1 $y1, pasted at ($cx, $cy) side $s"
	done
}

@test "UTKFace: a crop through facet-detect comes back close to itself, and from the scene too" {
	need_data
	need_py msgpack msgpack_numpy numpy PIL
	[ -f utk.rc ] || skip "the two UTKFace faces this test pastes are not in $FACET_DATA"
	local i n
	run FD faces utk.facet
	# records: SCENE.png#0 (ua), SCENE.png#1 (ub), ua.jpg#0, ub.jpg#0
	assert_equal "$(cut -d' ' -f1 <<< "$output" | tr '\n' ' ')" "SCENE.png#0 SCENE.png#1 ua.jpg#0 ub.jpg#0 "
	# the crop itself: measured 9.0 (ua) and 7.6 (ub) grey levels; an 8-pixel shift gives 30
	for i in "2 ua.jpg" "3 ub.jpg"; do
		set -- $i
		run FD mad utk.facet "$1" "$2"
		awk -v m="$output" 'BEGIN { exit !(m < 14) }' || fail "$2 came back $output grey levels away"
	done
	# cut from the scene, turned and scaled: measured 9.5 and 5.9 inside a 20-pixel border
	for i in "0 ua.jpg" "1 ub.jpg"; do
		set -- $i
		run FD mad utk.facet "$1" "$2" 20
		awk -v m="$output" 'BEGIN { exit !(m < 15) }' || fail "$2 from the scene is $output grey levels away"
	done
}
