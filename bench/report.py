#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/report.py: turns the samples of bench/run into a table, a CSV and a
gnuplot script. Standard library only (runs under any python3).

Also the single source of the crypto floor model (floor_plan): the messages
Open MPI 4.1's tuned collectives send between 2 ranks, per operation and
size, as verified with the pml monitoring component (bench/README.md).

  report.py --out DIR --configs "cfg ..." [--meta TEXT] [--bucket BYTES]
            [--baseline TEXT]
  report.py --floor-sizes --sizes LIST --model BYTES --bucket BYTES
"""
import argparse
import csv
import math
import os
import sys
from collections import defaultdict

OP_ORDER = ["allreduce", "pingpong", "bw", "allgather", "reduce_scatter",
            "bcast", "train", "train_nb"]
OP_TITLE = {
    "allreduce": "MPI_Allreduce, MPI_FLOAT SUM (bytes = buffer)",
    "pingpong": "ping-pong (time = half round trip)",
    "bw": "streaming bandwidth, rank 0 -> rank 1: windows of MPI_Isend + ack, as osu_bw "
          "(GB/s = bytes / time per message; x plain, x wg = GB/s over theirs)",
    "allgather": "MPI_Allgather (bytes = each rank's contribution)",
    "reduce_scatter": "MPI_Reduce_scatter_block, MPI_FLOAT SUM (bytes = input vector)",
    "bcast": "MPI_Bcast from rank 0",
    "train": "training step: model's gradients allreduced in buckets (blocking)",
    "train_nb": "training step: buckets with MPI_Iallreduce + MPI_Waitall",
}
# Open MPI 4.1.4 coll tuned, 2 ranks: recursive doubling below this size,
# ring (reduce-scatter + allgather, two messages of N/2) from it on.
ALLREDUCE_RING_FROM = 4096
# the AES-256-GCM backends of encshim: configuration suffix = ENCSHIM_BACKEND
BACKENDS = ("ipsecmb", "openssl", "sodium")


def parse_size(s):
    s = s.strip()
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    t = s.rstrip("Bb").rstrip("i")
    if t and t[-1].upper() in mult:
        return int(t[:-1]) * mult[t[-1].upper()]
    return int(t)


def floor_plan(op, nbytes, bucket):
    """Messages on the critical path of one operation between 2 ranks, as
    [(message bytes, how many)]; each is sealed by its sender and then
    opened by its receiver, one after the other (no overlap). bw is a
    stream: floor_us takes the slower of seal and open per message."""
    if op == "allreduce":
        if nbytes < ALLREDUCE_RING_FROM:
            return [(nbytes, 1)]           # recursive doubling: swap N
        half = nbytes // 2
        return [(half, 1), (nbytes - half, 1)]  # ring: N/2 twice
    if op in ("allgather", "pingpong", "bcast", "bw"):
        return [(nbytes, 1)]
    if op == "reduce_scatter":
        # reduce to rank 0 (N), then scatter rank 1's half (N/2)
        return [(nbytes, 1), (nbytes // 2, 1)]
    if op in ("train", "train_nb"):
        plan = []
        full, rest = divmod(nbytes, bucket)
        for _ in range(full):
            plan += floor_plan("allreduce", bucket, bucket)
        if rest:
            plan += floor_plan("allreduce", rest, bucket)
        return plan
    return []


def human(n):
    for unit, sh in (("G", 30), ("M", 20), ("K", 10)):
        if n >= 1 << sh and n % (1 << sh) == 0:
            return "%d%s" % (n >> sh, unit)
    return str(n)


def fmt_us(v):
    if v is None:
        return "-"
    if v >= 100000:
        return "%.0f" % v
    if v >= 100:
        return "%.1f" % v
    return "%.2f" % v


def fmt_gbps(v):
    """GB/s in at most 7 characters, 4 decimals below 0.1 (8 B messages
    move a few MB/s)."""
    if v is None:
        return ""
    for lim, f in ((100, "%.1f"), (1, "%.2f"), (0.1, "%.3f")):
        if v >= lim:
            return f % v
    return "%.4f" % v


def median(v):
    v = sorted(v)
    n = len(v)
    if not n:
        return None
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def pct(v, p):
    v = sorted(v)
    k = max(0, min(len(v) - 1, int(math.ceil(p / 100.0 * len(v))) - 1))
    return v[k]


def cfg_split(cfg):
    """tcp-openssl -> (tcp, openssl, False); tcp-openssl-base (the same
    job with the --baseline build's plugin) -> (tcp, openssl, True)."""
    tr, _, cr = cfg.partition("-")
    base = cr.endswith("-base")
    return tr, cr[:-len("-base")] if base else cr, base


def before_after(rows, ops):
    """For each (transport, op, size) with a plaintext row and encrypted
    rows of both builds: the fastest of each build (the encrypted row with
    the lowest median) and current median / baseline median."""
    best = {}
    for r in rows:
        if r["cr"] not in BACKENDS or not r["plain"]:
            continue
        k = (r["tr"], r["op"], r["nb"], r["base"])
        if k not in best or r["med"] < best[k]["med"]:
            best[k] = r
    trs = []
    for r in rows:  # transports in the order the table lists them
        if r["tr"] not in trs:
            trs.append(r["tr"])
    out = []
    for tr in trs:
        for op in ops:
            for nb in sorted({k[2] for k in best if k[0] == tr and k[1] == op}):
                cur, base = best.get((tr, op, nb, False)), best.get((tr, op, nb, True))
                if cur and base:
                    out.append(dict(tr=tr, op=op, nb=nb, cur=cur, base=base,
                                    ratio=cur["med"] / base["med"]))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out")
    ap.add_argument("--configs", default="")
    ap.add_argument("--meta", default="")
    ap.add_argument("--bucket", default="25M")
    ap.add_argument("--command", default="bench/run")
    ap.add_argument("--baseline", default="", help="the baseline build, described")
    ap.add_argument("--floor-sizes", action="store_true")
    ap.add_argument("--sizes", default="", help="allreduce sizes")
    ap.add_argument("--other-sizes", default="", help="sizes of the other ops")
    ap.add_argument("--model", default="100M")
    a = ap.parse_args()
    bucket = parse_size(a.bucket)

    if a.floor_sizes:
        need = {16384, 65536}
        for sizes, ops in ((a.sizes, ["allreduce"]),
                           (a.other_sizes, ["pingpong", "bw", "allgather", "reduce_scatter", "bcast"])):
            for s in filter(None, sizes.split(",")):
                for op in ops:
                    for m, _ in floor_plan(op, parse_size(s), bucket):
                        need.add(m)
        for m, _ in floor_plan("train", parse_size(a.model), bucket):
            need.add(m)
        print(",".join(str(m) for m in sorted(need) if m > 0))
        return 0

    out = a.out
    configs = a.configs.split()
    avail = {}
    with open(os.path.join(out, "configs.csv")) as f:
        for row in csv.reader(f):
            if len(row) >= 2:
                avail[row[0]] = ",".join(row[1:])

    # pooled samples
    samples = defaultdict(list)
    with open(os.path.join(out, "raw.csv")) as f:
        for row in csv.reader(f):
            if len(row) != 5:
                continue
            label, op, nb, _, sec = row
            samples[(label, op, int(nb))].append(float(sec) * 1e6)
    # correctness per (label, op, bytes) over all rounds
    checks = defaultdict(set)
    nprocs = {}
    with open(os.path.join(out, "runs.csv")) as f:
        for row in csv.reader(f):
            if len(row) < 12 or row[0] == "label":
                continue
            checks[(row[0], row[1], int(row[2]))].add(row[11])
            nprocs[(row[0], row[1], int(row[2]))] = int(row[3])
    # aead per-message medians over rounds: (impl, op, bytes) -> ns
    aead_rounds = defaultdict(list)
    pratio_rounds = defaultdict(list)  # (impl, bytes) -> [(seal, open, sealopen)]
    aead_path = os.path.join(out, "aead.csv")
    if os.path.exists(aead_path):
        with open(aead_path) as f:
            for line in f:
                t = line.split(",", 1)[-1].split()
                if len(t) == 7 and t[0] == "#" and t[1] == "pratio":
                    pratio_rounds[(t[2], int(t[3]))].append(tuple(float(x) for x in t[4:7]))
        with open(aead_path) as f:
            for row in csv.reader(f):
                if len(row) < 8 or row[1].startswith("#") or row[1] == "impl":
                    continue
                try:
                    aead_rounds[(row[1], row[3], int(row[4]))].append(float(row[6]))
                except ValueError:
                    continue
    aead = {k: median(v) for k, v in aead_rounds.items()}
    # paired ratios (bare/core of the same rep), median over reps, then rounds
    pratio = {k: tuple(median([x[i] for x in v]) for i in range(3))
              for k, v in pratio_rounds.items()}

    def aead_ns(impl, op, nb):
        if nb <= 0:
            return 0.0
        v = aead.get((impl, op, nb))
        if v is not None:
            return v
        # nearest measured size of that impl, scaled per byte above it
        sizes = sorted(s for (i, o, s) in aead if i == impl and o == op)
        if not sizes:
            return None
        below = [s for s in sizes if s <= nb]
        s = below[-1] if below else sizes[0]
        return aead[(impl, op, s)] * (nb / s if nb > s else 1.0)

    def floor_one(backend, op, nb):
        tot = 0.0
        for m, cnt in floor_plan(op, nb, bucket):
            se = aead_ns("bare-" + backend, "seal", m)
            op_ = aead_ns("bare-" + backend, "open", m)
            if se is None or op_ is None:
                return None
            # a stream overlaps the sender's seal with the receiver's open
            tot += cnt * (max(se, op_) if op == "bw" else se + op_)
        return tot / 1000.0

    def floor_us(op, nb):
        """The floor with the fastest backend measured in this run (the
        least crypto work this machine can do): (us, backend)."""
        best = (None, None)
        for be in BACKENDS:
            f = floor_one(be, op, nb)
            if f is not None and (best[0] is None or f < best[0]):
                best = (f, be)
        return best

    stats = {}
    for (label, op, nb), v in samples.items():
        if label == "probe":
            continue
        stats[(label, op, nb)] = dict(
            n=len(v), med=median(v), p10=pct(v, 10), p90=pct(v, 90),
            min=min(v), max=max(v))

    run_cfgs = [c for c in configs if avail.get(c) == "ok"]
    ops = [o for o in OP_ORDER if any(k[1] == o for k in stats)]
    rows = []
    for op in ops:
        sizes = sorted({k[2] for k in stats if k[1] == op})
        for nb in sizes:
            for cfg in run_cfgs:
                st = stats.get((cfg, op, nb))
                if not st:
                    continue
                tr, cr, base = cfg_split(cfg)
                plain = stats.get((tr + "-plain", op, nb))
                # the faster WireGuard variant (busy-polling or yielding ranks)
                wgs = [stats.get((w, op, nb)) for w in ("netns-wg", "netns-wg-yield")]
                wgs = [w for w in wgs if w]
                wg = min(wgs, key=lambda w: w["med"]) if wgs and tr == "netns" else None
                r = dict(cfg=cfg, tr=tr, cr=cr, base=base, op=op, nb=nb, **st)
                ck = checks.get((cfg, op, nb), set())
                r["check"] = "ok" if ck == {"ok"} else ("FAIL" if ck else "?")
                r["plain"] = plain["med"] if plain else None
                r["xplain"] = st["med"] / plain["med"] if plain and cr != "plain" else None
                r["floor"], r["floor_be"] = floor_us(op, nb) if cr in BACKENDS else (None, None)
                r["excess"] = ((st["med"] - plain["med"]) / r["floor"]
                               if r["floor"] and plain else None)
                r["vswg"] = st["med"] / wg["med"] if wg and cr in BACKENDS else None
                # GB/s = bytes / median; nccl-tests' algbw and busbw for allreduce
                r["gbps"] = nb / st["med"] / 1e3 if st["med"] else None
                n = nprocs.get((cfg, op, nb), 2)
                r["algbw"] = r["gbps"] if op == "allreduce" else None
                r["busbw"] = (r["algbw"] * 2 * (n - 1) / n
                              if r["algbw"] is not None else None)
                if cr.startswith("wg-"):
                    r["xplain"] = st["med"] / plain["med"] if plain else None
                r["spread"] = (st["p90"] - st["p10"]) / st["med"] if st["med"] else None
                rows.append(r)

    # ---------------------------------------------------------- CSV
    with open(os.path.join(out, "results.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["config", "transport", "crypto", "op", "bytes", "samples",
                    "median_us", "p10_us", "p90_us", "min_us", "max_us",
                    "spread", "check", "plain_median_us", "x_plain",
                    "floor_us", "excess_over_floor", "x_wireguard",
                    "floor_backend", "gbps", "algbw_gbps", "busbw_gbps",
                    "build"])

        def g(v, f="%.4g"):
            return "" if v is None else f % v
        for r in rows:
            w.writerow([r["cfg"], r["tr"], r["cr"], r["op"], r["nb"], r["n"],
                        g(r["med"], "%.3f"), g(r["p10"], "%.3f"),
                        g(r["p90"], "%.3f"), g(r["min"], "%.3f"),
                        g(r["max"], "%.3f"), g(r["spread"], "%.3f"),
                        r["check"], g(r["plain"], "%.3f"), g(r["xplain"]),
                        g(r["floor"], "%.3f"), g(r["excess"]), g(r["vswg"]),
                        r["floor_be"] or "", g(r["gbps"]), g(r["algbw"]),
                        g(r["busbw"]), "baseline" if r["base"] else "current"])

    # ---------------------------------------------------------- text table
    L = []
    cw = str(max([14] + [len(c) for c in configs]))  # the config column's width
    L.append("encshim benchmark: %s" % a.meta)
    L.append("command: %s" % a.command)
    if a.baseline:
        L.append("baseline (*-base rows): %s" % a.baseline)
    L.append("configurations:")
    for c in configs:
        L.append("  %-*s %s" % (int(cw), c, "measured" if avail.get(c) == "ok"
                                  else "UNAVAILABLE: " + avail.get(c, "not run")))
    L.append("")
    # AEAD
    if aead:
        L.append("AEAD, one core, per message; GB/s of seal and open (medians); core/bare, peer/bare = "
                 "throughput ratios, paired rep by rep (target >= 0.9 at >= 16 KiB)")
        L.append("  %-8s %-9s %9s %9s %9s %9s  %-11s %-11s %s" % (
            "bytes", "backend", "bare seal", "bare open", "core seal",
            "core open", "core/bare", "peer/bare", ""))
        asizes = sorted({k[2] for k in aead if k[2] >= 1024})
        for backend in BACKENDS:
            for nb in asizes:
                bs, bo = aead.get(("bare-" + backend, "seal", nb)), aead.get(("bare-" + backend, "open", nb))
                cs, co = aead.get(("core-" + backend, "seal", nb)), aead.get(("core-" + backend, "open", nb))
                ps = aead.get(("peer-" + backend, "sealopen", nb))
                if not bs or not bo:
                    continue
                gb = lambda t: nb / t if t else float("nan")
                pc = pratio.get(("core-" + backend, nb))
                pp = pratio.get(("peer-" + backend, nb))
                if pc:
                    rc = "%.2f/%.2f" % (pc[0], pc[1])
                else:
                    rc = "%.2f/%.2f" % (bs / cs, bo / co) if cs and co else "-"
                if pp:
                    rp = "%.2f" % pp[2]
                else:
                    rp = "%.2f" % ((bs + bo) / ps) if ps else "-"
                mark = ""
                if 16384 <= nb <= (64 << 20) and cs and co:
                    r_ = min(pc[0], pc[1]) if pc else min(bs / cs, bo / co)
                    mark = "ok" if r_ >= 0.9 else "MISS"
                L.append("  %-8s %-9s %9.2f %9.2f %9s %9s  %-11s %-11s %s" % (
                    human(nb), backend, gb(bs), gb(bo),
                    "%.2f" % gb(cs) if cs else "-", "%.2f" % gb(co) if co else "-",
                    rc, rp, mark))
        L.append("")
    L.append("Times in us: median of all samples of all rounds [p10..p90]; "
             "x plain = median / plaintext median on the same transport;")
    L.append("floor = seal+open of the bytes on the critical path, bare primitive "
             "of the fastest backend on one core (bench/README.md);")
    L.append("excess = (encrypted - plaintext) / floor: 1.0 = exactly the "
             "crypto work, below 1 = crypto overlapped with transfer;")
    L.append("algbw = bytes / time, busbw = algbw * 2(n-1)/n (nccl-tests' "
             "definitions for allreduce), GB/s of the median.")
    fbs = sorted({r["floor_be"] for r in rows if r["floor_be"]})
    if fbs:
        L.append("floor backend: %s" % ", ".join(fbs))

    def x(v, f="%.2f"):
        return f % v if v is not None else ""
    for op in ops:
        L.append("")
        L.append("== %s" % OP_TITLE.get(op, op))
        if op == "bw":
            # bandwidth: p10 of the time is p90 of the rate
            hdr = "  %-6s %-" + cw + "s %11s  %-23s %7s %11s %7s %7s %s"
            L.append(hdr % ("bytes", "config", "GB/s", "p10..p90", "x plain",
                            "floor_us", "excess", "x wg", "check"))
        elif op == "allreduce":
            hdr = "  %-6s %-" + cw + "s %11s  %-23s %7s %11s %7s %7s %7s %7s %s"
            L.append(hdr % ("bytes", "config", "median_us", "p10..p90", "x plain",
                            "floor_us", "excess", "x wg", "algbw", "busbw", "check"))
        else:
            hdr = "  %-6s %-" + cw + "s %11s  %-23s %7s %11s %7s %7s %s"
            L.append(hdr % ("bytes", "config", "median_us", "p10..p90", "x plain",
                            "floor_us", "excess", "x wg", "check"))
        last = None
        for r in rows:
            if r["op"] != op:
                continue
            sz = human(r["nb"]) if r["nb"] != last else ""
            last = r["nb"]
            if op == "bw":
                gb = lambda t: r["nb"] / t / 1e3 if t else None
                cells = (fmt_gbps(r["gbps"]),
                         "%s..%s" % (fmt_gbps(gb(r["p90"])), fmt_gbps(gb(r["p10"]))),
                         x(1 / r["xplain"] if r["xplain"] else None))
                vswg = x(1 / r["vswg"] if r["vswg"] else None)
            else:
                vswg = x(r["vswg"])
                cells = (fmt_us(r["med"]),
                         "%s..%s" % (fmt_us(r["p10"]), fmt_us(r["p90"])),
                         x(r["xplain"]))
            cells = (sz, r["cfg"]) + cells + (
                fmt_us(r["floor"]) if r["floor"] else "", x(r["excess"]), vswg)
            if op == "allreduce":
                cells += (fmt_gbps(r["algbw"]), fmt_gbps(r["busbw"]))
            L.append(hdr % (cells + (r["check"],)))

    # ---------------------------------------------------------- before/after
    ba = before_after(rows, ops)
    if ba:
        L.append("")
        L.append("== before/after (--baseline): per transport, op and size, the fastest "
                 "encrypted row of each build")
        L.append("   x plain = its median / the plaintext median (the same row for both "
                 "builds); after/before = current / baseline median;")
        L.append("   all are time ratios (bw: time per message), so below 1 = faster")
        hdr = "  %-6s %-15s %6s  %-20s %-20s %12s"
        L.append(hdr % ("tr", "op", "bytes", "baseline x plain", "current x plain",
                        "after/before"))

        def rt(v):
            return "%.3f" % v if v < 0.1 else "%.2f" % v if v < 100 else "%.0f" % v
        for b in ba:
            L.append(hdr % (b["tr"], b["op"], human(b["nb"]),
                            "%7s %s" % (rt(b["base"]["xplain"]), b["base"]["cr"]),
                            "%7s %s" % (rt(b["cur"]["xplain"]), b["cur"]["cr"]),
                            rt(b["ratio"])))
        with open(os.path.join(out, "before_after.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["transport", "op", "bytes", "plain_median_us",
                        "baseline_config", "baseline_median_us", "baseline_x_plain",
                        "current_config", "current_median_us", "current_x_plain",
                        "current_over_baseline"])
            for b in ba:
                w.writerow([b["tr"], b["op"], b["nb"], "%.3f" % b["cur"]["plain"],
                            b["base"]["cfg"], "%.3f" % b["base"]["med"],
                            "%.4g" % b["base"]["xplain"], b["cur"]["cfg"],
                            "%.3f" % b["cur"]["med"], "%.4g" % b["cur"]["xplain"],
                            "%.4g" % b["ratio"]])

    # ---------------------------------------------------------- targets
    L.append("")
    L.append("== targets (issue 9; 'fastest' = the encrypted row with the lowest "
             "median at that transport, op and size)")

    def fastest(tr, op, nb):
        rr = [r for r in rows if r["tr"] == tr and r["op"] == op and r["nb"] == nb
              and r["cr"] in BACKENDS and r["plain"] and not r["base"]]
        return min(rr, key=lambda r: r["med"]) if rr else None

    def verdict(ok):
        return "MET" if ok else "MISSED"
    # AEAD rate of the fastest backend's core (encshim_aead_seal/open)
    rates = {}
    for (impl, o, nb), t in aead.items():
        if impl.startswith("core-") and o in ("seal", "open") and 16384 <= nb <= (1 << 20) and t:
            rates.setdefault(impl[5:], []).append((nb / t, o, nb))
    if rates:
        be = max(rates, key=lambda b: min(rates[b])[0])
        w = min(rates[be])
        L.append("  AES-256-GCM seal and open >= 8 GB/s at 16 KiB-1 MiB, fastest backend "
                 "(%s): %s (worst %.2f GB/s: %s %s)" % (be, verdict(w[0] >= 8), w[0], w[1], human(w[2])))
    else:
        L.append("  AES-256-GCM seal and open >= 8 GB/s: not measured")
    worst = None
    for (impl, nb), pr in pratio.items():
        if not impl.startswith("core-") or not 16384 <= nb <= (64 << 20):
            continue
        for o, r in (("seal", pr[0]), ("open", pr[1])):
            if worst is None or r < worst[0]:
                worst = (r, impl[5:], o, nb)
    for backend in BACKENDS if not pratio else ():
        for (impl, o, nb), t in aead.items():
            if impl != "core-" + backend or o not in ("seal", "open") or not 16384 <= nb <= (64 << 20):
                continue
            b = aead.get(("bare-" + backend, o, nb))
            if b:
                r = b / t
                if worst is None or r < worst[0]:
                    worst = (r, backend, o, nb)
    if worst:
        L.append("  AEAD core/bare >= 0.9 at 16 KiB..64 MiB, every backend: %s (worst %.2f: %s %s %s)" % (
            verdict(worst[0] >= 0.9), worst[0], worst[1], worst[2], human(worst[3])))
    else:
        L.append("  AEAD core/bare: not measured")
    # allreduce time against plaintext, fastest backend
    for tr, lims in (("tcp", ((1 << 20, 1.6), (16 << 20, 1.35), (64 << 20, 1.35))),
                     ("vader", ((16 << 20, 1.8), (64 << 20, 1.8)))):
        got = [(nb, lim, fastest(tr, "allreduce", nb)) for nb, lim in lims]
        got = [(nb, lim, r) for nb, lim, r in got if r]
        want = ", ".join("<= %.2f at %s" % (lim, human(nb)) for nb, lim in lims)
        if not got:
            L.append("  allreduce over %s x plain %s: not measured" % (tr, want))
            continue
        miss = [human(nb) for nb, _ in lims if nb not in {g[0] for g in got}]
        L.append("  allreduce over %s x plain %s: %s (%s%s)" % (
            tr, want, verdict(all(r["xplain"] <= lim for _, lim, r in got)),
            ", ".join("%s %.2f %s" % (human(nb), r["xplain"], r["cr"]) for nb, _, r in got),
            "; %s not measured" % ", ".join(miss) if miss else ""))
    # added time in floors, fastest backend, 64 KiB..64 MiB
    for tr in ("tcp", "vader"):
        ex = [fastest(tr, "allreduce", nb) for nb in sorted({r["nb"] for r in rows})
              if (64 << 10) <= nb <= (64 << 20)]
        ex = [r for r in ex if r and r["excess"] is not None]
        if not ex:
            L.append("  allreduce 64 KiB-64 MiB over %s, (enc-plain)/floor <= 1.0: not measured" % tr)
            continue
        w = max(ex, key=lambda r: r["excess"])
        L.append("  allreduce 64 KiB-64 MiB over %s, (enc-plain)/floor <= 1.0: %s "
                 "(worst %.2f at %s, %s)" % (tr, verdict(w["excess"] <= 1.0), w["excess"],
                                             human(w["nb"]), w["cr"]))
    # streaming bandwidth over tcp
    bw = [fastest("tcp", "bw", nb) for nb in sorted({r["nb"] for r in rows}) if nb >= (4 << 20)]
    bw = [r for r in bw if r]
    if bw:
        w = max(bw, key=lambda r: r["xplain"])
        L.append("  streaming bandwidth over tcp >= 0.85x plaintext at >= 4 MiB: %s "
                 "(worst %.2f at %s, %s)" % (verdict(1 / w["xplain"] >= 0.85), 1 / w["xplain"],
                                             human(w["nb"]), w["cr"]))
    else:
        L.append("  streaming bandwidth over tcp at >= 4 MiB: not measured")
    # latency
    pp = [r for r in rows if r["op"] == "pingpong" and r["nb"] == 8 and r["tr"] == "vader"
          and r["cr"] in BACKENDS and r["plain"] and not r["base"]]
    for r in pp:
        d = r["med"] - r["plain"]
        L.append("  8 B ping-pong over vader, %s: added half round trip %.2f us "
                 "(target <= 1 us): %s" % (r["cr"], d, verdict(d <= 1.0)))
    if not pp:
        L.append("  8 B ping-pong over vader: not measured")
    # training step
    tt = [r for r in (fastest("tcp", "train", nb) for nb in sorted({r["nb"] for r in rows})) if r]
    for r in tt:
        L.append("  training step (%s in buckets) over tcp <= 1.4x plaintext: %s (%.2f, %s)" % (
            human(r["nb"]), verdict(r["xplain"] <= 1.4), r["xplain"], r["cr"]))
    if not tt:
        L.append("  training step over tcp: not measured")
    # pml_encshim_local clear over vader: "within noise" read as <= 1.1x
    cl = [r for r in rows if r["cfg"] == "vader-clear" and r["op"] == "allreduce"
          and r["xplain"] and r["nb"] >= 65536]
    if cl:
        w = max(cl, key=lambda r: r["xplain"])
        L.append("  allreduce >= 64 KiB over vader with pml_encshim_local clear <= 1.1x "
                 "plaintext: %s (worst %.2f at %s)" % (verdict(w["xplain"] <= 1.1),
                                                      w["xplain"], human(w["nb"])))
    else:
        L.append("  allreduce over vader with pml_encshim_local clear: not measured")
    # vs WireGuard
    wgr = [r for r in rows if r["op"] == "allreduce" and r["tr"] == "netns" and
           r["cr"] in BACKENDS and r["vswg"] and r["nb"] >= 65536 and not r["base"]]
    if wgr:
        for cr in sorted({r["cr"] for r in wgr}):
            rr = [r for r in wgr if r["cr"] == cr]
            bad = [r for r in rr if r["vswg"] >= 1.0]
            w = max(rr, key=lambda r: r["vswg"])
            L.append("  allreduce >= 64 KiB, netns-%s faster than WireGuard at every size: %s "
                     "(slowest ratio %.2f at %s)" % (cr, verdict(not bad),
                                                     w["vswg"], human(w["nb"])))
    else:
        L.append("  encshim vs WireGuard: not measured (%s / %s)" % (
            avail.get("netns-openssl", "not run"), avail.get("netns-wg", "not run")))
    fails = [r for r in rows if r["check"] != "ok"]
    L.append("  correctness: %s" % ("every result of every run checked and exact"
                                   if not fails else "%d rows FAILED" % len(fails)))

    with open(os.path.join(out, "table.txt"), "w") as f:
        f.write("\n".join(L) + "\n")

    # ---------------------------------------------------------- plot
    plot_cfgs = [c for c in run_cfgs if cfg_split(c)[1] != "plain"]
    for c in plot_cfgs:
        with open(os.path.join(out, "plot-%s.dat" % c), "w") as f:
            f.write("# bytes x_plain excess\n")
            for r in rows:
                if r["cfg"] == c and r["op"] == "allreduce" and r["xplain"]:
                    f.write("%d %.5g %s\n" % (r["nb"], r["xplain"],
                                              "%.5g" % r["excess"] if r["excess"] is not None else "NaN"))
    with open(os.path.join(out, "plot.gp"), "w") as f:
        f.write("set terminal pngcairo size 1100,1000 font 'sans,10'\n")
        f.write("set output 'overhead.png'\nset termoption noenhanced\n")
        f.write("set multiplot layout 2,1 title \"%s\" noenhanced\n" %
                ("MPI_Allreduce, 2 ranks: " + a.meta.replace('"', "'")))
        f.write("set logscale x 2\nset logscale y\nset grid\n")
        f.write("set format x '%.0b%B'\nset xlabel 'message size (bytes)'\n")
        f.write("set key outside right\n")
        f.write("set ylabel 'time / plaintext time (same transport)'\n")
        f.write("set title 'overhead ratio vs size'\n")
        pl = ["'plot-%s.dat' using 1:2 with linespoints title '%s'" % (c, c)
              for c in plot_cfgs]
        f.write("plot " + (", ".join(pl) if pl else "1 title 'no data'") + ", 1 dt 2 lc 'black' notitle\n")
        f.write("unset logscale y\nset yrange [-0.5:*]\n")
        f.write("set ylabel '(encrypted - plaintext) / crypto floor'\n")
        f.write("set title 'overhead in units of the crypto floor (1 = only the unavoidable seal+open)'\n")
        pl = ["'plot-%s.dat' using 1:3 with linespoints title '%s'" % (c, c)
              for c in plot_cfgs if cfg_split(c)[1] in BACKENDS]
        f.write("plot " + (", ".join(pl) if pl else "1 title 'no data'") +
                ", 1 dt 2 lc 'red' title 'floor (issue 9 target: <= 1)'\n")
        f.write("unset multiplot\n")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
