"""Writer and checker for the kill -9 test (must-show 3 of issue 6), run by test_crash.sh.

  crash_writer.py write  HOST PORT PREFIX ACKFILE THREADS MAX_PUTS
      THREADS clients each put PREFIX<t>/<i> = v<t>-<i> for i = 0, 1, ... (sequentially,
      at most MAX_PUTS each) and append "t i revision" to ACKFILE only after the server
      acknowledged the put. A thread stops at its first error (the server was killed).
  crash_writer.py verify HOST PORT PREFIX ACKFILE
      Every acknowledged put is present with its value and its acknowledged revision; per
      thread at most one unacknowledged put (the one in flight) exists beyond the last
      acknowledged one; a new put gets a revision above every acknowledged one.
PREFIX must end in "/".
"""

import sys
import threading

import etcd3
import etcd3.etcdrpc as rpc


def key_of(prefix, t, i):
    return ("%s%d/%08d" % (prefix, t, i)).encode()


def value_of(t, i):
    return ("v%d-%d" % (t, i)).encode()


def write(host, port, prefix, ackfile, threads, max_puts):
    lock = threading.Lock()
    out = open(ackfile, "a", buffering=1)  # line buffered: one line per ack
    errors = []

    def run(t):
        client = etcd3.client(host=host, port=port, timeout=5)
        for i in range(max_puts):
            try:
                resp = client.put(key_of(prefix, t, i), value_of(t, i))
            except Exception as exc:  # pylint: disable=broad-except
                errors.append("thread %d stopped at put %d: %r" % (t, i, exc))
                return
            with lock:
                out.write("%d %d %d\n" % (t, i, resp.header.revision))
                out.flush()

    workers = [threading.Thread(target=run, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.close()
    for e in errors:
        print(e, file=sys.stderr)
    return 0


def verify(host, port, prefix, ackfile):
    failures = []
    acked = {}  # (t, i) -> revision
    with open(ackfile) as f:
        for line in f:
            t, i, rev = (int(x) for x in line.split())
            acked[(t, i)] = rev
    if not acked:
        print("FAIL: no acknowledged puts to verify", file=sys.stderr)
        return 1
    client = etcd3.client(host=host, port=port, timeout=10)
    req = rpc.RangeRequest(key=prefix.encode(), range_end=prefix[:-1].encode() + b"0")
    resp = client.kvstub.Range(req, 10)
    present = {kv.key: kv for kv in resp.kvs}
    store_rev = resp.header.revision

    last = {}  # thread -> highest acknowledged i
    for (t, i), rev in acked.items():
        last[t] = max(last.get(t, -1), i)
        kv = present.get(key_of(prefix, t, i))
        if kv is None:
            failures.append("acknowledged put %d/%d (revision %d) is missing" % (t, i, rev))
        elif kv.value != value_of(t, i) or kv.mod_revision != rev:
            failures.append("put %d/%d: got value %r mod_revision %d, acknowledged %r at %d"
                            % (t, i, kv.value, kv.mod_revision, value_of(t, i), rev))
    for t, top in last.items():
        missing = [i for i in range(top + 1) if (t, i) not in acked]
        if missing:
            failures.append("thread %d: acks not contiguous, missing %r" % (t, missing[:5]))
    in_flight = 0
    for key in present:
        t, i = (int(x) for x in key[len(prefix):].split(b"/"))
        if (t, i) in acked:
            continue
        if i == last.get(t, -1) + 1:
            in_flight += 1  # sent, applied, the ack lost with the server: allowed
        else:
            failures.append("unexpected key %r: never sent" % key)

    max_acked = max(acked.values())
    if store_rev < max_acked:
        failures.append("store revision %d is below the last acknowledged %d"
                        % (store_rev, max_acked))
    probe = prefix[:-1] + "-after-restart"  # outside the verified range
    new_rev = client.put(probe, b"x").header.revision
    if not new_rev > max_acked or new_rev != store_rev + 1:
        failures.append("new put revision %d: expected store revision + 1 = %d, above %d"
                        % (new_rev, store_rev + 1, max_acked))
    client.delete(probe)

    print("verified %d acknowledged puts over %d threads, %d applied but unacknowledged; "
          "last acknowledged revision %d, store revision %d, new put revision %d"
          % (len(acked), len(last), in_flight, max_acked, store_rev, new_rev), file=sys.stderr)
    for f in failures[:50]:
        print("FAIL: " + f, file=sys.stderr)
    return 1 if failures else 0


def main():
    mode = sys.argv[1]
    host, port, prefix, ackfile = sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5]
    if mode == "write":
        return write(host, port, prefix, ackfile, int(sys.argv[6]), int(sys.argv[7]))
    if mode == "verify":
        return verify(host, port, prefix, ackfile)
    print("unknown mode " + mode, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
