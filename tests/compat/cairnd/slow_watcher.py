"""A watcher that stops reading while thousands of puts happen must still receive every
event exactly once and in order once it reads again, while the server's memory stays
bounded (events past the stream's queue are re-read from the store, etcd's "unsynced"
watchers). Usage: slow_watcher.py HOST PORT SERVER_PID"""
import queue
import sys
import threading
import time

import etcd3
from etcd3.etcdrpc import rpc_pb2

N = 6000
VALUE = b"v" * 1024


def rss_anon_kib(pid):
    with open("/proc/%s/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return -1


def main():
    host, port, pid = sys.argv[1], sys.argv[2], sys.argv[3]
    client = etcd3.client(host=host, port=int(port))
    start_rev = client.status().raft_index  # any revision; the watch starts at the next put
    from etcd3 import etcdrpc
    stub = etcdrpc.WatchStub(client.channel)
    requests = queue.Queue()

    def gen():
        while True:
            r = requests.get()
            if r is None:
                return
            yield r

    cr = rpc_pb2.WatchCreateRequest(key=b"slow/", range_end=b"slow0")
    requests.put(rpc_pb2.WatchRequest(create_request=cr))
    stream = stub.Watch(gen(), timeout=300)
    first = next(stream)
    assert first.created, "watch not created"
    del start_rev
    # Do not read from the stream while writing.
    base = rss_anon_kib(pid)
    peak = base
    for i in range(N):
        client.put("slow/%06d" % i, VALUE)
        if i % 500 == 0:
            peak = max(peak, rss_anon_kib(pid))
    peak = max(peak, rss_anon_kib(pid))
    print("server anonymous RSS: %d KiB before, %d KiB peak while the watcher slept"
          % (base, peak))
    got = []
    deadline = time.monotonic() + 120
    for resp in stream:
        for ev in resp.events:
            got.append(ev.kv.key)
        if len(got) >= N or time.monotonic() > deadline:
            break
    requests.put(None)
    want = [b"slow/%06d" % i for i in range(N)]
    fails = 0
    if got != want:
        missing = len(set(want) - set(got))
        dup = len(got) - len(set(got))
        print("FAIL: %d events received, %d missing, %d duplicated, in order: %s"
              % (len(got), missing, dup, got == sorted(got)))
        fails += 1
    else:
        print("ok: all %d events received once, in order" % N)
    # N events of ~1 KiB were written: buffering them all would cost > 6 MiB per watcher;
    # the server should hold far less than that on top of its baseline.
    if peak - base > 48 * 1024:
        print("FAIL: server memory grew by %d KiB while the watcher slept" % (peak - base))
        fails += 1
    else:
        print("ok: server memory grew by %d KiB while the watcher slept" % (peak - base))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
