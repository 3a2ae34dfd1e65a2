#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Data-parallel training of a small MLP with numpy and mpi4py.

Each rank draws its own shard of a synthetic classification task (labels
from a fixed random "teacher" network), computes gradients on it, and the
ranks average their gradients with MPI_Allreduce (MPI_FLOAT, SUM) in
DDP-sized buckets before every SGD step, exactly as a data-parallel
framework does. Nothing here knows about encryption: run it under plain
mpirun and under encshim and compare the final weights (bit-identical:
AES-GCM is lossless) and the step times (examples/run does both).

  mpirun -np 2 python3 examples/train_ddp.py --out weights.npy
"""
import argparse
import hashlib
import json
import sys
import time

import numpy as np
from mpi4py import MPI


def parse_size(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    s = s.strip().rstrip("Bb").rstrip("i")
    if s and s[-1].upper() in mult:
        return int(s[:-1]) * mult[s[-1].upper()]
    return int(s)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch", type=int, default=32, help="samples per rank per step")
    ap.add_argument("--layers", default="1024,2048,2048,10",
                    help="layer widths, input first, classes last")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--bucket", default="25M", help="gradient bytes per MPI_Allreduce")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", help="rank 0 writes the final weights here (.npy, float32)")
    ap.add_argument("--warmup", type=int, default=2, help="steps left out of the timing")
    a = ap.parse_args()

    comm = MPI.COMM_WORLD
    rank, size = comm.Get_rank(), comm.Get_size()
    widths = [int(w) for w in a.layers.split(",")]
    f32 = np.float32

    # parameters: one contiguous float32 vector, views per layer (the same
    # initial values on every rank: one seed)
    shapes = []
    for i in range(len(widths) - 1):
        shapes.append((widths[i], widths[i + 1]))  # W
        shapes.append((widths[i + 1],))            # b
    counts = [int(np.prod(s)) for s in shapes]
    nparam = sum(counts)
    params = np.empty(nparam, dtype=f32)
    grads = np.empty(nparam, dtype=f32)

    def views(buf):
        out, off = [], 0
        for s, c in zip(shapes, counts):
            out.append(buf[off:off + c].reshape(s))
            off += c
        return out

    P, G = views(params), views(grads)
    init = np.random.default_rng(a.seed)
    for i in range(0, len(P), 2):
        fan_in = P[i].shape[0]
        P[i][...] = init.standard_normal(P[i].shape, dtype=f32) * f32(np.sqrt(2.0 / fan_in))
        P[i + 1][...] = 0

    # the task: a random teacher MLP labels gaussian inputs
    teacher = np.random.default_rng(a.seed + 1)
    T1 = teacher.standard_normal((widths[0], 256), dtype=f32)
    T2 = teacher.standard_normal((256, widths[-1]), dtype=f32)
    data = np.random.default_rng(a.seed + 100 + rank)  # this rank's shard

    def batch():
        x = data.standard_normal((a.batch, widths[0]), dtype=f32)
        y = np.argmax(np.maximum(x @ T1, 0) @ T2, axis=1)
        return x, y

    bucket = max(1, parse_size(a.bucket) // 4)
    nb = (nparam + bucket - 1) // bucket
    step_t, comm_t, losses = [], [], []

    for step in range(a.steps):
        x, y = batch()
        comm.Barrier()
        t0 = time.perf_counter()
        # forward
        acts = [x]
        h = x
        nl = len(P) // 2
        for i in range(nl):
            z = h @ P[2 * i] + P[2 * i + 1]
            h = np.maximum(z, 0) if i < nl - 1 else z
            acts.append(h)
        z = h - h.max(axis=1, keepdims=True)
        e = np.exp(z)
        prob = e / e.sum(axis=1, keepdims=True)
        loss = float(-np.log(prob[np.arange(a.batch), y] + f32(1e-12)).mean())
        # backward
        d = prob
        d[np.arange(a.batch), y] -= 1
        d /= f32(a.batch)
        for i in reversed(range(nl)):
            G[2 * i][...] = acts[i].T @ d
            G[2 * i + 1][...] = d.sum(axis=0)
            if i:
                d = (d @ P[2 * i].T) * (acts[i] > 0)
        # average gradients across ranks, bucket by bucket (in place)
        t1 = time.perf_counter()
        for b in range(nb):
            comm.Allreduce(MPI.IN_PLACE, grads[b * bucket:(b + 1) * bucket], op=MPI.SUM)
        t2 = time.perf_counter()
        grads *= f32(1.0 / size)
        params -= f32(a.lr) * grads
        t3 = time.perf_counter()
        # the slowest rank's times
        st = comm.allreduce(t3 - t0, op=MPI.MAX)
        ct = comm.allreduce(t2 - t1, op=MPI.MAX)
        gl = comm.allreduce(loss, op=MPI.SUM) / size
        losses.append(gl)
        if step >= a.warmup:
            step_t.append(st)
            comm_t.append(ct)

    if rank == 0:
        digest = hashlib.sha256(params.tobytes()).hexdigest()
        if a.out:
            np.save(a.out, params)
        print(json.dumps({
            "ranks": size, "params": nparam, "grad_bytes": nparam * 4,
            "buckets": nb, "steps": a.steps, "timed_steps": len(step_t),
            "step_ms_median": 1e3 * float(np.median(step_t)) if step_t else None,
            "allreduce_ms_median": 1e3 * float(np.median(comm_t)) if comm_t else None,
            "loss_first": losses[0], "loss_last": losses[-1],
            "weights_sha256": digest,
        }))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
