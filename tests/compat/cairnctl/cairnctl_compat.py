#!/usr/bin/python3
"""cairnctl against etcdctl 3.4, command by command (label compat).

Two servers with the same identity are started on free 127.0.0.1 ports: A is etcd 3.4 (the
reference) and B is the server under test (etcd 3.4 too by default; cairnd once it exists).
Every command is run in lock step: etcdctl against A, cairnctl against B, so both servers
always hold the same data and revisions, and the outputs are compared byte for byte after
mapping what legitimately differs (ports, lease IDs and added member IDs, which servers make
from the clock, and 'took' durations). Then: -w json parses and carries etcd's field names,
failover (first endpoint a closed port), usage errors, watch and keep-alive until Ctrl-C,
snapshot files read by both tools, and a real two-member cluster (a learner that cairnctl
adds and promotes, --cluster commands, move-leader to the other member).

usage: cairnctl_compat.py CAIRNCTL [SERVER_B]
Never: a fixed sleep as synchronisation (every wait polls a condition, bounded), a signal
to a process it did not start, a port outside 127.0.0.1.
"""
import base64
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

CAIRNCTL = sys.argv[1]
ETCD = "/usr/bin/etcd"
SERVER_B = sys.argv[2] if len(sys.argv) > 2 else ETCD
ETCDCTL = "/usr/bin/etcdctl"
TMP = tempfile.mkdtemp(prefix="cairnctl-compat.")
PROCS = []  # (Popen) we started; only these are ever signalled
FAILS = []
CHECKS = [0]
ENV = {k: v for k, v in os.environ.items()
       if not k.startswith(("ETCDCTL_", "CAIRNCTL_")) and "proxy" not in k.lower()}
ENV["ETCDCTL_API"] = "3"
ENV["NO_PROXY"] = ENV["no_proxy"] = "127.0.0.1,localhost"


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def check(desc, ok, detail=""):
    CHECKS[0] += 1
    if ok:
        print(f"ok: {desc}", flush=True)
    else:
        print(f"FAIL: {desc}\n{detail}", flush=True)
        FAILS.append(desc)
    return ok


def sigint_default():
    """Children get SIGINT's default action even when this script runs in the background of
    a non-interactive shell (which starts it with SIGINT ignored, inherited across exec)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def free_ports(n):
    socks, ports = [], []
    while len(ports) < n:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        p = s.getsockname()[1]
        if p not in (2379, 2380) and p not in ports:
            ports.append(p)
    for s in socks:
        s.close()
    return ports


class Server:
    """One single-member cluster. Both servers advertise the same (never dialled) peer URL and
    token, so etcd derives the same member and cluster IDs for them."""

    def __init__(self, name, binary):
        self.name, self.binary = name, binary
        self.data = os.path.join(TMP, name)
        self.log = os.path.join(TMP, name + ".log")
        self.proc = None

    def start(self, peer_advertise=None, extra=()):
        """peer_advertise None: advertise the peer URL it listens on (a real cluster)."""
        fixed = peer_advertise
        for attempt in range(5):
            self.client_port, self.peer_port = free_ports(2)
            peer_advertise = fixed or f"http://127.0.0.1:{self.peer_port}"
            self.ep = f"127.0.0.1:{self.client_port}"
            shutil.rmtree(self.data, ignore_errors=True)
            with open(self.log, "ab") as lf:
                self.proc = subprocess.Popen(
                    [self.binary, "--name", "n1", "--data-dir", self.data,
                     "--listen-client-urls", "http://" + self.ep,
                     "--advertise-client-urls", "http://" + self.ep,
                     "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
                     "--initial-advertise-peer-urls", peer_advertise,
                     "--initial-cluster", "n1=" + peer_advertise,
                     "--initial-cluster-token", "cairnctl-compat",
                     "--initial-cluster-state", "new", *extra],
                    stdout=lf, stderr=lf, env=ENV, preexec_fn=sigint_default)
            PROCS.append(self.proc)
            for _ in range(300):  # bounded: 30 s
                if self.proc.poll() is not None:
                    break
                r = subprocess.run([ETCDCTL, "--endpoints", self.ep, "--dial-timeout=1s",
                                    "--command-timeout=2s", "endpoint", "health"],
                                   capture_output=True, env=ENV)
                if r.returncode == 0:
                    log(f"{self.name}: {self.binary} pid {self.proc.pid} on {self.ep}")
                    return
                time.sleep(0.1)
            log(f"{self.name} did not come up (attempt {attempt + 1}); retrying on new ports")
            self.stop()
        raise SystemExit(f"FATAL: {self.name} never became healthy, see {self.log}")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Norm:
    """Replacements that make outputs of A and B comparable."""

    def __init__(self):
        self.pairs = []  # (bytes_from, bytes_to)

    def add(self, a_text, b_text, label):
        self.pairs.append((a_text.encode(), label.encode()))
        self.pairs.append((b_text.encode(), label.encode()))

    def map_id(self, a_id, b_id, label):
        """An ID that differs between the servers, in every spelling etcdctl uses: %x, %016x,
        %16x (space padded) and decimal. All hex forms get one label, so an ID with a leading
        zero digit lines up with one without; longer forms are replaced first."""
        for fmt in ("{:016x}", "{:x}", "{:>16x}"):
            self.add(fmt.format(a_id), fmt.format(b_id), label + "hex")
        self.add(f"{a_id:d}", f"{b_id:d}", label + "dec")

    def __call__(self, data):
        for frm, to in sorted(self.pairs, key=lambda p: -len(p[0])):
            data = data.replace(frm, to)
        data = re.sub(rb"took = \S+", b"took = T", data)
        data = re.sub(rb'"took":"[^"]*"', b'"took":"T"', data)
        data = re.sub(rb'"Took" : \S+', b'"Took" : T', data)
        data = re.sub(rb"\| +[0-9.]+(ms|\xc2\xb5s|s|ns) +\|", b"| T |", data)
        return data


NORM = Norm()
A = Server("A", ETCD)
B = Server("B", SERVER_B)


def etcdctl(args, stdin=None, ep=None, timeout=60):
    return subprocess.run([ETCDCTL, "--endpoints", ep or A.ep, "--dial-timeout=2s",
                           "--command-timeout=10s", *args],
                          input=stdin, capture_output=True, env=ENV, timeout=timeout)


def cairnctl(args, stdin=None, ep=None, timeout=60):
    return subprocess.run([CAIRNCTL, "--endpoints", ep or B.ep, "--dial-timeout=2s",
                           "--command-timeout=10s", *args],
                          input=stdin, capture_output=True, env=ENV, timeout=timeout)


def etcd_log_lines_dropped(err):
    """etcdctl also writes its client's JSON log lines to stderr; they are not output."""
    return b"".join(l for l in err.splitlines(True) if not l.startswith(b'{"level"'))


def squeeze_table(data):
    """A table whose cell widths follow a duration: compare it with runs of '-' and ' '
    squeezed (the durations themselves are already masked)."""
    return re.sub(rb" +", b" ", re.sub(rb"-+", b"-", data))


def lockstep(args, stdin=None, stderr=False, same_rc=True, desc=None, squeeze=False):
    """Run args with both tools on their servers; compare stdout (and stderr if asked).
    After the failover section the servers are no longer in step: no lockstep there."""
    desc = desc or " ".join(args)
    a = etcdctl(args, stdin)
    b = cairnctl(args, stdin)
    out_a, out_b = NORM(a.stdout), NORM(b.stdout)
    if squeeze:
        out_a, out_b = squeeze_table(out_a), squeeze_table(out_b)
    check(f"same stdout: {desc}", out_a == out_b,
          f"--- etcdctl\n{out_a.decode(errors='replace')}--- cairnctl\n"
          f"{out_b.decode(errors='replace')}--- cairnctl stderr\n"
          f"{b.stderr.decode(errors='replace')}")
    if stderr:
        err_a = NORM(etcd_log_lines_dropped(a.stderr))
        err_b = NORM(b.stderr)
        check(f"same stderr: {desc}", err_a == err_b,
              f"--- etcdctl\n{err_a.decode(errors='replace')}--- cairnctl\n"
              f"{err_b.decode(errors='replace')}")
    if same_rc:
        check(f"same success: {desc} ({a.returncode}/{b.returncode})",
              (a.returncode == 0) == (b.returncode == 0), b.stderr.decode(errors="replace"))
    if "json" in args and b.returncode == 0 and b.stdout.strip():
        for line in b.stdout.splitlines():
            try:
                json.loads(line)
            except ValueError as e:
                check(f"-w json parses: {desc}", False, f"{e}: {line!r}")
                break
    return a, b


def readline_within(p, limit_s=15):
    """One line of p's stdout, or b"" if none came within limit_s (bounded wait)."""
    buf = b""
    deadline = time.monotonic() + limit_s
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([p.stdout], [], [], left)[0]:
            return buf
        c = os.read(p.stdout.fileno(), 1)
        if not c:
            return buf
        buf += c
    return buf


def compare(a, b, desc):
    out_a, out_b = NORM(a.stdout), NORM(b.stdout)
    check(f"same stdout: {desc}", out_a == out_b,
          f"--- etcdctl\n{out_a.decode(errors='replace')}--- cairnctl\n"
          f"{out_b.decode(errors='replace')}--- cairnctl stderr\n"
          f"{b.stderr.decode(errors='replace')}")
    check(f"same success: {desc}", (a.returncode == 0) == (b.returncode == 0))


def json_of(p):
    return json.loads(p.stdout)


def has_fields(obj, names):
    return all(n in obj for n in names)


HEADER = ("cluster_id", "member_id", "revision", "raft_term")


# ------------------------------------------------------------------------------------ kv
def section_kv():
    log("== get put del")
    for k, v in (("a", "1"), ("b", "2"), ("c", "3"), ("dir/x", "x1"), ("dir/y", "y1"),
                 ("sp ace", "va lue"), ("uni\u00e9", "\u2028<&>")):
        lockstep(["put", k, v])
    lockstep(["put", "a", "10", "--prev-kv"])
    lockstep(["put", "a", "11", "--prev-kv", "-w", "json"])
    lockstep(["put", "a", "12", "--prev-kv", "-w", "fields"])
    lockstep(["put", "a", "--ignore-value", "-w", "json"])
    lockstep(["put", "fromstdin"], stdin=b"value from stdin\n")
    for w in ("simple", "json", "fields"):
        lockstep(["get", "a", "-w", w])
        lockstep(["get", "dir/", "--prefix", "-w", w])
        lockstep(["get", "", "--from-key", "--limit", "3", "-w", w])
        lockstep(["get", "a", "c", "--sort-by=VALUE", "--order=DESCEND", "-w", w])
        lockstep(["get", "nosuchkey", "-w", w])
        lockstep(["get", "uni\u00e9", "-w", w])
    lockstep(["get", "", "--prefix", "--keys-only"])
    lockstep(["get", "a", "--rev", "3"])
    lockstep(["get", "dir/", "--prefix", "--print-value-only"])
    lockstep(["get", "a", "--consistency=s"])
    lockstep(["get", "a", "--hex"])
    lockstep(["get", "dir/", "--prefix", "--hex", "-w", "fields"])
    lockstep(["get", "", "--prefix", "--sort-by=CREATE", "--order=ASCEND", "--limit", "2"])
    lockstep(["get", "", "--prefix", "--sort-by=MODIFY", "--order=DESCEND", "--limit", "2"])
    lockstep(["get", "", "--prefix", "--sort-by=VERSION"])
    lockstep(["get", "a", "-w", "table"], stderr=True)
    lockstep(["get", "a", "--rev", "99999"], stderr=True)  # future revision: server's words
    lockstep(["del", "dir/x", "--prev-kv"])
    lockstep(["del", "dir/", "--prefix", "--prev-kv", "-w", "json"])
    lockstep(["del", "nosuchkey", "-w", "fields"])
    lockstep(["put", "z1", "1"])
    lockstep(["put", "z2", "2"])
    lockstep(["del", "z", "--from-key", "-w", "json"])
    lockstep(["put", "r1", "1"])
    lockstep(["put", "r2", "2"])
    lockstep(["del", "r1", "r3"])

    b = cairnctl(["get", "a", "-w", "json"])
    d = json_of(b)
    check("get -w json: etcd's field names",
          has_fields(d, ("header", "kvs", "count")) and has_fields(d["header"], HEADER)
          and has_fields(d["kvs"][0], ("key", "create_revision", "mod_revision", "version",
                                       "value"))
          and base64.b64decode(d["kvs"][0]["key"]) == b"a", b.stdout.decode())
    d = json_of(cairnctl(["put", "j", "v", "--prev-kv", "-w", "json"]))
    etcdctl(["put", "j", "v"])
    check("put -w json: header", has_fields(d, ("header",)) and has_fields(d["header"], HEADER))
    d = json_of(cairnctl(["del", "j", "--prev-kv", "-w", "json"]))
    etcdctl(["del", "j"])
    check("del -w json: deleted, prev_kvs",
          d.get("deleted") == 1 and base64.b64decode(d["prev_kvs"][0]["value"]) == b"v")


# ----------------------------------------------------------------------------------- txn
TXNS = [
    b'mod("a") > "0"\nvalue("b") = "2"\n\nput a x\nget b\n\ndel c --prev-kv\n\n',
    b'value("b") = "3"\n\nput a z\n\nget a --prefix\nput q r\n\n',
    b'ver("a") = "99"\ncreate("b") != "0"\n\nput "sp ace" "a b"\n\ndel "sp ace" --prev-kv\n'
    b'get "" --from-key --limit 2\n\n',
]


def section_txn():
    log("== txn")
    for t in TXNS:
        for w in ("simple", "json", "fields"):
            lockstep(["txn", "-w", w], stdin=t)
    lockstep(["txn", "-i"], stdin=b'c("a") > "0"\n\nput ti 1\n\nput ti 2\n\n')
    d = json_of(cairnctl(["txn", "-w", "json"], stdin=b'\nget a\n\n\n'))
    etcdctl(["txn", "-w", "json"], stdin=b'\nget a\n\n\n')
    check("txn -w json: succeeded, responses[].Response.ResponseRange",
          d.get("succeeded") is True and "ResponseRange" in d["responses"][0]["Response"])
    b = cairnctl(["txn"], stdin=b'bogus("a") = "1"\n\n\n\n')
    check("txn: malformed compare is a usage error (exit 2, Error: first)",
          b.returncode == 2 and b.stderr.startswith(b"Error: malformed comparison"))


# --------------------------------------------------------------------------------- lease
def section_lease():
    log("== lease")
    def grant(args, id_of, label):
        a, b = etcdctl(args), cairnctl(args)
        NORM.map_id(id_of(a), id_of(b), label)  # IDs come from the clock: map, then compare
        compare(a, b, " ".join(args))
        return id_of(a), id_of(b), b
    l1a, l1b, _ = grant(["lease", "grant", "600"], lambda p: int(p.stdout.split()[1], 16),
                        "LEASE1-")
    l2a, l2b, b = grant(["lease", "grant", "600", "-w", "json"], lambda p: json_of(p)["ID"],
                        "LEASE2-")
    check("lease grant -w json: ID, TTL, Error, header fields inline",
          has_fields(json_of(b), ("ID", "TTL", "Error", "cluster_id", "member_id", "revision")))
    check("lease list -w json: leases[].id",
          has_fields(json_of(cairnctl(["lease", "list", "-w", "json"]))["leases"][0], ("id",)))
    ida, idb, _ = grant(["lease", "grant", "600", "-w", "fields"],
                     lambda p: int(re.search(rb'"ID" : (\d+)', p.stdout).group(1)), "LEASE3-")
    la, lb = f"{ida:x}", f"{idb:x}"
    for w in ("simple", "json", "fields"):
        lockstep(["lease", "list", "-w", w])
    # attach a key, then the same argument differs per server: run each side by hand
    def both(args_a, args_b, desc, stdin=None):
        a = etcdctl(args_a, stdin)
        b = cairnctl(args_b, stdin)
        check(f"same stdout: {desc}", NORM(a.stdout) == NORM(b.stdout),
              f"--- etcdctl\n{NORM(a.stdout).decode()}--- cairnctl\n{NORM(b.stdout).decode()}"
              f"--- cairnctl stderr\n{b.stderr.decode()}")
        check(f"same success: {desc}", (a.returncode == 0) == (b.returncode == 0))
        return a, b
    both(["put", "lk", "lv", "--lease", la], ["put", "lk", "lv", "--lease", lb], "put --lease")
    for w in ("simple", "json", "fields"):
        both(["lease", "timetolive", la, "-w", w], ["lease", "timetolive", lb, "-w", w],
             f"lease timetolive -w {w}")
        both(["lease", "timetolive", la, "--keys", "-w", w],
             ["lease", "timetolive", lb, "--keys", "-w", w], f"lease timetolive --keys -w {w}")
        both(["lease", "keep-alive", "--once", la, "-w", w],
             ["lease", "keep-alive", "--once", lb, "-w", w], f"lease keep-alive --once -w {w}")
    d = json_of(cairnctl(["lease", "timetolive", lb, "--keys", "-w", "json"]))
    check("lease timetolive -w json: id, ttl, granted-ttl, keys",
          has_fields(d, ("id", "ttl", "granted-ttl", "keys")) and
          base64.b64decode(d["keys"][0]) == b"lk")
    both(["get", "lk", "-w", "json"], ["get", "lk", "-w", "json"], "get a key with a lease")
    # keep-alive until Ctrl-C: cairnctl renews and ends with status 0
    p = subprocess.Popen([CAIRNCTL, "--endpoints", B.ep, "lease", "keep-alive", lb],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
                         preexec_fn=sigint_default)
    PROCS.append(p)
    line = readline_within(p)
    out, err, ended = interrupt_read(p)
    check("lease keep-alive: renews, then exits 0 on Ctrl-C",
          line.startswith(f"lease {idb:016x} keepalived with TTL(600)".encode()) and ended and
          p.returncode == 0, (line + out + err).decode())
    both(["lease", "revoke", la], ["lease", "revoke", lb], "lease revoke")
    both(["lease", "revoke", la], ["lease", "revoke", lb], "lease revoke twice (error)")
    both(["lease", "revoke", la, "-w", "json"], ["lease", "revoke", lb, "-w", "json"],
         "lease revoke -w json (error)")
    both(["lease", "timetolive", la], ["lease", "timetolive", lb], "timetolive of a revoked lease")
    both(["lease", "timetolive", la, "-w", "json"], ["lease", "timetolive", lb, "-w", "json"],
         "timetolive -w json of a revoked lease")
    both(["lease", "keep-alive", la], ["lease", "keep-alive", lb],
         "keep-alive of a revoked lease ends at once")
    b = cairnctl(["lease", "keep-alive", "--once", lb])
    check("keep-alive --once of a revoked lease: one Error line, exit 1",
          b.returncode == 1 and b.stderr == b"Error: etcdserver: requested lease not found\n",
          b.stderr.decode())
    for w in ("simple", "json"):
        lockstep(["lease", "list", "-w", w])
    # the other two leases go too, so no lease can expire during the rest of the run
    for xa, xb in ((l1a, l1b), (l2a, l2b)):
        compare(etcdctl(["lease", "revoke", f"{xa:x}"]), cairnctl(["lease", "revoke", f"{xb:x}"]),
                "lease revoke")
    lockstep(["lease", "list"])


# -------------------------------------------------------------------------------- member
def section_member():
    log("== member")
    for w in ("simple", "json", "table", "fields"):
        lockstep(["member", "list", "-w", w])
    d = json_of(cairnctl(["member", "list", "-w", "json"]))
    check("member list -w json: ID, name, peerURLs, clientURLs",
          has_fields(d, ("header", "members")) and
          has_fields(d["members"][0], ("ID", "name", "peerURLs", "clientURLs")))
    # peer URLs nobody listens on: learners that stay unstarted. Each add uses a new URL:
    # etcd 3.4 may answer "member not found" to re-adding a just removed member's URL.
    args = ["member", "add", "learner1", "--peer-urls", "http://127.0.0.1:1", "--learner"]
    a, b = etcdctl(args), cairnctl(args)
    ida, idb = int(a.stdout.split()[1], 16), int(b.stdout.split()[1], 16)
    NORM.map_id(ida, idb, "MEMBER1-")  # IDs of added members come from the clock
    compare(a, b, " ".join(args))
    for w in ("simple", "json", "table", "fields"):
        lockstep(["member", "list", "-w", w])
    # the learner never caught up: promote fails with the server's message on both
    def both(suffix, desc, stderr=False):
        a = etcdctl(suffix(f"{ida:x}"))
        b = cairnctl(suffix(f"{idb:x}"))
        check(f"same stdout: {desc}", NORM(a.stdout) == NORM(b.stdout),
              f"--- etcdctl\n{NORM(a.stdout).decode()}--- cairnctl\n{NORM(b.stdout).decode()}")
        check(f"same success: {desc}", (a.returncode == 0) == (b.returncode == 0))
        if stderr:
            check(f"same stderr: {desc}",
                  NORM(etcd_log_lines_dropped(a.stderr)) == NORM(b.stderr),
                  f"{a.stderr.decode()}\n{b.stderr.decode()}")
    both(lambda i: ["member", "promote", i], "member promote (not in sync)", stderr=True)
    both(lambda i: ["member", "update", i, "--peer-urls", "http://127.0.0.1:2"], "member update")
    both(lambda i: ["member", "update", i, "--peer-urls", "http://127.0.0.1:3", "-w", "json"],
         "member update -w json")
    both(lambda i: ["member", "remove", i, "-w", "json"], "member remove -w json")
    both(lambda i: ["member", "remove", i], "member remove again (error)", stderr=True)
    args = ["member", "add", "learner2", "--peer-urls", "http://127.0.0.1:4", "--learner", "-w",
            "json"]
    a, b = etcdctl(args), cairnctl(args)
    ida, idb = json_of(a)["member"]["ID"], json_of(b)["member"]["ID"]
    NORM.map_id(ida, idb, "MEMBER2-")
    compare(a, b, " ".join(args))
    check("member add -w json: member, members",
          has_fields(json_of(b), ("header", "member", "members")))
    both(lambda i: ["member", "remove", i], "member remove")
    lockstep(["member", "list"])
    b = cairnctl(["member", "add", "x"])
    check("member add without --peer-urls: usage error",
          b.returncode == 2 and b.stderr.startswith(b"Error: member peer urls not provided"))


# ------------------------------------------------------------------------------ endpoint
def section_endpoint():
    log("== endpoint, compaction, defrag, alarm, move-leader")
    # db size depends on when each backend last committed: compare everything else
    def no_size(data):
        data = re.sub(rb"\b\d+(\.\d)? [kMGTPE]?B\b", b"SIZE", data)
        data = re.sub(rb'("dbSize(?:InUse)?":)\d+', rb"\1SIZE", data)
        return re.sub(rb'("DBSize" : )\d+', rb"\1SIZE", data)
    for w in ("simple", "json", "table", "fields"):
        for cluster in ([], ["--cluster"]):
            a = etcdctl(["endpoint", "status", "-w", w, *cluster])
            b = cairnctl(["endpoint", "status", "-w", w, *cluster])
            na, nb = no_size(NORM(a.stdout)), no_size(NORM(b.stdout))
            check(f"same stdout but the db size: endpoint status -w {w} {' '.join(cluster)}",
                  na == nb and b.returncode == 0, f"{na.decode()}\n{nb.decode()}")
    d = json_of(cairnctl(["endpoint", "status", "-w", "json"]))
    check("endpoint status -w json: Endpoint, Status{version, dbSize, leader, raftIndex, ...}",
          has_fields(d[0], ("Endpoint", "Status")) and
          has_fields(d[0]["Status"], ("header", "version", "dbSize", "leader", "raftIndex",
                                      "raftTerm", "raftAppliedIndex", "dbSizeInUse")))
    for w in ("simple", "json", "table", "fields"):
        # the full hash covers the leased keys, whose lease IDs differ between A and B: ask
        # the same server with both tools
        compare(etcdctl(["endpoint", "hashkv", "-w", w], ep=B.ep),
                cairnctl(["endpoint", "hashkv", "-w", w]), f"endpoint hashkv -w {w} (same server)")
        lockstep(["endpoint", "hashkv", "-w", w, "--cluster", "--rev", "5"])
        lockstep(["endpoint", "health", "-w", w], stderr=True, squeeze=w == "table")
    lockstep(["endpoint", "health", "--cluster"], stderr=True)
    d = json_of(cairnctl(["endpoint", "hashkv", "-w", "json"]))
    check("endpoint hashkv -w json: Endpoint, HashKV{hash}",
          has_fields(d[0], ("Endpoint", "HashKV")) and "hash" in d[0]["HashKV"])
    d = json_of(cairnctl(["endpoint", "health", "-w", "json"]))
    check("endpoint health -w json: endpoint, health, took",
          has_fields(d[0], ("endpoint", "health", "took")) and d[0]["health"] is True)

    rev = json_of(cairnctl(["get", "a", "-w", "json"]))["header"]["revision"]
    lockstep(["compaction", str(rev - 5)])
    lockstep(["compaction", str(rev - 5)], stderr=True)  # already compacted: server's words
    lockstep(["compaction", "--physical", str(rev - 3)])
    lockstep(["get", "a", "--rev", "2"], stderr=True)
    # a compacted start revision: both print the cancel reason and stop with an error
    lockstep(["watch", "w", "--rev", "2"], stderr=True)
    lockstep(["defrag"])
    lockstep(["defrag", "--cluster"])

    for w in ("simple", "json"):
        lockstep(["alarm", "list", "-w", w])
    # raise a NOSPACE alarm through the Maintenance API on both servers
    import grpc
    from etcd3 import etcdrpc
    for srv in (A, B):
        ch = grpc.insecure_channel(srv.ep)
        st = etcdrpc.MaintenanceStub(ch).Status(etcdrpc.StatusRequest(), timeout=10)
        etcdrpc.MaintenanceStub(ch).Alarm(etcdrpc.AlarmRequest(
            action=etcdrpc.AlarmRequest.ACTIVATE, memberID=st.header.member_id,
            alarm=etcdrpc.NOSPACE), timeout=10)
        ch.close()
    for w in ("simple", "json"):
        lockstep(["alarm", "list", "-w", w])
    # etcdctl 3.4 dies on -w fields here (the Alarm response has no header); cairnctl prints
    b = cairnctl(["alarm", "list", "-w", "fields"])
    check("alarm list -w fields", b.returncode == 0 and
          b'"AlarmType" : NOSPACE' in b.stdout and b'"MemberID" : ' in b.stdout, b.stdout.decode())
    d = json_of(cairnctl(["alarm", "list", "-w", "json"]))
    check("alarm list -w json: alarms[].memberID, alarm",
          has_fields(d["alarms"][0], ("memberID", "alarm")) and d["alarms"][0]["alarm"] == 1)
    lockstep(["endpoint", "health"], stderr=True)  # an alarm makes it unhealthy
    lockstep(["put", "blocked", "x"], stderr=True)  # NOSPACE: the server refuses writes
    lockstep(["alarm", "disarm"])
    lockstep(["alarm", "list"])
    lockstep(["alarm", "disarm", "-w", "json"])

    leader = json_of(cairnctl(["endpoint", "status", "-w", "json"]))[0]["Status"]["leader"]
    lockstep(["move-leader", f"{leader:x}"])
    lockstep(["move-leader", f"{leader:x}", "-w", "json"])
    lockstep(["move-leader", "1234"], stderr=True)  # not a member: server's words


# -------------------------------------------------------------------------------- watch
def interrupt(p, limit_s=20):
    """Ctrl-C, then a bounded wait; a process still running after it is killed. Returns
    True if it ended by itself."""
    p.send_signal(signal.SIGINT)
    try:
        p.wait(timeout=limit_s)
        return True
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return False


def interrupt_read(p, limit_s=20):
    """Ctrl-C a process whose output is piped; returns (stdout, stderr, ended_by_itself)."""
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=limit_s)
        return out, err, True
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return out, err, False


def wait_lines(path, n, limit_s=15):
    for _ in range(int(limit_s * 10)):
        with open(path, "rb") as f:
            if f.read().count(b"\n") >= n:
                return True
        time.sleep(0.1)
    return False


def section_watch():
    log("== watch")
    base = json_of(cairnctl(["get", "a", "-w", "json"]))["header"]["revision"]
    # lines printed after each of the three events (put, put, delete), cumulative
    cases = [([], (3, 6, 9)), (["--prev-kv"], (3, 8, 13)), (["-w", "json"], (1, 2, 3)),
             (["-w", "fields"], (11, 22, 33)), (["-w", "fields", "--prev-kv"], (11, 28, 45))]
    procs = []
    for i, (flags, lines) in enumerate(cases):
        for tool, ep, name in ((ETCDCTL, A.ep, "a"), (CAIRNCTL, B.ep, "b")):
            path = os.path.join(TMP, f"watch{i}{name}.out")
            f = open(path, "wb")
            p = subprocess.Popen([tool, "--endpoints", ep, "watch", "w", "--prefix", "--rev",
                                  str(base + 1), *flags], stdout=f, stderr=subprocess.PIPE,
                                 env=ENV, preexec_fn=sigint_default)
            PROCS.append(p)
            procs.append((i, name, p, path, lines, f))
    # Each event is printed everywhere before the next is made, so every watch response
    # carries one event on both servers (-w json and fields print per response).
    for step, args in enumerate((["put", "w1", "x"], ["put", "w1", "y"], ["del", "w1"])):
        lockstep(args)
        for i, name, p, path, lines, f in procs:
            wait_lines(path, lines[step])
    for i, name, p, path, lines, f in procs:
        p.send_signal(signal.SIGINT)
    for i, name, p, path, lines, f in procs:
        if not interrupt(p) and name == "b":
            check(f"watch case {i}: cairnctl ended on Ctrl-C", False)
        f.close()
    for i, (flags, lines) in enumerate(cases):
        pa = [x for x in procs if x[0] == i and x[1] == "a"][0]
        pb = [x for x in procs if x[0] == i and x[1] == "b"][0]
        oa, ob = open(pa[3], "rb").read(), open(pb[3], "rb").read()
        check(f"watch {' '.join(flags)}: same events",
              NORM(oa) == NORM(ob) and oa.count(b"\n") == lines[-1],
              f"--- etcdctl\n{oa.decode()}--- cairnctl\n{ob.decode()}")
        check(f"watch {' '.join(flags)}: Ctrl-C ends cairnctl with status 0",
              pb[2].returncode == 0, pb[2].stderr.read().decode())
    for line in open(os.path.join(TMP, "watch2b.out"), "rb").read().splitlines():
        d = json.loads(line)
        check("watch -w json: Header, Events[].kv, CompactRevision, Canceled, Created",
              has_fields(d, ("Header", "Events", "CompactRevision", "Canceled", "Created")))
    # the command after "--" runs once per event, with etcdctl's environment
    outs = []
    for tool, ep, name in ((ETCDCTL, A.ep, "a"), (CAIRNCTL, B.ep, "b")):
        path = os.path.join(TMP, f"exec{name}.out")
        f = open(path, "wb")
        p = subprocess.Popen([tool, "--endpoints", ep, "watch", "e", "--rev", str(base + 1),
                              "--", "sh", "-c", 'echo "EXEC $ETCD_WATCH_REVISION '
                              '$ETCD_WATCH_EVENT_TYPE $ETCD_WATCH_KEY $ETCD_WATCH_VALUE"'],
                             stdout=f, stderr=subprocess.DEVNULL, env=ENV,
                             preexec_fn=sigint_default)
        PROCS.append(p)
        outs.append((p, path, f))
    lockstep(["put", "e", "ev"])
    for p, path, f in outs:
        wait_lines(path, 4)
        interrupt(p)
        f.close()
    oa, ob = open(outs[0][1], "rb").read(), open(outs[1][1], "rb").read()
    check("watch -- command: same output and environment", oa == ob and b"EXEC" in ob,
          f"{oa.decode()}\n{ob.decode()}")
    # interactive: a watch line on stdin, then events
    p = subprocess.Popen([CAIRNCTL, "--endpoints", B.ep, "watch", "-i"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
                         preexec_fn=sigint_default)
    PROCS.append(p)
    p.stdin.write(f"watch iw --rev {base + 1}\n".encode())
    p.stdin.flush()
    lockstep(["put", "iw", "1"])
    first = readline_within(p)
    out, err, ended = interrupt_read(p)
    check("watch -i: events of a watch created from stdin", first == b"PUT\n" and ended and
          out.startswith(b"iw\n1\n") and p.returncode == 0, (first + out + err).decode())


# ------------------------------------------------------------------------------ snapshot
def section_snapshot():
    log("== snapshot")
    sa, sb = os.path.join(TMP, "a.db"), os.path.join(TMP, "b.db")
    a = etcdctl(["snapshot", "save", sa])
    b = cairnctl(["snapshot", "save", sb])
    check("snapshot save: same stdout", NORM(a.stdout).replace(sa.encode(), b"F") ==
          NORM(b.stdout).replace(sb.encode(), b"F") and b.returncode == 0,
          f"{a.stdout.decode()}{b.stdout.decode()}{b.stderr.decode()}")
    check("snapshot save: progress on stderr", b"snapshot: fetched" in b.stderr, b.stderr.decode())
    check("snapshot save: no .part left", not os.path.exists(sb + ".part"))
    for f in (sa, sb):
        for w in ("simple", "json", "table", "fields"):
            a = subprocess.run([ETCDCTL, "snapshot", "status", f, "-w", w], capture_output=True,
                               env=ENV)
            b = subprocess.run([CAIRNCTL, "snapshot", "status", f, "-w", w],
                               capture_output=True, env=ENV)
            check(f"snapshot status -w {w} of {os.path.basename(f)}: same as etcdctl's",
                  a.stdout == b.stdout and a.returncode == 0 and b.returncode == 0,
                  f"{a.stdout.decode()}{a.stderr.decode()}{b.stdout.decode()}{b.stderr.decode()}")
    d = json.loads(subprocess.run([CAIRNCTL, "snapshot", "status", sb, "-w", "json"],
                                  capture_output=True, env=ENV).stdout)
    check("snapshot status -w json: hash, revision, totalKey, totalSize",
          has_fields(d, ("hash", "revision", "totalKey", "totalSize")))
    b = subprocess.run([CAIRNCTL, "snapshot", "status", os.path.join(TMP, "none.db")],
                       capture_output=True, env=ENV)
    check("snapshot status of a missing file: one Error line, exit 1",
          b.returncode == 1 and b.stderr.count(b"\n") == 1 and b.stderr.startswith(b"Error: "))
    b = subprocess.run([CAIRNCTL, "snapshot", "restore", sb, "--data-dir",
                        os.path.join(TMP, "restored")], capture_output=True, env=ENV)
    check("snapshot restore: verifies the file, then says it cannot build a cairn data dir yet",
          b.returncode == 1 and b"is valid" in b.stderr and b"store" in b.stderr, b.stderr.decode())
    bad = os.path.join(TMP, "bad.db")
    with open(sb, "rb") as src, open(bad, "wb") as dst:
        data = bytearray(src.read())
        data[5000] ^= 0xff
        dst.write(data)
    b = subprocess.run([CAIRNCTL, "snapshot", "restore", bad, "--data-dir",
                        os.path.join(TMP, "restored")], capture_output=True, env=ENV)
    check("snapshot restore: a damaged file fails the SHA-256 check",
          b.returncode == 1 and b"sha256" in b.stderr, b.stderr.decode())


# ------------------------------------------------------------------------------ failover
def section_failover():
    log("== failover: first endpoint a closed port")
    closed = free_ports(1)[0]
    eps = f"127.0.0.1:{closed},{B.ep}"
    cmds = [["get", "a"], ["put", "fo", "1"], ["get", "fo", "-w", "json"], ["del", "fo"],
            ["member", "list"], ["alarm", "list"], ["lease", "grant", "600"], ["lease", "list"],
            ["endpoint", "status", "--cluster"], ["endpoint", "health", "--cluster"],
            ["compaction", "1"], ["move-leader", "1"], ["snapshot", "save",
                                                        os.path.join(TMP, "fo.db")]]
    for args in cmds:
        t0 = time.monotonic()
        b = cairnctl(args, ep=eps)
        ok = b.returncode == 0 or (args[0] in ("compaction", "move-leader") and
                                   b.stderr.startswith(b"Error: etcdserver:"))
        check(f"failover: {' '.join(args)} reaches {B.ep} ({time.monotonic() - t0:.2f}s)", ok,
              b.stderr.decode())
    b = cairnctl(["txn"], stdin=b'\nput fo 2\n\n\n', ep=eps)
    check("failover: txn", b.returncode == 0 and b.stdout == b"SUCCESS\n\nOK\n", b.stderr.decode())
    for lid in cairnctl(["lease", "list"], ep=eps).stdout.split()[3:]:
        b = cairnctl(["lease", "keep-alive", "--once", lid.decode()], ep=eps)
        check("failover: lease keep-alive --once (a stream)", b.returncode == 0, b.stderr.decode())
        b = cairnctl(["lease", "revoke", lid.decode()], ep=eps)
        check("failover: lease revoke", b.returncode == 0, b.stderr.decode())
    rev = json_of(cairnctl(["get", "fw", "-w", "json"]))["header"]["revision"]
    p = subprocess.Popen([CAIRNCTL, "--endpoints", eps, "watch", "fw", "--rev", str(rev + 1)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
                         preexec_fn=sigint_default)
    PROCS.append(p)
    cairnctl(["put", "fw", "1"])
    first = readline_within(p)
    _, err, ended = interrupt_read(p)
    check("failover: watch streams from the next endpoint", first == b"PUT\n" and ended and
          p.returncode == 0, err.decode())
    closed2 = free_ports(1)[0]
    b = cairnctl(["get", "a"], ep=f"127.0.0.1:{closed},127.0.0.1:{closed2}")
    check("every endpoint down: one Error line naming both, exit 1",
          b.returncode == 1 and b.stderr.count(b"\n") == 1 and
          str(closed).encode() in b.stderr and str(closed2).encode() in b.stderr,
          b.stderr.decode())
    env = dict(ENV, ETCDCTL_ENDPOINTS=eps)
    b = subprocess.run([CAIRNCTL, "get", "a"], capture_output=True, env=env)
    check("ETCDCTL_ENDPOINTS with failover", b.returncode == 0 and b.stdout.startswith(b"a\n"))
    env = dict(ENV, ETCDCTL_ENDPOINTS=f"127.0.0.1:{closed2}", CAIRNCTL_ENDPOINTS=B.ep)
    b = subprocess.run([CAIRNCTL, "get", "a"], capture_output=True, env=env)
    check("CAIRNCTL_ENDPOINTS wins over ETCDCTL_ENDPOINTS", b.returncode == 0)


def section_cluster():
    """A real two-member cluster (C and a learner D that cairnctl adds and promotes): the
    cluster commands with real members, both tools asked the same server."""
    log("== a two-member cluster: member add/promote, --cluster, move-leader")
    c = Server("C", SERVER_B)
    c.start()
    d_client, d_peer = free_ports(2)
    d_ep = f"127.0.0.1:{d_client}"
    b = cairnctl(["member", "add", "d", "--peer-urls", f"http://127.0.0.1:{d_peer}",
                  "--learner"], ep=c.ep)
    env = dict(re.findall(rb'^(ETCD_[A-Z_]+)="(.*)"$', b.stdout, re.M))
    check("member add prints the new member's environment",
          b.returncode == 0 and env.get(b"ETCD_NAME") == b"d" and
          env.get(b"ETCD_INITIAL_CLUSTER_STATE") == b"existing", b.stdout.decode())
    d_id = int(b.stdout.split()[1], 16)
    d_log = open(os.path.join(TMP, "D.log"), "ab")
    d = subprocess.Popen([SERVER_B, "--name", "d", "--data-dir", os.path.join(TMP, "D"),
                          "--listen-client-urls", "http://" + d_ep,
                          "--advertise-client-urls", "http://" + d_ep,
                          "--listen-peer-urls", f"http://127.0.0.1:{d_peer}",
                          "--initial-advertise-peer-urls", f"http://127.0.0.1:{d_peer}",
                          "--initial-cluster", env.get(b"ETCD_INITIAL_CLUSTER", b"").decode(),
                          "--initial-cluster-state", "existing"],
                         stdout=d_log, stderr=d_log, env=ENV, preexec_fn=sigint_default)
    PROCS.append(d)
    try:
        promoted = None
        for _ in range(300):  # bounded: 30 s for the learner to catch up
            promoted = cairnctl(["member", "promote", f"{d_id:x}"], ep=c.ep)
            if promoted.returncode == 0 or d.poll() is not None:
                break
            time.sleep(0.1)
        cluster_id = json_of(cairnctl(["member", "list", "-w", "json"], ep=c.ep))["header"][
            "cluster_id"]
        check("member promote: the caught-up learner becomes a voter",
              promoted.returncode == 0 and promoted.stdout ==
              f"Member {d_id:16x} promoted in cluster {cluster_id:16x}\n".encode(),
              promoted.stdout.decode() + promoted.stderr.decode())
        for w in ("simple", "json", "table", "fields"):
            compare(etcdctl(["member", "list", "-w", w], ep=c.ep),
                    cairnctl(["member", "list", "-w", w], ep=c.ep), f"cluster: member list -w {w}")
        for _ in range(300):  # D serves once it has applied everything: bounded poll
            if cairnctl(["get", "x", "--consistency=s"], ep=d_ep).returncode == 0:
                break
            time.sleep(0.1)
        for w in ("simple", "json", "table"):
            a = etcdctl(["endpoint", "hashkv", "--cluster", "-w", w], ep=c.ep)
            b = cairnctl(["endpoint", "hashkv", "--cluster", "-w", w], ep=c.ep)
            compare(a, b, f"cluster: endpoint hashkv --cluster -w {w}")
        b = cairnctl(["endpoint", "status", "--cluster"], ep=c.ep)
        check("cluster: endpoint status --cluster lists both members",
              b.returncode == 0 and b.stdout.count(b"\n") == 2 and
              f"{d_id:x}".encode() in b.stdout, b.stdout.decode() + b.stderr.decode())
        b = cairnctl(["endpoint", "health", "--cluster"], ep=c.ep)
        check("cluster: endpoint health --cluster, both healthy",
              b.returncode == 0 and b.stderr.count(b"is healthy") == 2, b.stderr.decode())
        # move the leadership to D, then back, with both endpoints given (leader found)
        st = json_of(cairnctl(["endpoint", "status", "-w", "json"], ep=c.ep))[0]["Status"]
        c_id = st["header"]["member_id"]
        b = cairnctl(["move-leader", f"{d_id:x}"], ep=f"{c.ep},{d_ep}")
        check("move-leader: leadership goes to the other member",
              b.returncode == 0 and
              b.stdout == f"Leadership transferred from {c_id:x} to {d_id:x}\n".encode(),
              b.stdout.decode() + b.stderr.decode())
        st = json_of(cairnctl(["endpoint", "status", "-w", "json"], ep=d_ep))[0]["Status"]
        check("move-leader: D reports itself leader", st["leader"] == d_id)
    finally:
        if d.poll() is None:
            d.kill()
            d.wait()
        d_log.close()
        c.stop()


def section_usage():
    log("== usage errors, help, version")
    for args in (["get"], ["put"], ["del"], ["lease", "grant"], ["lease", "revoke", "zz"],
                 ["member", "remove"], ["compaction"], ["compaction", "x"], ["move-leader"],
                 ["snapshot", "save"], ["snapshot", "status"], ["watch"], ["txn", "x"],
                 ["get", "a", "--prefix", "--from-key"], ["get", "a", "--order=bad"],
                 ["get", "a", "--nosuchflag"], ["nosuchcommand"]):
        b = cairnctl(args)
        check(f"usage error exits 2 with the usage: {' '.join(args)}",
              b.returncode == 2 and b.stderr.startswith(b"Error: ") and b.stdout == b"",
              b.stderr.decode())
    b = cairnctl(["version"])
    check("version", b.returncode == 0 and b.stdout.endswith(b"API version: 3.4\n"))


def main():
    if not os.access(CAIRNCTL, os.X_OK):
        raise SystemExit(f"FATAL: {CAIRNCTL} is not executable")
    t0 = time.monotonic()
    peer = f"http://127.0.0.1:{free_ports(1)[0]}"  # advertised only, never listened on
    try:
        A.start(peer)
        B.start(peer)
        NORM.add(A.ep, B.ep, "127.0.0.1:PORT")
        ida = json_of(etcdctl(["endpoint", "status", "-w", "json"]))[0]["Status"]["header"]
        idb = json_of(cairnctl(["endpoint", "status", "-w", "json"]))[0]["Status"]["header"]
        if ida["member_id"] != idb["member_id"]:  # another server build: map its IDs
            NORM.map_id(ida["member_id"], idb["member_id"], "MEMBER0-")
            NORM.map_id(ida["cluster_id"], idb["cluster_id"], "CLUSTER-")
        for section in (section_kv, section_txn, section_lease, section_member, section_watch,
                        section_endpoint, section_snapshot, section_failover, section_cluster,
                        section_usage):
            try:
                section()
            except Exception:  # a broken section must not hide the others' results
                check(f"{section.__name__} ran to the end", False, traceback.format_exc())
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait()
        A.stop()
        B.stop()
    log(f"{CHECKS[0]} checks in {time.monotonic() - t0:.1f} s, {len(FAILS)} failed")
    if FAILS:
        for name in (A.log, B.log):
            log(f"tail of {name}:")
            with open(name, "rb") as f:
                sys.stderr.write(b"".join(f.readlines()[-15:]).decode(errors="replace"))
        for f in FAILS:
            print(f"FAILED: {f}")
        if os.environ.get("COMPAT_KEEP") != "1":
            shutil.rmtree(TMP, ignore_errors=True)
        sys.exit(1)
    shutil.rmtree(TMP, ignore_errors=True)
    print("all cairnctl compat checks passed")


if __name__ == "__main__":
    main()
