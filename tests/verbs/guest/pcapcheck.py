#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Checks the guest's RoCEv2 captures (UDP 4791): a 'clear' capture must show
application plaintext, a 'sealed' one must not. Plaintext is a run of >= 32
identical payload bytes (the fill patterns of ibv_rc_pingpong and perftest)
or the program's ASCII marker.
Usage: pcapcheck.py RESULTS_DIR; RESULTS_DIR/checks.txt has one line a check:
  NAME clear|sealed [src=IP] [marker=STRING] [runs=no]
src= looks only at packets sent from IP; runs=no counts only the marker (for
jobs whose own headers, e.g. UCX's wire-up, hold long runs of zeros)."""
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
        opt = dict(x.split('=', 1) for x in w[2:])
        srcf = opt.get('src')
        marker = opt['marker'].encode() if 'marker' in opt else None
        runs = opt.get('runs', 'yes') != 'no'
        n = clear = marked = 0
        for src, p in packets(os.path.join(d, name + '.pcap')):
            if srcf and src != srcf:
                continue
            n += 1
            hit = bool(marker) and marker in p
            marked += hit
            if hit or (runs and longest_run(p[12:]) >= RUN):  # after the BTH
                clear += 1
        verdict = (clear > 0) if want == 'clear' else (clear == 0)
        msg = '%s %s capture%s: %d RoCEv2 packets, %d with plaintext' % (
            name, want, ' from ' + srcf if srcf else '', n, clear)
        if marker:
            msg += ' (%d with the marker %s)' % (marked, marker.decode())
        if n == 0 and want == 'clear':
            verdict = False
        print(('PASS ' if verdict else 'FAIL ') + msg)
        with open(os.path.join(d, 'summary.txt'), 'a') as s:
            s.write(('PASS ' if verdict else 'FAIL ') + msg + '\n')
        ok = ok and verdict
    return ok

if __name__ == '__main__':
    sys.exit(0 if main(sys.argv[1]) else 1)
