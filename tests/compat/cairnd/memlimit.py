"""Drive cairnd past a small --memory-limit with concurrent large puts over raw gRPC.
Usage: memlimit.py HOST PORT
Checks: some puts are refused with RESOURCE_EXHAUSTED naming the memory limit, no other
error appears, and the server still answers a small put and get afterwards."""
import sys
import threading

import grpc


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def put_req(key, value):
    return (b"\x0a" + varint(len(key)) + key + b"\x12" + varint(len(value)) + value)


def main():
    target = "%s:%s" % (sys.argv[1], sys.argv[2])
    ch = grpc.insecure_channel(target, options=[("grpc.max_send_message_length", 64 << 20)])
    put = ch.unary_unary("/etcdserverpb.KV/Put")
    rng = ch.unary_unary("/etcdserverpb.KV/Range")
    results = []
    lock = threading.Lock()

    def worker(t):
        for i in range(6):
            try:
                put(put_req(b"mem/%d/%d" % (t, i), b"v" * (1400 * 1024)), timeout=30)
                r = ("ok", "")
            except grpc.RpcError as e:
                r = (e.code().name, e.details())
            with lock:
                results.append(r)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = {}
    for code, msg in results:
        codes[code] = codes.get(code, 0) + 1
    print("results:", codes)
    refused = [m for c, m in results if c == "RESOURCE_EXHAUSTED"]
    other = [(c, m) for c, m in results if c not in ("ok", "RESOURCE_EXHAUSTED")]
    fails = 0
    if not refused:
        print("FAIL: no put was refused under the memory limit")
        fails += 1
    elif "memory limit" not in refused[0]:
        print("FAIL: refusal does not name the memory limit: %r" % refused[0])
        fails += 1
    else:
        print("ok: refusal message: %s" % refused[0])
    if other:
        print("FAIL: unexpected errors: %r" % other[:3])
        fails += 1
    # Right after the burst memory in use may still be over the limit until a reclaim cycle
    # has run and gRPC has let go of its buffers: writes are refused until then. Poll,
    # bounded, for the server to take writes again.
    import time
    deadline = time.monotonic() + 60
    while True:
        try:
            put(put_req(b"mem/small", b"x"), timeout=10)
            break
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                print("FAIL: small put after the pressure: %s %s" % (e.code(), e.details()))
                return 1
            time.sleep(0.2)
    print("ok: writes accepted again %.1f s after the burst" % (60 - (deadline - time.monotonic())))
    body = rng(b"\x0a\x09mem/small", timeout=10)
    if b"mem/small" not in body:
        print("FAIL: small get after the pressure did not return the key")
        fails += 1
    else:
        print("ok: server still serves small requests")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
