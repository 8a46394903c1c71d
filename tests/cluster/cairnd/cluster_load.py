"""Steady write load against a cluster, and its checks (tests/cluster, issue 7).

  cluster_load.py write ENDPOINTS PREFIX ACKFILE STOPFILE
      One writer thread per endpoint (host:port, comma-separated) puts PREFIX<t>/<i> = v<t>-<i>
      for i = 0, 1, ... sequentially with a 1 s deadline per put, until STOPFILE exists. After
      every acknowledged put it appends "t i revision start_ns ack_ns" (CLOCK_MONOTONIC) to
      ACKFILE. A failed put is skipped (the next key is used): it may or may not have been
      applied; only acknowledged puts are promised.
  cluster_load.py verify ENDPOINTS PREFIX ACKFILE
      On every endpoint (a serializable read: the member's own copy), every acknowledged put
      is present with its value and with the acknowledged revision as its mod_revision.
  cluster_load.py failover ACKFILE KILL_NS
      Prints the milliseconds from KILL_NS to the first acknowledgement of a put that was
      started after it (such a put can only have been committed by a new leader), or -1.
"""

import os
import sys
import threading
import time

import etcd3
import etcd3.etcdrpc as rpc


def key_of(prefix, t, i):
    return ("%s%d/%08d" % (prefix, t, i)).encode()


def value_of(t, i):
    return ("v%d-%d" % (t, i)).encode()


def split(endpoints):
    out = []
    for ep in endpoints.split(","):
        host, port = ep.rsplit(":", 1)
        out.append((host, int(port)))
    return out


def write(endpoints, prefix, ackfile, stopfile):
    lock = threading.Lock()
    out = open(ackfile, "a", buffering=1)

    def run(t, host, port):
        client = etcd3.client(host=host, port=port, timeout=1)
        i = 0
        while not os.path.exists(stopfile):
            start = time.monotonic_ns()
            try:
                resp = client.put(key_of(prefix, t, i), value_of(t, i))
            except Exception:  # pylint: disable=broad-except
                i += 1
                # pacing against a dead endpoint (refused at once), not synchronisation
                time.sleep(0.05)
                continue
            ack = time.monotonic_ns()
            with lock:
                out.write("%d %d %d %d %d\n" % (t, i, resp.header.revision, start, ack))
            i += 1

    workers = [threading.Thread(target=run, args=(t, h, p))
               for t, (h, p) in enumerate(split(endpoints))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.close()
    return 0


def read_acks(ackfile):
    acks = []
    with open(ackfile) as f:
        for line in f:
            t, i, rev, start, ack = (int(x) for x in line.split())
            acks.append((t, i, rev, start, ack))
    return acks


def verify(endpoints, prefix, ackfile):
    acks = read_acks(ackfile)
    if not acks:
        print("FAIL: no acknowledged puts to verify", file=sys.stderr)
        return 1
    failures = []
    for host, port in split(endpoints):
        client = etcd3.client(host=host, port=port, timeout=10)
        req = rpc.RangeRequest(key=prefix.encode(), range_end=prefix[:-1].encode() + b"0",
                               serializable=True)
        resp = client.kvstub.Range(req, 10)
        present = {kv.key: kv for kv in resp.kvs}
        for t, i, rev, _, _ in acks:
            kv = present.get(key_of(prefix, t, i))
            if kv is None:
                failures.append("%s:%d: acknowledged put %d/%d (revision %d) is missing"
                                % (host, port, t, i, rev))
            elif kv.value != value_of(t, i) or kv.mod_revision != rev:
                failures.append("%s:%d: put %d/%d has %r at %d, acknowledged at %d"
                                % (host, port, t, i, kv.value, kv.mod_revision, rev))
        client.close()
    for f in failures[:20]:
        print("FAIL: " + f, file=sys.stderr)
    print("verified %d acknowledged puts on %d members, %d failures"
          % (len(acks), len(split(endpoints)), len(failures)), file=sys.stderr)
    return 1 if failures else 0


def failover(ackfile, kill_ns):
    after = [ack for _, _, _, start, ack in read_acks(ackfile) if start > kill_ns]
    print(int((min(after) - kill_ns) / 1e6) if after else -1)
    return 0


def main(argv):
    if len(argv) >= 6 and argv[1] == "write":
        return write(argv[2], argv[3], argv[4], argv[5])
    if len(argv) >= 5 and argv[1] == "verify":
        return verify(argv[2], argv[3], argv[4])
    if len(argv) >= 4 and argv[1] == "failover":
        return failover(argv[2], int(argv[3]))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
