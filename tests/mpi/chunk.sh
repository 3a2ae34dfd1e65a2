#!/bin/sh
# Chunked collective messages (docs/PROTOCOL.md section 11, "Chunks"):
# honest jobs over ob1+tcp, ob1+vader and ucx at sizes around the
# threshold and the chunk edges, with a vector datatype, nonblocking
# collectives and two threads (MPI_THREAD_MULTIPLE); then an on-path
# attacker below MPI (tamper.c on ob1's TCP sockets) who swaps, drops or
# splices chunk frames: each is refused naming the peer, nothing wrong
# is delivered.
. "$top_srcdir/tests/mpi/lib.sh"
CHUNK="--mca pml_encshim_chunk_threshold 8192 --mca pml_encshim_chunk_bytes 4096"
for tr in tcp vader ucx; do
	for np in 2 3; do
		enc $(transport $tr 1) $CHUNK --mca pml_encshim_verbose 1 -np $np "$TB/chunk"
		expect_ok "chunked collectives over $tr, $np ranks" "chunk: ok"
		grep -q "auth failures 0, chunked sent [1-9]" "$T/out" ||
			fail "$tr: nothing was chunked"
	done
done
enc $(transport tcp 1) --mca pml_encshim_chunk_threshold 0 -np 2 "$TB/chunk"
expect_ok "chunking off (threshold 0)" "chunk: ok"
for tr in tcp vader ucx; do
	enc $(transport $tr 1) $CHUNK --mca coll basic,libnbc,self -np 2 "$TB/chunk" truncate
	expect_ok "chunked message into a short buffer: MPI_ERR_TRUNCATE, the next one arrives ($tr)" "chunk: ok"
done

# The attacks: 3 broadcasts of 3 chunks (frames of 4096 + 32 bytes), or
# of one chunk each (5000 bytes, chunk size 8192) for the splice.
COLL="--mca coll basic,libnbc,self"
for pml in $ATTACK_PMLS; do
	tamper_args $pml 46900
	enc_attack $ENC $TR $COLL $CHUNK $SWAP -x TAMPER_TAIL=0 -np 2 "$TB/chunk" attack 12288 3
	if grep -q "chunk: WRONG" "$T/out"; then fail "swap ($pml): wrong data delivered"; fi
	expect_refused_or_held "two chunks of a message swapped ($pml)" "$REFUSED: a chunk"
	enc_attack $ENC $TR $COLL $CHUNK $VANISH -np 2 "$TB/chunk" attack 12288 3
	if grep -q "chunk: WRONG" "$T/out"; then fail "vanish ($pml): wrong data delivered"; fi
	expect_refused_or_held "a chunk dropped whole ($pml)" "$REFUSED: a chunk"
	enc_attack $ENC $TR $COLL $CHUNK -x TAMPER_MODE=drop -x TAMPER_TAIL=4128 \
		-np 2 "$TB/chunk" attack 12288 3
	if grep -q "chunk: WRONG" "$T/out"; then fail "drop ($pml): wrong data delivered"; fi
	expect_refused_or_held "a chunk replaced by the next one ($pml)" "$REFUSED: a chunk"
	enc_attack $ENC $TR $COLL --mca pml_encshim_chunk_threshold 4096 \
		--mca pml_encshim_chunk_bytes 8192 -x TAMPER_MODE=drop -x TAMPER_TAIL=5032 \
		-np 2 "$TB/chunk" attack 5000 2
	if grep -q "chunk: WRONG" "$T/out"; then fail "splice ($pml): wrong data delivered"; fi
	expect_refused_or_held "a chunk of another message spliced in ($pml)" "$REFUSED: a chunk"
done
