"""python3-etcd3 round trips against one running server (must-show 2 of issue 6).

Usage: /usr/bin/python3 etcd3_suite.py HOST PORT MEMBER_NAME PEER_URL
Run by test_python.sh, which starts the server. Exit status 0 only if every check held.
Expected values come from what the server reported earlier in the run, never constants
of one server's run (revisions, ids).
"""

import io
import queue
import sys
import threading
import time

import etcd3
import etcd3.events
import etcd3.exceptions
import grpc

FAILURES = []
WAIT_S = 20  # bound on every wait for an event


def check(desc, cond, detail=""):
    if cond:
        print("ok: " + desc, file=sys.stderr)
    else:
        msg = desc + (": " + str(detail) if detail != "" else "")
        print("FAIL: " + msg, file=sys.stderr)
        FAILURES.append(msg)


def eq(desc, expected, actual):
    check(desc, expected == actual, "expected %r got %r" % (expected, actual))


def poll(cond, tries=300, interval_s=0.1):
    """Bounded poll: True as soon as cond() holds, False after tries."""
    for _ in range(tries):
        if cond():
            return True
        time.sleep(interval_s)
    return False


def rev_of(resp):
    return resp.header.revision


def raw_range(client, key, range_end=b"", **fields):
    """A RangeRequest through python-etcd3's stub: its helpers drop limit and revision."""
    req = etcd3.etcdrpc.RangeRequest(key=key, range_end=range_end, **fields)
    return client.kvstub.Range(req, client.timeout)


def kv_get(client):
    client.delete_prefix("py/")
    r1 = rev_of(client.put("py/a", "1"))
    r2 = rev_of(client.put("py/b", b"2"))
    put3 = client.put("py/a", "one", prev_kv=True)
    r3 = rev_of(put3)
    eq("put revisions consecutive", [r1 + 1, r1 + 2], [r2, r3])
    eq("put --prev-kv returns the old value", b"1", put3.prev_kv.value)
    eq("put --prev-kv returns the old mod revision", r1, put3.prev_kv.mod_revision)
    hdr = put3.header
    check("put header cluster_id, member_id, raft_term set",
          hdr.cluster_id != 0 and hdr.member_id != 0 and hdr.raft_term >= 1, hdr)

    value, meta = client.get("py/a")
    eq("get value", b"one", value)
    eq("get metadata key", b"py/a", meta.key)
    eq("get metadata create/mod revision, version", (r1, r3, 2),
       (meta.create_revision, meta.mod_revision, meta.version))
    eq("get metadata lease 0", 0, meta.lease_id)
    eq("get header revision", r3, meta.response_header.revision)
    eq("get missing key", (None, None), client.get("py/none"))
    value, _ = client.get("py/a", serializable=True)
    eq("serializable get", b"one", value)

    # Binary-safe keys and values.
    blob = bytes(range(256))
    client.put(b"py/bin\x00\xff", blob)
    value, _ = client.get(b"py/bin\x00\xff")
    eq("binary key and value round trip", blob, value)

    # Prefix and range reads.
    got = [(m.key, v) for v, m in client.get_prefix("py/")]
    eq("get_prefix sorted by key", [(b"py/a", b"one"), (b"py/b", b"2"),
                                    (b"py/bin\x00\xff", blob)], got)
    got = [m.key for _, m in client.get_prefix("py/", sort_order="descend")]
    eq("get_prefix descending", [b"py/bin\x00\xff", b"py/b", b"py/a"], got)
    got = [m.key for _, m in client.get_prefix("py/", sort_order="ascend",
                                                 sort_target="mod")]
    eq("get_prefix sorted by mod revision", [b"py/b", b"py/a", b"py/bin\x00\xff"], got)
    got = [(m.key, v) for v, m in client.get_prefix("py/", keys_only=True)]
    eq("get_prefix keys_only has no values",
       [(b"py/a", b""), (b"py/b", b""), (b"py/bin\x00\xff", b"")], got)
    got = [m.key for _, m in client.get_range("py/a", "py/bin")]
    eq("get_range is end-exclusive", [b"py/a", b"py/b"], got)
    resp = raw_range(client, b"py/", b"py0", limit=1)
    eq("limit 1: one kv, more, full count", (1, True, 3),
       (len(resp.kvs), resp.more, resp.count))
    allkeys = [m.key for _, m in client.get_all()]
    check("get_all includes every py/ key",
          all(k in allkeys for k in (b"py/a", b"py/b", b"py/bin\x00\xff")), allkeys)
    resp = raw_range(client, b"py/", b"py0", revision=r2)
    eq("get at a past revision", [(b"py/a", b"1"), (b"py/b", b"2")],
       [(kv.key, kv.value) for kv in resp.kvs])
    return r3


def kv_delete(client):
    client.put("py/d/1", "x")
    client.put("py/d/2", "y")
    client.put("py/d3", "z")
    eq("delete existing key", True, client.delete("py/d3"))
    eq("delete missing key", False, client.delete("py/d3"))
    client.put("py/d3", "z2")
    resp = client.delete("py/d3", prev_kv=True, return_response=True)
    eq("delete prev_kv", (1, b"py/d3", b"z2"),
       (resp.deleted, resp.prev_kvs[0].key, resp.prev_kvs[0].value))
    resp = client.delete_prefix("py/d/")
    eq("delete_prefix deletes both", 2, resp.deleted)
    eq("prefix gone", [], list(client.get_prefix("py/d/")))
    eq("delete_prefix of nothing", 0, client.delete_prefix("py/d/").deleted)


def kv_txn(client):
    t = client.transactions
    rx = rev_of(client.put("py/t/x", "one"))
    ok, resps = client.transaction(
        compare=[t.value("py/t/x") == "one", t.version("py/t/x") == 1,
                 t.create("py/t/x") == rx, t.mod("py/t/x") == rx],
        success=[t.put("py/t/y", "yes"), t.get("py/t/x")],
        failure=[t.put("py/t/z", "no")])
    eq("txn all compares true", True, ok)
    eq("txn success get sees value", b"one", resps[1][0][0])
    eq("txn success put applied", b"yes", client.get("py/t/y")[0])
    eq("txn failure not applied", None, client.get("py/t/z")[0])

    for desc, cmp in (("value", t.value("py/t/x") != "one"),
                      ("version", t.version("py/t/x") > 1),
                      ("create", t.create("py/t/x") < rx),
                      ("mod", t.mod("py/t/x") > rx)):
        ok, resps = client.transaction(compare=[cmp], success=[t.put("py/t/w", desc)],
                                       failure=[t.get("py/t/x")])
        eq("txn false compare on %s takes failure branch" % desc,
           (False, b"one"), (ok, resps[0][0][0]))
    eq("no success branch ran", None, client.get("py/t/w")[0])

    ok, resps = client.transaction(
        compare=[t.version("py/t/x") > 0],
        success=[t.delete("py/t/y"), t.put("py/t/x", "two")], failure=[])
    eq("txn delete and put", (True, 1), (ok, resps[0].response_delete_range.deleted))
    _, meta = client.get("py/t/x")
    eq("txn put bumped version", 2, meta.version)

    eq("replace succeeds on match", True, client.replace("py/t/x", "two", "three"))
    eq("replace fails on mismatch", False, client.replace("py/t/x", "two", "four"))
    eq("value after replace", b"three", client.get("py/t/x")[0])
    eq("put_if_not_exists on a new key", True, client.put_if_not_exists("py/t/n", "v"))
    eq("put_if_not_exists on an existing key", False,
       client.put_if_not_exists("py/t/n", "v2"))

    # A nested txn inside a txn.
    ok, resps = client.transaction(
        compare=[], success=[t.txn(compare=[t.value("py/t/n") == "v"],
                                   success=[t.put("py/t/nested", "in")], failure=[])],
        failure=[])
    eq("nested txn", (True, True), (ok, resps[0].response_txn.succeeded))
    eq("nested txn put applied", b"in", client.get("py/t/nested")[0])


def next_event(events, what):
    """Next event from a watch iterator, bounded by WAIT_S (iterator runs in a thread)."""
    out = queue.Queue()

    def pull():
        try:
            out.put(next(events))
        except Exception as exc:  # pylint: disable=broad-except
            out.put(exc)

    threading.Thread(target=pull, daemon=True).start()
    try:
        ev = out.get(timeout=WAIT_S)
    except queue.Empty:
        check("event arrives: " + what, False, "nothing within %d s" % WAIT_S)
        return None
    if isinstance(ev, Exception):
        check("event arrives: " + what, False, repr(ev))
        return None
    return ev


def watch(client):
    # A key: the watch is registered once add_callback returns (python-etcd3 waits for
    # the created response), so no event can be missed.
    events, cancel = client.watch("py/w/k")
    rput = rev_of(client.put("py/w/other", "x"))
    rput = rev_of(client.put("py/w/k", "v1"))
    client.delete("py/w/k")
    ev = next_event(events, "put on key")
    if ev:
        check("watch key: put event", isinstance(ev, etcd3.events.PutEvent), ev)
        eq("watch key: put event fields", (b"py/w/k", b"v1", rput, rput, 1),
           (ev.key, ev.value, ev.mod_revision, ev.create_revision, ev.version))
    ev = next_event(events, "delete on key")
    if ev:
        check("watch key: delete event", isinstance(ev, etcd3.events.DeleteEvent), ev)
        eq("watch key: delete event revision", (b"py/w/k", rput + 1),
           (ev.key, ev.mod_revision))
    cancel()

    # A prefix, with prev_kv.
    client.put("py/w/p/a", "old")
    events, cancel = client.watch_prefix("py/w/p/", prev_kv=True)
    client.put("py/w/q", "outside")
    client.put("py/w/p/a", "new")
    client.put("py/w/p/b", "bee")
    ev = next_event(events, "prefix put with prev_kv")
    if ev:
        eq("watch prefix prev_kv", (b"py/w/p/a", b"new", b"old"),
           (ev.key, ev.value, ev.prev_value))
    ev = next_event(events, "second prefix put")
    if ev:
        eq("watch prefix second key", (b"py/w/p/b", b"bee"), (ev.key, ev.value))
    cancel()

    # From a past revision: history first.
    r1 = rev_of(client.put("py/w/h", "h1"))
    client.put("py/w/h", "h2")
    events, cancel = client.watch("py/w/h", start_revision=r1)
    got = []
    for _ in range(2):
        ev = next_event(events, "history replay")
        if ev:
            got.append((ev.value, ev.mod_revision))
    eq("watch start_revision replays history", [(b"h1", r1), (b"h2", r1 + 1)], got)
    cancel()

    # Callback form with watch_response: the header revision of an event response.
    responses = queue.Queue()
    wid = client.add_watch_callback("py/w/cb", responses.put)
    rcb = rev_of(client.put("py/w/cb", "c"))
    try:
        resp = responses.get(timeout=WAIT_S)
        eq("watch callback response header and event", (rcb, b"c"),
           (resp.header.revision, resp.events[0].value))
    except queue.Empty:
        check("watch callback delivers", False, "nothing within %d s" % WAIT_S)
    client.cancel_watch(wid)
    # watch_once with a bound.
    threading.Timer(0.2, lambda: client.put("py/w/once", "1")).start()
    try:
        ev = client.watch_once("py/w/once", timeout=WAIT_S)
        eq("watch_once", b"1", ev.value)
    except etcd3.exceptions.WatchTimedOut:
        check("watch_once", False, "timed out")


def lease(client):
    lease_obj = client.lease(60)
    check("lease granted with id", lease_obj.id != 0, lease_obj.id)
    eq("lease granted TTL", 60, lease_obj.ttl)
    client.put("py/l/a", "va", lease=lease_obj)
    client.put("py/l/b", "vb", lease=lease_obj.id)
    _, meta = client.get("py/l/a")
    eq("key carries the lease", lease_obj.id, meta.lease_id)
    eq("lease keys", [b"py/l/a", b"py/l/b"], sorted(lease_obj.keys))
    eq("lease granted_ttl", 60, lease_obj.granted_ttl)
    check("lease remaining_ttl in (0, 60]", 0 < lease_obj.remaining_ttl <= 60,
          lease_obj.remaining_ttl)
    resps = lease_obj.refresh()
    eq("keep-alive answers with the id and TTL", [(lease_obj.id, 60)],
       [(r.ID, r.TTL) for r in resps])
    lease_obj.revoke()
    eq("revoke deletes the keys", (None, None),
       (client.get("py/l/a")[0], client.get("py/l/b")[0]))
    info = client.get_lease_info(lease_obj.id)
    eq("time-to-live of a revoked lease is -1", -1, info.TTL)

    fixed = client.lease(30, lease_id=0x1234cafe)
    eq("lease with a chosen id", 0x1234cafe, fixed.id)
    fixed.revoke()

    short = client.lease(2)
    client.put("py/l/exp", "x", lease=short)
    eq("leased key present", b"x", client.get("py/l/exp")[0])
    check("leased key disappears when the lease expires (bounded)",
          poll(lambda: client.get("py/l/exp")[0] is None, tries=300))


def maintenance(client, member_name, peer_url, endpoint):
    st = client.status()
    check("status version non-empty", len(st.version) > 0, st.version)
    check("status db size > 0", st.db_size > 0, st.db_size)
    check("status raft index, term", st.raft_index >= 1 and st.raft_term >= 1,
          (st.raft_index, st.raft_term))
    members = list(client.members)
    eq("one member", 1, len(members))
    if members:
        m = members[0]
        eq("member name", member_name, m.name)
        eq("member peer URLs", [peer_url], list(m.peer_urls))
        eq("member client URLs", [endpoint], list(m.client_urls))
        check("status leader is the member", st.leader is not None and st.leader.id == m.id,
              st.leader)
    eq("no alarms", [], list(client.list_alarms()))
    h1 = client.hash()
    eq("hash is stable without writes", h1, client.hash())
    r1 = rev_of(client.put("py/c/k", "a"))
    client.put("py/c/k", "b")
    r3 = rev_of(client.put("py/c/k", "c"))
    client.compact(r3 - 1)
    try:
        raw_range(client, b"py/c/k", revision=r1)
        check("range at a compacted revision fails", False, "no error")
    except grpc.RpcError as err:
        eq("range at a compacted revision: code and message",
           (grpc.StatusCode.OUT_OF_RANGE, "etcdserver: mvcc: required revision has been compacted"),
           (err.code(), err.details()))
    # etcd creates the watch, then cancels it with compact_revision; python-etcd3 turns
    # that into RevisionCompactedError, raised by add_watch_callback or passed to the
    # callback depending on which response carries it.
    got = queue.Queue()
    try:
        wid = client.add_watch_callback("py/c/k", got.put, start_revision=r1)
        try:
            err = got.get(timeout=WAIT_S)
        except queue.Empty:
            err = "nothing within %d s" % WAIT_S
        client.cancel_watch(wid)
    except etcd3.exceptions.RevisionCompactedError as exc:
        err = exc
    check("watch from a compacted revision is cancelled",
          isinstance(err, etcd3.exceptions.RevisionCompactedError), repr(err))
    if isinstance(err, etcd3.exceptions.RevisionCompactedError):
        eq("watch cancel carries the compact revision", r3 - 1, err.compacted_revision)
    client.defragment()
    eq("data after defragment", b"c", client.get("py/c/k")[0])
    buf = io.BytesIO()
    client.snapshot(buf)
    check("snapshot streams a non-empty file", len(buf.getvalue()) > 0, len(buf.getvalue()))


def main():
    host, port, member_name, peer_url = sys.argv[1:5]
    endpoint = "http://%s:%s" % (host, port)
    client = etcd3.client(host=host, port=int(port), timeout=10)
    steps = (("kv get/put", lambda: kv_get(client)),
             ("kv delete", lambda: kv_delete(client)),
             ("txn", lambda: kv_txn(client)),
             ("watch", lambda: watch(client)),
             ("lease", lambda: lease(client)),
             ("status and maintenance",
              lambda: maintenance(client, member_name, peer_url, endpoint)))
    for name, step in steps:
        print("== " + name, file=sys.stderr)
        try:
            step()
        except Exception as exc:  # pylint: disable=broad-except
            check(name + " raised no exception", False, repr(exc))
    # No client.close(): python-etcd3's watch thread would raise on the closed channel.
    if FAILURES:
        print("%d check(s) failed:" % len(FAILURES), file=sys.stderr)
        for f in FAILURES:
            print("  " + f, file=sys.stderr)
        return 1
    print("all checks passed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
