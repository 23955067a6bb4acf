"""Memory per idle keep-alive client of a server, for the benchmark scripts.

Opens WARMUP clients, then COUNT more, each sending one GET of PATH and reading its answer (in
batches of BATCH), and prints the growth of the resident memory of PIDS (a server and its
processes) over the COUNT clients, per client.

Usage: idle_rss.py NAME "PID [PID...]" PORT PATH COUNT CPU WARMUP BATCH
"""
import os
import socket
import sys
import time

name, pids, port, path = sys.argv[1], [int(p) for p in sys.argv[2].split()], int(sys.argv[3]), sys.argv[4]
count, cpu, warmup, batch = (int(v) for v in sys.argv[5:9])
os.sched_setaffinity(0, {cpu})


def rss():
    total = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
socks = []


def open_clients(n):
    start = len(socks)
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(request)
        socks.append(s)
        if (len(socks) - start) % batch == 0:
            for t in socks[-batch:]:
                t.recv(65536)
    for t in socks[len(socks) - (len(socks) - start) % batch:]:
        t.recv(65536)


open_clients(warmup)
time.sleep(2 if warmup else 0)
before = rss()
open_clients(count)
time.sleep(2)
after = rss()
print(f"{name:<8} RSS {before} kB -> {after} kB: {(after - before) * 1024 / count:.0f} bytes per idle client")
for s in socks:
    s.close()
