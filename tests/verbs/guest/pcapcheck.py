#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks the guest's RoCEv2 captures (UDP 4791): a 'clear' capture must show
application plaintext (a run of >= 32 identical payload bytes, e.g. the fill
pattern of ibv_rc_pingpong, or the marker), a 'sealed' one must not.
Usage: pcapcheck.py RESULTS_DIR (reads RESULTS_DIR/checks.txt)."""
import os, struct, sys

RUN = 32

def packets(path):
    with open(path, 'rb') as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = struct.unpack('<I', data[:4])[0]
    e = '<' if magic in (0xa1b2c3d4, 0xa1b23c4d) else '>'
    off = 24
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(e + 'IIII', data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(pkt) < 42 or pkt[12:14] != b'\x08\x00':
            continue
        ihl = (pkt[14] & 15) * 4
        if pkt[23] != 17:
            continue
        src = '.'.join(str(b) for b in pkt[26:30])
        udp = 14 + ihl
        if struct.unpack('>H', pkt[udp + 2:udp + 4])[0] != 4791:
            continue
        yield src, pkt[udp + 8:]

def longest_run(b):
    best = cur = 0
    prev = None
    for x in b:
        cur = cur + 1 if x == prev else 1
        prev = x
        if cur > best:
            best = cur
    return best

def main(d):
    ok = True
    path = os.path.join(d, 'checks.txt')
    if not os.path.exists(path):
        return True
    for line in open(path):
        w = line.split()
        if not w:
            continue
        name, want = w[0], w[1]
        srcf = w[2] if len(w) > 2 and w[2] != '-' else None
        marker = w[3].encode() if len(w) > 3 else None
        n = clear = 0
        for src, p in packets(os.path.join(d, name + '.pcap')):
            if srcf and src != srcf:
                continue
            n += 1
            body = p[12:]  # after the BTH
            if longest_run(body) >= RUN or (marker and marker in p):
                clear += 1
        verdict = (clear > 0) if want == 'clear' else (clear == 0)
        msg = '%s %s capture%s: %d RoCEv2 packets, %d with plaintext' % (
            name, want, ' from ' + srcf if srcf else '', n, clear)
        if n == 0 and want == 'clear':
            verdict = False
        print(('PASS ' if verdict else 'FAIL ') + msg)
        with open(os.path.join(d, 'summary.txt'), 'a') as s:
            s.write(('PASS ' if verdict else 'FAIL ') + msg + '\n')
        ok = ok and verdict
    return ok

if __name__ == '__main__':
    sys.exit(0 if main(sys.argv[1]) else 1)
