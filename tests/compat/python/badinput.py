"""Bad input over raw gRPC (must-show 4 of issue 6), run by test_badinput.sh.

Usage: /usr/bin/python3 badinput.py HOST:PORT SERVER_PID PHASE
  PHASE "small": the server runs with --max-request-bytes=65536 (default --max-txn-ops).
  PHASE "txnops": the server runs with --max-txn-ops=4 and the default request limit.

Requests are hand-encoded protobuf bytes sent with grpc's raw (no serializer) calls, so
malformed messages can be built. Every answer is compared with etcd 3.4.23's: the gRPC
status code always exactly; the message exactly for etcd's own strings (clients match on
them) and for UNIMPLEMENTED; for messages that embed grpc-go / Go protobuf library text
(malformed protobuf, gRPC size limit) only etcd's prefix, unless COMPAT_STRICT=1, which
asks for etcd's full text. After every case the server must still be running and serve a
Put and a Range.
"""

import os
import sys

import etcd3.etcdrpc as rpc
import grpc

STRICT = os.environ.get("COMPAT_STRICT") == "1"
FAILURES = []
SEQ = [0]
OK = "OK"
C = grpc.StatusCode


def check(desc, cond, detail=""):
    if cond:
        print("ok: " + desc, file=sys.stderr)
    else:
        msg = desc + (": " + str(detail) if detail != "" else "")
        print("FAIL: " + msg, file=sys.stderr)
        FAILURES.append(msg)


# ---------------------------------------------------------------- protobuf encoding
def varint(n):
    n &= (1 << 64) - 1  # negative int64 as ten-byte two's complement, as protobuf does
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def ld(num, payload):
    """Length-delimited field (bytes, string, embedded message)."""
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def vi(num, n):
    """Varint field (int64, bool, enum)."""
    return varint(num << 3 | 0) + varint(n)


def put_req(key, value=b"v", lease=0):
    return ld(1, key) + ld(2, value) + (vi(3, lease) if lease else b"")


def range_req(key, revision=0):
    return ld(1, key) + (vi(4, revision) if revision else b"")


def op_put(key):
    return ld(2, put_req(key))  # RequestOp.request_put = 2


def op_del(key):
    return ld(3, ld(1, key))  # RequestOp.request_delete_range = 3


def txn_req(success=(), failure=()):
    return b"".join(ld(2, op) for op in success) + b"".join(ld(3, op) for op in failure)


# ---------------------------------------------------------------- calls
class Server:
    def __init__(self, target, pid):
        self.target = target
        self.pid = pid
        self.channel = grpc.insecure_channel(
            target, options=[("grpc.max_send_message_length", -1),
                             ("grpc.max_receive_message_length", -1)])

    def unary(self, method, data, timeout_s=20):
        """Returns (OK, response bytes) or (status code, details)."""
        try:
            return OK, self.channel.unary_unary(method)(data, timeout=timeout_s)
        except grpc.RpcError as err:
            return err.code(), err.details()

    def stream(self, method, requests, timeout_s=20):
        """Bidi call: sends requests, half-closes, returns (OK, [responses]) or error."""
        try:
            call = self.channel.stream_stream(method)(iter(requests), timeout=timeout_s)
            return OK, list(call)
        except grpc.RpcError as err:
            return err.code(), err.details()

    def still_serving(self, after):
        """The process lives and a fresh Put then Range round trip works."""
        try:
            os.kill(self.pid, 0)
        except OSError:
            check("server process alive after: " + after, False, "pid %d gone" % self.pid)
            return
        SEQ[0] += 1
        key = b"badinput/alive/%d" % SEQ[0]
        value = b"still-serving-%d" % SEQ[0]
        code, body = self.unary("/etcdserverpb.KV/Put", put_req(key, value))
        if code != OK:
            check("put after: " + after, False, "%s %s" % (code, body))
            return
        rev = rpc.PutResponse.FromString(body).header.revision
        code, body = self.unary("/etcdserverpb.KV/Range", range_req(key))
        if code != OK:
            check("range after: " + after, False, "%s %s" % (code, body))
            return
        resp = rpc.RangeResponse.FromString(body)
        got = [(kv.key, kv.value, kv.mod_revision) for kv in resp.kvs]
        check("server still serves put/get after: " + after, got == [(key, value, rev)], got)


def expect(srv, desc, answer, code, message, match="exact"):
    """answer is (code, details) from Server.unary; match is exact or prefix."""
    got_code, got_msg = answer
    print("  reference: %-48s -> %s %r" % (desc, got_code, got_msg if got_code != OK else ""),
          file=sys.stderr)
    if got_code != code:
        check(desc + ": status code", False, "expected %s got %s (%r)" % (code, got_code, got_msg))
    elif code != OK:
        if match == "prefix" and not STRICT:
            check(desc + ": message starts with %r" % message, got_msg.startswith(message),
                  "got %r" % got_msg)
        else:
            full = message if match == "exact" else STRICT_TEXT[desc]
            check(desc + ": message", got_msg == full, "expected %r got %r" % (full, got_msg))
    else:
        check(desc, True)
    srv.still_serving(desc)


# etcd 3.4.23's full messages where the test normally checks a prefix (COMPAT_STRICT=1).
STRICT_TEXT = {
    "malformed: truncated varint (0xff)": "grpc: error unmarshalling request: unexpected EOF",
    "malformed: length past the end": "grpc: error unmarshalling request: unexpected EOF",
    "malformed: key with varint wire type":
        "grpc: error unmarshalling request: proto: wrong wireType = 0 for field Key",
    "malformed: field number 0":
        "grpc: error unmarshalling request: proto: PutRequest: illegal tag 0 (wire type 0)",
    "malformed: varint longer than 10 bytes":
        "grpc: error unmarshalling request: proto: integer overflow",
    "malformed: wire type 7": "grpc: error unmarshalling request: proto: wrong wireType = 7 for field Key",
    "malformed Range": "grpc: error unmarshalling request: unexpected EOF",
    "malformed Txn": "grpc: error unmarshalling request: unexpected EOF",
    "malformed message on the Watch stream":
        "grpc: failed to unmarshal the received message unexpected EOF",
}

UNMARSHAL = "grpc: error unmarshalling request: "
TOO_LARGE_GRPC = "grpc: received message larger than max ("
GRPC_OVERHEAD = 512 * 1024  # etcd: gRPC receive limit = --max-request-bytes + 512 KiB


def malformed(srv):
    put = "/etcdserverpb.KV/Put"
    for desc, data in (("malformed: truncated varint (0xff)", b"\xff"),
                       ("malformed: length past the end", b"\x0a\x05ab"),
                       ("malformed: key with varint wire type", b"\x08\x01"),
                       ("malformed: field number 0", b"\x00\x01"),
                       ("malformed: varint longer than 10 bytes", b"\x18" + b"\xff" * 11),
                       ("malformed: wire type 7", b"\x0f")):
        expect(srv, desc, srv.unary(put, data), C.INTERNAL, UNMARSHAL, "prefix")
    expect(srv, "malformed Range", srv.unary("/etcdserverpb.KV/Range", b"\xff"),
           C.INTERNAL, UNMARSHAL, "prefix")
    expect(srv, "malformed Txn", srv.unary("/etcdserverpb.KV/Txn", b"\x12\x08\x12\x06"),
           C.INTERNAL, UNMARSHAL, "prefix")
    expect(srv, "malformed message on the Watch stream",
           srv.stream("/etcdserverpb.Watch/Watch", [b"\xff"]), C.INTERNAL,
           "grpc: failed to unmarshal the received message", "prefix")
    # Unknown fields are legal protobuf (proto3 skips them): the put must succeed.
    code, body = srv.unary(put, put_req(b"badinput/unknown-field") + ld(15, b"x") + vi(16, 7))
    expect(srv, "unknown fields are ignored", (code, body), OK, "")


def unknown_method(srv):
    expect(srv, "unknown method in a known service",
           srv.unary("/etcdserverpb.KV/Nope", b""), C.UNIMPLEMENTED,
           "unknown method Nope for service etcdserverpb.KV")
    expect(srv, "unknown service", srv.unary("/foo.Bar/Baz", b""), C.UNIMPLEMENTED,
           "unknown service foo.Bar")


def empty_key(srv):
    msg = "etcdserver: key is not provided"
    expect(srv, "put with an empty key", srv.unary("/etcdserverpb.KV/Put", put_req(b"")),
           C.INVALID_ARGUMENT, msg)
    expect(srv, "put with an empty body (key unset)", srv.unary("/etcdserverpb.KV/Put", b""),
           C.INVALID_ARGUMENT, msg)
    expect(srv, "range with an empty key", srv.unary("/etcdserverpb.KV/Range", b""),
           C.INVALID_ARGUMENT, msg)
    expect(srv, "delete with an empty key", srv.unary("/etcdserverpb.KV/DeleteRange", b""),
           C.INVALID_ARGUMENT, msg)
    expect(srv, "txn put with an empty key",
           srv.unary("/etcdserverpb.KV/Txn", txn_req(success=[op_put(b"")])),
           C.INVALID_ARGUMENT, msg)


def txn_limits(srv, max_ops):
    txn = "/etcdserverpb.KV/Txn"
    ops = [op_put(b"badinput/txn/%03d" % i) for i in range(max_ops + 1)]
    code, body = srv.unary(txn, txn_req(success=ops[:max_ops]))
    expect(srv, "txn with %d ops (the limit)" % max_ops, (code, body), OK, "")
    if code == OK:
        resp = rpc.TxnResponse.FromString(body)
        check("txn with %d ops: succeeded, %d responses" % (max_ops, max_ops),
              resp.succeeded and len(resp.responses) == max_ops,
              (resp.succeeded, len(resp.responses)))
    too_many = "etcdserver: too many operations in txn request"
    expect(srv, "txn with %d ops in success" % (max_ops + 1), srv.unary(txn, txn_req(success=ops)),
           C.INVALID_ARGUMENT, too_many)
    expect(srv, "txn with %d ops in failure" % (max_ops + 1), srv.unary(txn, txn_req(failure=ops)),
           C.INVALID_ARGUMENT, too_many)
    # The limit is per branch: max_ops in each branch is fine.
    expect(srv, "txn with %d ops in each branch" % max_ops,
           srv.unary(txn, txn_req(success=ops[:max_ops], failure=ops[:max_ops])), OK, "")


def duplicate_key(srv):
    txn = "/etcdserverpb.KV/Txn"
    dup = "etcdserver: duplicate key given in txn request"
    expect(srv, "txn with two puts of one key",
           srv.unary(txn, txn_req(success=[op_put(b"badinput/d"), op_put(b"badinput/d")])),
           C.INVALID_ARGUMENT, dup)
    expect(srv, "txn with a put and a delete of one key",
           srv.unary(txn, txn_req(success=[op_put(b"badinput/d"), op_del(b"badinput/d")])),
           C.INVALID_ARGUMENT, dup)
    expect(srv, "txn with duplicate puts in the failure branch",
           srv.unary(txn, txn_req(failure=[op_put(b"badinput/d"), op_put(b"badinput/d")])),
           C.INVALID_ARGUMENT, dup)
    expect(srv, "the same key in success and failure is allowed",
           srv.unary(txn, txn_req(success=[op_put(b"badinput/d")],
                                  failure=[op_put(b"badinput/d")])), OK, "")


def unknown_lease(srv):
    not_found = "etcdserver: requested lease not found"
    lease_id = 0x7E57BAD1EA5E
    expect(srv, "put with an unknown lease",
           srv.unary("/etcdserverpb.KV/Put", put_req(b"badinput/l", lease=lease_id)),
           C.NOT_FOUND, not_found)
    expect(srv, "txn put with an unknown lease",
           srv.unary("/etcdserverpb.KV/Txn",
                     txn_req(success=[ld(2, put_req(b"badinput/l", lease=lease_id))])),
           C.NOT_FOUND, not_found)
    expect(srv, "revoke of an unknown lease",
           srv.unary("/etcdserverpb.Lease/LeaseRevoke", vi(1, lease_id)), C.NOT_FOUND, not_found)
    code, body = srv.unary("/etcdserverpb.Lease/LeaseTimeToLive", vi(1, lease_id))
    expect(srv, "time-to-live of an unknown lease answers", (code, body), OK, "")
    if code == OK:
        resp = rpc.LeaseTimeToLiveResponse.FromString(body)
        check("time-to-live of an unknown lease: ID echoed, TTL -1",
              (resp.ID, resp.TTL) == (lease_id, -1), (resp.ID, resp.TTL))
    code, body = srv.stream("/etcdserverpb.Lease/LeaseKeepAlive", [vi(1, lease_id)])
    expect(srv, "keep-alive of an unknown lease answers", (code, body), OK, "")
    if code == OK:
        resps = [rpc.LeaseKeepAliveResponse.FromString(b) for b in body]
        check("keep-alive of an unknown lease: one response, ID echoed, TTL 0",
              [(r.ID, r.TTL) for r in resps] == [(lease_id, 0)], [(r.ID, r.TTL) for r in resps])
    expect(srv, "lease grant with a TTL over the maximum",
           srv.unary("/etcdserverpb.Lease/LeaseGrant", vi(1, 9000000001)),
           C.OUT_OF_RANGE, "etcdserver: too large lease TTL")


def revisions(srv):
    expect(srv, "range at a future revision",
           srv.unary("/etcdserverpb.KV/Range", range_req(b"badinput/x", revision=1 << 40)),
           C.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision")
    expect(srv, "compact at a future revision",
           srv.unary("/etcdserverpb.KV/Compact", vi(1, 1 << 40)),
           C.OUT_OF_RANGE, "etcdserver: mvcc: required revision is a future revision")


def oversized(srv, max_request_bytes):
    put = "/etcdserverpb.KV/Put"
    key = b"badinput/big"
    code, _ = srv.unary(put, put_req(key, b"u" * (max_request_bytes - 1024)))
    expect(srv, "put 1 KiB under --max-request-bytes", (code, ""), OK, "")
    expect(srv, "put just over --max-request-bytes",
           srv.unary(put, put_req(key, b"o" * (max_request_bytes + 1))),
           C.INVALID_ARGUMENT, "etcdserver: request is too large")
    expect(srv, "txn just over --max-request-bytes",
           srv.unary("/etcdserverpb.KV/Txn",
                     txn_req(success=[ld(2, put_req(key, b"o" * (max_request_bytes + 1)))])),
           C.INVALID_ARGUMENT, "etcdserver: request is too large")
    grpc_limit = max_request_bytes + GRPC_OVERHEAD
    data = put_req(key, b"g" * (grpc_limit + 1))
    STRICT_TEXT["put over the gRPC receive limit (%d)" % grpc_limit] = (
        "grpc: received message larger than max (%d vs. %d)" % (len(data), grpc_limit))
    expect(srv, "put over the gRPC receive limit (%d)" % grpc_limit, srv.unary(put, data),
           C.RESOURCE_EXHAUSTED, TOO_LARGE_GRPC, "prefix")
    data = put_req(key, b"G" * (4 * grpc_limit))
    STRICT_TEXT["put of 4x the gRPC receive limit"] = (
        "grpc: received message larger than max (%d vs. %d)" % (len(data), grpc_limit))
    expect(srv, "put of 4x the gRPC receive limit", srv.unary(put, data),
           C.RESOURCE_EXHAUSTED, TOO_LARGE_GRPC, "prefix")


def main():
    target, pid, phase = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    srv = Server(target, pid)
    srv.still_serving("start")
    if phase == "small":
        malformed(srv)
        unknown_method(srv)
        empty_key(srv)
        txn_limits(srv, 128)
        duplicate_key(srv)
        unknown_lease(srv)
        revisions(srv)
        oversized(srv, 65536)
    elif phase == "txnops":
        txn_limits(srv, 4)
        oversized(srv, 1572864)  # etcd's default --max-request-bytes (1.5 MiB)
    else:
        print("unknown phase " + phase, file=sys.stderr)
        return 2
    if FAILURES:
        print("%d check(s) failed:" % len(FAILURES), file=sys.stderr)
        for f in FAILURES:
            print("  " + f, file=sys.stderr)
        return 1
    print("all checks passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
