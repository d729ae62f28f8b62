# Sourced by the benches that run bench/nn_speed.c against PyTorch (train_speed.sh,
# int8_ceiling.sh): nn_speed_setup NAME CONFIG checks what they need (the config, tcmalloc,
# Debian's PyTorch under /usr/bin/python3) and builds build/nn_speed against the tree's library;
# it sets bin (nn_speed), python and tcmalloc. $root must be the repository.
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
python=/usr/bin/python3

nn_speed_setup() {
	local name=$1 config=$2
	[ -f "$config" ] || { echo "$name: no config $config" >&2; exit 2; }
	[ -f "$tcmalloc" ] || { echo "$name: $tcmalloc missing (apt-get install libtcmalloc-minimal4)" >&2; exit 1; }
	$python -c 'import torch' 2>/dev/null || { echo "$name: PyTorch missing (apt-get install python3-torch)" >&2; exit 1; }
	make -s -C "$root" build/libfacet.a
	bin=$root/build/nn_speed
	# the engine alone: what the engine's unit tests link (Makefile, NN_UNITS)
	cc -O2 -march=native -fopenmp -I"$root/common" "$root/bench/nn_speed.c" \
		"$root/build/libfacet.a" $(pkg-config --libs msgpack) -ldnnl -lm -lpthread -o "$bin"
}
