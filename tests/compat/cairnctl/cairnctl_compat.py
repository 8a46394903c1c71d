#!/usr/bin/python3
"""cairnctl against etcdctl 3.4, command by command (label compat).

Two sides run the same commands in lock step: side A is etcd 3.4 with etcdctl (the
reference), side B is the server under test with cairnctl. Both sides always hold the same
data and revisions, and every output is compared byte for byte after the normalisations in
NORMALISATIONS below (each with its reason) and nothing else, so a formatting bug in
cairnctl or a wrong answer from the server still fails. Modes:

  --members 1 (default; compat_cairnctl_ref, B is etcd too): one member per side with the
      same identity (advertised peer URL and token), so member and cluster IDs agree: the
      strict check of cairnctl's formatting.
  --members 3 (compat_cairnctl_ref3 with etcd, compat_cairnctl_cairnd with cairnd): two
      three-member clusters, m1 the leader of both (moved there), commands sent to m1.

Every -w json output is also parsed on both sides and its field names (key paths) compared
with etcdctl's. Formats etcdctl 3.4 lacks for a command are checked with unsupported().
Beyond the comparisons: failover with the first endpoint down (a closed port, or with three
members m1 stopped), usage errors, watch and keep-alive until Ctrl-C (exit 0), snapshot
files read by both tools and restored into new members, a real member joining (learner,
promote, --cluster, move-leader to it, remove), and cairn's own memory status|set (no etcd
counterpart: shapes and values are checked).

usage: cairnctl_compat.py CAIRNCTL [SERVER_B] [--members 1|3]
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

ETCD = "/usr/bin/etcd"
ETCDCTL = "/usr/bin/etcdctl"


def parse_argv(argv):
    pos, members = [], 1
    i = 0
    while i < len(argv):
        if argv[i] == "--members":
            members = int(argv[i + 1])
            i += 2
            continue
        pos.append(argv[i])
        i += 1
    if not pos or members not in (1, 3):
        raise SystemExit("usage: cairnctl_compat.py CAIRNCTL [SERVER_B] [--members 1|3]")
    return pos[0], (pos[1] if len(pos) > 1 else ETCD), members


CAIRNCTL, SERVER_B, MEMBERS = parse_argv(sys.argv[1:])
CLUSTER = MEMBERS > 1
B_IS_ETCD = os.path.realpath(SERVER_B) == os.path.realpath(ETCD)
# The sides keep their own raft logs and elections: always with three members, and with one
# when B is not etcd (then the identities differ too).
OWN_RAFT = CLUSTER or not B_IS_ETCD
TMP = tempfile.mkdtemp(prefix="cairnctl-compat.")
PROCS = []  # helper processes (watchers, keep-alives) we started; only these are signalled
FAILS = []
CHECKS = [0]
ENV = {k: v for k, v in os.environ.items()
       if not k.startswith(("ETCDCTL_", "CAIRNCTL_")) and "proxy" not in k.lower()}
ENV["ETCDCTL_API"] = "3"
ENV["NO_PROXY"] = ENV["no_proxy"] = "127.0.0.1,localhost"

# What is normalised before outputs are compared: (what, where, why it legitimately differs).
NORMALISATIONS = [
    ("ports", "every output", "each server listens on its own free ports: member i's client "
     "and peer ports become C<i> and P<i>"),
    ("member and cluster IDs", "every output", "derived from peer URLs (and the clock for "
     "added members), which differ: one label per member, in %x, %016x and decimal"),
    ("ID widths", "only where a mapped ID has fewer hex digits on one side",
     "%x drops leading zeros, so the %16x padding before it and a table column holding it "
     "are narrower: spaces before the label are squeezed and table rows compared cell by "
     "cell, cairnctl's table borders checked on their own (see loose())"),
    ("lease IDs", "every output", "made from the member ID and the clock"),
    ("took", "endpoint health", "durations"),
    ("seconds left", "lease timetolive of a live lease",
     "counted from each side's own grant to its own query, which run at different moments; "
     "checked on its own to lie in (0, granted TTL]"),
    ("db size", "endpoint status", "backend files grow by their own steps (bbolt and LMDB, "
     "or two bbolt files with different histories of page use)"),
    ("member order", "member lists, ETCD_INITIAL_CLUSTER, --cluster endpoint lists",
     "both servers list members by ID (checked on its own), and IDs differ: sorted after "
     "mapping"),
    ("health order", "endpoint health --cluster", "etcdctl asks the endpoints concurrently "
     "and prints them as they answer"),
    ("raft term", "sides with their own raft logs (three members, or B not etcd): every "
     "header's raft_term, RaftTerm, endpoint status' term",
     "a term counts elections, which each cluster holds on its own timing (etcd 3.4 has no "
     "pre-vote); it says nothing about the data or the command"),
    ("raft index", "sides with their own raft logs: endpoint status' raftIndex and "
     "raftAppliedIndex",
     "each implementation logs its own internal entries (etcd: bootstrap conf changes, "
     "cluster version, member attributes; cairnd: its own), so log lengths differ"),
    ("learner flag", "cairnd: member update of a learner",
     "etcd 3.4 drops IsLearner when a learner's peer URLs are updated (UpdateRaftAttributes "
     "replaces the whole attributes; fixed in etcd 3.5); cairnd keeps the member a learner, "
     "which is checked on its own"),
]




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


def poll(cond, limit_s, step_s=0.1):
    """cond() until true or limit_s passed (bounded); returns cond's last value."""
    deadline = time.monotonic() + limit_s
    while True:
        v = cond()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step_s)


def etcdctl_raw(eps, args, timeout=30, cmd_timeout="5s"):
    return subprocess.run([ETCDCTL, "--endpoints", eps, "--dial-timeout=1s",
                           f"--command-timeout={cmd_timeout}", *args],
                          capture_output=True, env=ENV, timeout=timeout)


# ------------------------------------------------------------------------------- servers
class Member:
    """One server process of a side."""

    def __init__(self, side, idx, name=None):
        self.side, self.idx = side, idx
        self.name = name or f"m{idx + 1}"
        self.data = os.path.join(TMP, f"{side.label}-{self.name}")
        self.log = self.data + ".log"
        self.proc = None
        self.client_port = self.peer_port = None

    @property
    def ep(self):
        return f"127.0.0.1:{self.client_port}"

    def launch(self, initial_cluster, state, peer_advertise, token=None):
        if state == "new":
            shutil.rmtree(self.data, ignore_errors=True)
        cmd = [self.side.binary, "--name", self.name, "--data-dir", self.data,
               "--listen-client-urls", "http://" + self.ep,
               "--advertise-client-urls", "http://" + self.ep,
               "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
               "--initial-advertise-peer-urls", peer_advertise,
               "--initial-cluster", initial_cluster, "--initial-cluster-state", state,
               # twice etcd's defaults: no elections from a loaded machine's stalls, which
               # would move the leader between two compared commands
               "--heartbeat-interval", "200", "--election-timeout", "2000"]
        if token:
            cmd += ["--initial-cluster-token", token]
        with open(self.log, "ab") as lf:
            self.proc = subprocess.Popen(cmd, stdout=lf, stderr=lf, env=ENV,
                                         preexec_fn=sigint_default)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def healthy(self):
        return self.alive() and etcdctl_raw(self.ep, ["endpoint", "health"],
                                            cmd_timeout="2s").returncode == 0

    def serving(self):
        """Answers a serializable read: it has joined and applied what it was sent."""
        return self.alive() and etcdctl_raw(self.ep, ["get", "x", "--consistency=s"],
                                            cmd_timeout="2s").returncode == 0

    def term(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)

    def wait(self, limit_s=15):
        """Waits for the process to end (bounded), SIGKILL past the bound. True if it ended
        by itself."""
        if not self.proc:
            return True
        try:
            self.proc.wait(timeout=limit_s)
            return True
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return False

    def stop(self):
        self.term()
        return self.wait()


class Side:
    """A cluster of MEMBERS members and the tool that talks to it."""

    def __init__(self, label, binary, tool):
        self.label, self.binary, self.tool = label, binary, tool
        self.members = []
        self.ids = {}  # member index -> ID
        self.cluster_id = None

    @property
    def ep(self):
        return self.members[0].ep

    def eps(self, *idx):
        ms = [self.members[i] for i in idx] if idx else self.members
        return ",".join(m.ep for m in ms)

    def live_eps(self):
        return ",".join(m.ep for m in self.members if m.alive())

    def start(self, n, fake_peer=None):
        """fake_peer: advertise this (never dialled) peer URL (a single member only)."""
        for attempt in range(5):
            ports = free_ports(2 * n)
            self.members = [Member(self, i) for i in range(n)]
            for i, m in enumerate(self.members):
                m.client_port, m.peer_port = ports[2 * i], ports[2 * i + 1]
            adv = [fake_peer or f"http://127.0.0.1:{m.peer_port}" for m in self.members]
            ic = ",".join(f"{m.name}={a}" for m, a in zip(self.members, adv))
            for m, a in zip(self.members, adv):
                m.launch(ic, "new", a, token="cairnctl-compat")
            ok = poll(lambda: all(m.healthy() for m in self.members) or
                      any(not m.alive() for m in self.members), 40)
            if ok and all(m.alive() for m in self.members):
                d = json.loads(etcdctl_raw(self.ep, ["member", "list", "-w", "json"]).stdout)
                byname = {m["name"]: m["ID"] for m in d["members"]}
                self.ids = {m.idx: byname[m.name] for m in self.members}
                self.cluster_id = d["header"]["cluster_id"]
                log(f"{self.label}: {self.binary} x{n} on {self.eps()} (pids "
                    f"{' '.join(str(m.proc.pid) for m in self.members)})")
                return
            log(f"{self.label} did not come up (attempt {attempt + 1}); retrying on new ports")
            for m in self.members:
                m.proc.kill()
                m.proc.wait()
        raise SystemExit(f"FATAL: {self.label} never became healthy, see {TMP}")

    def stop_all(self):
        for m in self.members:
            m.term()
        for m in self.members:
            m.wait(10)

    def status(self, m):
        r = etcdctl_raw(m.ep, ["endpoint", "status", "-w", "json"], cmd_timeout="2s")
        try:
            return json.loads(r.stdout)[0]["Status"]
        except (ValueError, IndexError, KeyError):
            return None

    def leader(self):
        """Index of the member every live member calls leader, or None."""
        leads = set()
        for m in self.members:
            if m.alive():
                st = self.status(m)
                leads.add(st["leader"] if st else None)
        if len(leads) != 1 or None in leads:
            return None
        lead = leads.pop()
        return next((i for i, v in self.ids.items() if v == lead), None)

    def lead_to(self, i):
        """Moves the leadership to member i (bounded); True once every live member agrees."""
        def step():
            cur = self.leader()
            if cur == i:
                return True
            if cur is not None:
                etcdctl_raw(self.live_eps(), ["move-leader", f"{self.ids[i]:x}"])
            return False
        return poll(step, 30, 0.2)


class Norm:
    """Replacements that make outputs of A and B comparable."""

    def __init__(self):
        self.pairs = []  # (bytes_from, bytes_to)
        self.uneven = []  # hex labels of IDs whose %x is not as wide on both sides

    def add(self, a_text, b_text, label):
        self.pairs.append((a_text.encode(), label.encode()))
        self.pairs.append((b_text.encode(), label.encode()))

    def map_id(self, a_id, b_id, label):
        """An ID that differs between the servers, in the spellings etcdctl uses: %x, %016x
        and decimal (%16x is %x after padding). All hex forms get one label, so an ID with a
        leading zero digit lines up with one without; longer forms are replaced first. When
        %x is not as wide on both sides, padding and table widths around it differ: see
        loose()."""
        for fmt in ("{:016x}", "{:x}"):
            self.add(fmt.format(a_id), fmt.format(b_id), label + "hex")
        self.add(f"{a_id:d}", f"{b_id:d}", label + "dec")
        if len(f"{a_id:x}") != len(f"{b_id:x}"):
            self.uneven.append((label + "hex").encode())

    def __call__(self, data):
        for frm, to in sorted(self.pairs, key=lambda p: -len(p[0])):
            data = data.replace(frm, to)
        data = re.sub(rb"took = \S+", b"took = T", data)
        data = re.sub(rb'"took":"[^"]*"', b'"took":"T"', data)
        data = re.sub(rb'"Took" : \S+', b'"Took" : T', data)
        data = re.sub(rb"\| +[0-9.]+(ms|\xc2\xb5s|s|ns) +\|", b"| T |", data)
        return data


NORM = Norm()
A = Side("A", ETCD, ETCDCTL)
B = Side("B", SERVER_B, CAIRNCTL)
NEXT_MEMBER_LABEL = [MEMBERS + 1]


def map_member(a_id, b_id):
    label = f"M{NEXT_MEMBER_LABEL[0]}-"
    NEXT_MEMBER_LABEL[0] += 1
    NORM.map_id(a_id, b_id, label)


# -------------------------------------------------------------------- running the tools
def run_tool(side, args, stdin=None, ep=None, timeout=60):
    return subprocess.run([side.tool, "--endpoints", ep or side.ep, "--dial-timeout=2s",
                           "--command-timeout=10s", *args],
                          input=stdin, capture_output=True, env=ENV, timeout=timeout)


def etcdctl(args, stdin=None, ep=None, timeout=60):
    return run_tool(A, args, stdin, ep, timeout)


def cairnctl(args, stdin=None, ep=None, timeout=60):
    return run_tool(B, args, stdin, ep, timeout)


def etcd_log_lines_dropped(err):
    """etcdctl also writes its client's JSON log lines to stderr; they are not output."""
    return b"".join(l for l in err.splitlines(True) if not l.startswith(b'{"level"'))


def squeeze_table(data):
    """A table whose cell widths follow a duration: compare it with runs of '-' and ' '
    squeezed (the durations themselves are already masked)."""
    return re.sub(rb" +", b" ", re.sub(rb"-+", b"-", data))


GROUPS = ("lease", "member", "endpoint", "alarm", "snapshot", "memory")


def words(args):
    """The command words of args: 'endpoint status', 'get'."""
    w = []
    for a in args:
        if a.startswith("-") or (w and w[0] not in GROUPS) or len(w) == 2:
            break
        w.append(a)
    return " ".join(w)


def out_format(args):
    for i, a in enumerate(args):
        if a in ("-w", "--write-out") and i + 1 < len(args):
            return args[i + 1]
        if a.startswith("--write-out="):
            return a.split("=", 1)[1]
    return "simple"


# ------------------------------------------------------------------------ normalisation
def no_size(data):
    """db size depends on when and how each backend file grew: compare everything else."""
    data = re.sub(rb"\b\d+(\.\d)? [kMGTPE]?B\b", b"SIZE", data)
    data = re.sub(rb'("dbSize(?:InUse)?":)\d+', rb"\1SIZE", data)
    return re.sub(rb'("DBSize" : )\d+', rb"\1SIZE", data)


def split_json_array(text, start):
    """text[start] is '['; returns (elements as bytes, index after the ']'). Strings are
    skipped with their escapes, so brackets inside them do not count."""
    assert text[start:start + 1] == b"["
    elems, depth, i, cur0, in_str = [], 0, start, start + 1, False
    while i < len(text):
        c = text[i:i + 1]
        if in_str:
            if c == b"\\":
                i += 1
            elif c == b'"':
                in_str = False
        elif c == b'"':
            in_str = True
        elif c in (b"[", b"{"):
            depth += 1
        elif c in (b"]", b"}"):
            depth -= 1
            if depth == 0:
                if i > cur0:
                    elems.append(text[cur0:i])
                return elems, i + 1
        elif c == b"," and depth == 1:
            elems.append(text[cur0:i])
            cur0 = i + 1
        i += 1
    return elems, len(text)


def sort_json_array(line, key=None):
    """Sorts the elements of the array under "key" (or of a top-level array) in one line."""
    if key is None:
        start = 0 if line.startswith(b"[") else -1
    else:
        k = line.find(b'"' + key + b'":[')
        start = k + len(key) + 3 if k >= 0 else -1
    if start < 0:
        return line
    elems, end = split_json_array(line, start)
    return line[:start] + b"[" + b",".join(by_text(elems)) + b"]" + line[end:]


def by_text(items):
    """Sorted by text with runs of spaces squeezed: padding that follows an ID's width
    (see loose()) does not decide the order."""
    return sorted(items, key=lambda x: re.sub(rb" +", b" ", x))


def sort_table_rows(data):
    """Sorts the data rows of every table (header and borders stay)."""
    lines = data.split(b"\n")
    out, rows, in_rows = [], [], False
    for i, ln in enumerate(lines):
        if ln.startswith(b"+") and in_rows:
            out += by_text(rows)
            rows, in_rows = [], False
            out.append(ln)
        elif ln.startswith(b"+") and i >= 2 and lines[i - 1].startswith(b"|"):
            out.append(ln)
            in_rows = True
        elif in_rows:
            rows.append(ln)
        else:
            out.append(ln)
    return b"\n".join(out + by_text(rows))


def sort_blocks(data, record_start=None):
    """-w fields: sorts records. A record is a blank-line-terminated block, or, with
    record_start, the lines from one starting with it to the blank line (the header lines
    before the first record stay in front)."""
    if record_start is None:
        blocks = data.split(b"\n\n")
        tail = blocks.pop() if blocks and not blocks[-1].endswith(b"\n") else b""
        return b"\n\n".join(by_text(blocks) + [tail])
    k = data.find(b"\n" + record_start)
    if k < 0:
        return data
    head, rest = data[:k + 1], data[k + 1:]
    recs = [r for r in rest.split(b"\n\n") if r]
    return head + b"".join(r + b"\n\n" for r in by_text(recs))


def mask_table_columns(data, names):
    """Replaces the cells of the named table columns with '*' (width agnostic)."""
    out, cols = [], []
    for ln in data.split(b"\n"):
        if ln.startswith(b"|"):
            cells = ln.split(b"|")
            if not cols:
                cols = [i for i, c in enumerate(cells) if c.strip() in names]
            else:
                for i in cols:
                    if i < len(cells) - 1:
                        cells[i] = b" * "
                ln = b"|".join(cells)
        out.append(ln)
    return b"\n".join(out)


def mask_term(data):
    data = re.sub(rb'"raft_term":\d+', b'"raft_term":TERM', data)
    data = re.sub(rb'"raftTerm":\d+', b'"raftTerm":TERM', data)
    return re.sub(rb'"RaftTerm" : \d+', b'"RaftTerm" : TERM', data)


def mask_status(data, w):
    """endpoint status: term, raft index and applied index."""
    data = re.sub(rb'"(raftIndex|raftAppliedIndex)":\d+', rb'"\1":INDEX', data)
    data = re.sub(rb'"(RaftIndex|RaftAppliedIndex)" : \d+', rb'"\1" : INDEX', data)
    if w == "table":
        data = mask_table_columns(data, (b"RAFT TERM", b"RAFT INDEX", b"RAFT APPLIED INDEX"))
    elif w == "simple":
        lines = []
        for ln in data.split(b"\n"):
            f = ln.split(b", ")
            if len(f) == 10:
                f[6:9] = [b"TERM", b"INDEX", b"INDEX"]
            lines.append(b", ".join(f))
        data = b"\n".join(lines)
    return data


def sort_lines(data, keep_last_prefix=None):
    lines = data.split(b"\n")
    tail = [lines.pop()]  # "" after the last newline
    if keep_last_prefix and lines and lines[-1].startswith(keep_last_prefix):
        tail.insert(0, lines.pop())
    return b"\n".join(by_text(lines) + tail)


def norm(args, data, stream="stdout"):
    """What is compared of an output of `args` on either side (see NORMALISATIONS)."""
    cmd, w = words(args), out_format(args)
    data = NORM(data)
    if cmd == "endpoint status":
        data = no_size(data)
        if w == "table":
            data = mask_table_columns(data, (b"DB SIZE",))
    if OWN_RAFT:
        data = mask_term(data)
        if cmd == "endpoint status":
            data = mask_status(data, w)
    listing = cmd.startswith("endpoint ") or cmd == "defrag"
    if cmd.startswith("member ") or ("--cluster" in args and listing):
        if w == "json":
            data = b"\n".join(sort_json_array(ln, b"members" if cmd.startswith("member")
                                              else None) for ln in data.split(b"\n"))
        elif w == "table":
            data = sort_table_rows(data)
        elif w == "fields":
            data = sort_blocks(data, b'"ID" : ' if cmd.startswith("member") else None)
        elif cmd == "member add":
            data = re.sub(rb'ETCD_INITIAL_CLUSTER="([^"]*)"', lambda m: b'ETCD_INITIAL_CLUSTER="'
                          + b",".join(sorted(m.group(1).split(b","))) + b'"', data)
        else:
            data = sort_lines(data, b"Error: ")
    if cmd == "lease timetolive":
        data = re.sub(rb"(remaining\(|\"ttl\":|\"TTL\" : )[1-9]\d*", rb"\1LEFT", data)
    if cmd == "member update" and not B_IS_ETCD:
        data = data.replace(b',"isLearner":true', b"").replace(b'"IsLearner" : true',
                                                              b'"IsLearner" : false')
    return data


def key_paths(v, prefix=""):
    out = set()
    if isinstance(v, dict):
        for k, x in v.items():
            out.add(f"{prefix}.{k}")
            out |= key_paths(x, f"{prefix}.{k}")
    elif isinstance(v, list):
        for x in v:
            out |= key_paths(x, prefix + "[]")
    return out


def json_lines(data):
    return [json.loads(ln) for ln in data.splitlines() if ln.strip()]


def check_json(desc, out_a, out_b, ignore=()):
    """-w json: cairnctl's output parses, line by line, and has etcdctl's field names."""
    try:
        ja = json_lines(out_a)
    except ValueError:
        return True  # etcdctl prints text here (compaction, defrag): compared as text
    try:
        jb = json_lines(out_b)
    except ValueError as e:
        return check(f"-w json parses: {desc}", False, f"{e}: {out_b!r}")
    ka = set().union(*[key_paths(x) for x in ja]) if ja else set()
    kb = set().union(*[key_paths(x) for x in jb]) if jb else set()
    ka = {k for k in ka if k.rsplit(".", 1)[-1] not in ignore}
    kb = {k for k in kb if k.rsplit(".", 1)[-1] not in ignore}
    return check(f"-w json field names are etcd's: {desc}", ka == kb and len(ja) == len(jb),
                 f"only etcdctl: {sorted(ka - kb)}\nonly cairnctl: {sorted(kb - ka)}")


def table_consistent(data):
    """A table as cairnctl printed it: every line as wide as its border, '|' under '+'."""
    lines = [ln for ln in data.split(b"\n") if ln.startswith((b"+", b"|"))]
    if not lines:
        return True
    plus = [i for i, c in enumerate(lines[0]) if c == ord("+")]
    return all(len(ln) == len(lines[0]) and
               [i for i, c in enumerate(ln) if c in (ord("+"), ord("|"))] == plus
               for ln in lines)


def loose(data):
    """For outputs naming an ID whose %x is narrower on one side (a leading zero digit):
    the padding before it (%16x) and the width of a table column holding it follow the
    width. Spaces before such a label are squeezed, and table rows become their trimmed
    cells (borders dropped); same_output() checks cairnctl's tables for consistent borders
    on their own."""
    if NORM.uneven:
        data = re.sub(rb" +(" + b"|".join(map(re.escape, NORM.uneven)) + rb")", rb" \1", data)
    out = []
    for ln in data.split(b"\n"):
        if ln.startswith(b"+"):
            continue
        if ln.startswith(b"|"):
            ln = b"|".join(c.strip() for c in ln.split(b"|"))
        out.append(ln)
    return b"\n".join(out)


def same_output(out_a, out_b, raw_b):
    """Byte for byte; or, only when some mapped ID is narrower on one side, loose()."""
    if out_a == out_b:
        return True
    if NORM.uneven and loose(out_a) == loose(out_b) and table_consistent(raw_b):
        print(f"note: equal once ID widths are set aside ({b' '.join(NORM.uneven).decode()})")
        return True
    return False


def compare(a, b, desc, args, stderr=False, same_rc=True, squeeze=False):
    out_a, out_b = norm(args, a.stdout), norm(args, b.stdout)
    if squeeze:
        out_a, out_b = squeeze_table(out_a), squeeze_table(out_b)
    check(f"same stdout: {desc}", same_output(out_a, out_b, b.stdout),
          f"--- etcdctl\n{out_a.decode(errors='replace')}--- cairnctl\n"
          f"{out_b.decode(errors='replace')}--- cairnctl stderr\n"
          f"{b.stderr.decode(errors='replace')}")
    if stderr:
        err_a = norm(args, etcd_log_lines_dropped(a.stderr), "stderr")
        err_b = norm(args, b.stderr, "stderr")
        check(f"same stderr: {desc}", same_output(err_a, err_b, b.stderr),
              f"--- etcdctl\n{err_a.decode(errors='replace')}--- cairnctl\n"
              f"{err_b.decode(errors='replace')}")
    if words(args) == "lease timetolive":
        left = [int(x) for x in re.findall(
            rb'(?:remaining\(|"ttl":|"TTL" : )(-?\d+)', b.stdout)]
        granted = [int(x) for x in re.findall(
            rb'(?:TTL\(|"granted-ttl":|"GrantedTTL" : )(\d+)', b.stdout)]
        check(f"seconds left in (0, granted] (or -1: gone): {desc}",
              all(x == -1 or (k < len(granted) and 0 < x <= granted[k])
                  for k, x in enumerate(left)), b.stdout.decode())
    if same_rc:
        check(f"same success: {desc} ({a.returncode}/{b.returncode})",
              (a.returncode == 0) == (b.returncode == 0), b.stderr.decode(errors="replace"))
    if out_format(args) == "json" and b.returncode == 0 and b.stdout.strip():
        ignore = ()
        if words(args) == "member update" and not B_IS_ETCD:
            ignore = ("isLearner",)
        check_json(desc, a.stdout, b.stdout, ignore)


def run_pair(args_a, args_b, desc=None, stdin=None, stderr=False, same_rc=True, squeeze=False,
             eps=None):
    """etcdctl args_a on A, cairnctl args_b on B (eps: (A's, B's) --endpoints), compared."""
    desc = desc or " ".join(args_b)
    a = etcdctl(args_a, stdin, ep=eps[0] if eps else None)
    b = cairnctl(args_b, stdin, ep=eps[1] if eps else None)
    compare(a, b, desc, args_b, stderr, same_rc, squeeze)
    return a, b


def lockstep(args, stdin=None, stderr=False, same_rc=True, desc=None, squeeze=False, eps=None):
    """Run args with both tools on their sides; compare stdout (and stderr if asked)."""
    return run_pair(args, args, desc, stdin, stderr, same_rc, squeeze, eps)


def without_format(args):
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a in ("-w", "--write-out"):
            skip = True
        elif not a.startswith("--write-out="):
            out.append(a)
    return out


def unsupported(args, desc=None, stdin=None):
    """An output format etcdctl 3.4 lacks for this command. etcdctl sends the request, then
    refuses to print (exit 4; when the request fails, the server's error is shown instead,
    exit 1); cairnctl refuses before sending (exit 1), so a command that fails has no side
    effect. Checked: no stdout, cairnctl's one line is etcdctl's words, both fail. Then the
    request etcdctl sent is replayed on B (without -w) to keep the sides in step: it must
    succeed where etcdctl's succeeded, else fail with etcdctl's words."""
    args_a, args_b = args if isinstance(args, tuple) else (args, args)
    desc = desc or " ".join(args_b)
    a, b = etcdctl(args_a, stdin), cairnctl(args_b, stdin)
    msg = f"Error: {out_format(args_b)} not supported as output format\n".encode()
    err_a = etcd_log_lines_dropped(a.stderr)
    check(f"format refused as etcdctl does: {desc} ({a.returncode}/{b.returncode})",
          a.stdout == b.stdout == b"" and b.stderr == msg and b.returncode == 1 and
          (err_a == msg and a.returncode == 4 or a.returncode == 1),
          f"--- etcdctl\n{(a.stdout + err_a).decode()}--- cairnctl\n"
          f"{(b.stdout + b.stderr).decode()}")
    r = cairnctl(without_format(args_b), stdin)
    if a.returncode == 4:
        check(f"replayed on B without -w: {desc}", r.returncode == 0, r.stderr.decode())
    else:
        check(f"replayed on B without -w, etcdctl's error: {desc}",
              r.returncode == 1 and NORM(r.stderr) == NORM(err_a),
              f"{err_a.decode()}---\n{r.stderr.decode()}")
    return a, b


def mid(side, i):
    """Member i's ID in hex, as commands take it."""
    return f"{side.ids[i]:x}"


def by_member(argsf, desc, **kw):
    """A command whose arguments name a member (IDs differ): argsf(side) builds each side's."""
    return run_pair(argsf(A), argsf(B), desc, **kw)


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
    unsupported(["put", "tb", "1", "-w", "table"])
    lockstep(["put", "fromstdin"], stdin=b"value from stdin\n")
    for w in ("simple", "json", "fields"):
        lockstep(["get", "a", "-w", w])
        lockstep(["get", "dir/", "--prefix", "-w", w])
        lockstep(["get", "", "--from-key", "--limit", "3", "-w", w])
        lockstep(["get", "a", "c", "--sort-by=VALUE", "--order=DESCEND", "-w", w])
        lockstep(["get", "nosuchkey", "-w", w])
        lockstep(["get", "uni\u00e9", "-w", w])
    lockstep(["get", "", "--prefix", "--keys-only"])
    b = cairnctl(["get", "", "--prefix", "--count-only", "-w", "json"])  # etcdctl 3.5's flag
    check("get --count-only -w json: the count, no kvs", b.returncode == 0 and
          "kvs" not in json_of(b) and json_of(b)["count"] ==
          json_of(etcdctl(["get", "", "--prefix", "-w", "json"]))["count"], b.stdout.decode())
    lockstep(["get", "a", "--rev", "3"])
    lockstep(["get", "dir/", "--prefix", "--print-value-only"])
    lockstep(["get", "a", "--consistency=s"])
    lockstep(["get", "a", "--hex"])
    lockstep(["get", "dir/", "--prefix", "--hex", "-w", "fields"])
    lockstep(["get", "", "--prefix", "--sort-by=CREATE", "--order=ASCEND", "--limit", "2"])
    lockstep(["get", "", "--prefix", "--sort-by=MODIFY", "--order=DESCEND", "--limit", "2"])
    lockstep(["get", "", "--prefix", "--sort-by=VERSION"])
    unsupported(["get", "a", "-w", "table"])
    lockstep(["get", "a", "--rev", "99999"], stderr=True)  # future revision: server's words
    lockstep(["del", "dir/x", "--prev-kv"])
    lockstep(["del", "dir/", "--prefix", "--prev-kv", "-w", "json"])
    lockstep(["del", "nosuchkey", "-w", "fields"])
    unsupported(["del", "tb", "-w", "table"])
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
    unsupported(["txn", "-w", "table"], stdin=b'\nget a\n\n\n')
    lockstep(["txn", "-i"], stdin=b'c("a") > "0"\n\nput ti 1\n\nput ti 2\n\n')
    lockstep(["txn", "-i", "-w", "json"], stdin=b'\nget ti\n\n\n')
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
        compare(a, b, " ".join(args), args)
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
        lockstep(["lease", "list", "-w", w], stderr=True)
    unsupported(["lease", "list", "-w", "table"])
    # attach a key, then the same argument differs per server: run each side by hand
    def both(args_a, args_b, desc, stdin=None, stderr=False):
        return run_pair(args_a, args_b, desc, stdin, stderr)
    both(["put", "lk", "lv", "--lease", la], ["put", "lk", "lv", "--lease", lb], "put --lease")
    for w in ("simple", "json", "fields"):
        both(["lease", "timetolive", la, "-w", w], ["lease", "timetolive", lb, "-w", w],
             f"lease timetolive -w {w}", stderr=True)
        both(["lease", "timetolive", la, "--keys", "-w", w],
             ["lease", "timetolive", lb, "--keys", "-w", w], f"lease timetolive --keys -w {w}")
        both(["lease", "keep-alive", "--once", la, "-w", w],
             ["lease", "keep-alive", "--once", lb, "-w", w], f"lease keep-alive --once -w {w}",
             stderr=True)
    for args in (["lease", "timetolive", "-w", "table"],
                 ["lease", "keep-alive", "--once", "-w", "table"]):
        unsupported((args + [la], args + [lb]))
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
    for w in ("json", "fields"):
        both(["lease", "revoke", la, "-w", w], ["lease", "revoke", lb, "-w", w],
             f"lease revoke -w {w} (error)", stderr=True)
    unsupported((["lease", "revoke", la, "-w", "table"], ["lease", "revoke", lb, "-w", "table"]),
                desc="lease revoke -w table (a lease already revoked)")
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
    # the other two leases go too (one with -w table), so none expires during the run
    compare(etcdctl(["lease", "revoke", f"{l1a:x}"]), cairnctl(["lease", "revoke", f"{l1b:x}"]),
            "lease revoke", ["lease", "revoke"])
    args = ["lease", "revoke", "-w", "table"]
    unsupported((args + [f"{l2a:x}"], args + [f"{l2b:x}"]))
    lockstep(["lease", "list"])
    # a lease granted with -w table: etcdctl grants, then refuses the format
    unsupported(["lease", "grant", "600", "-w", "table"])
    for side in (A, B):
        for lid in run_tool(side, ["lease", "list"]).stdout.split()[3:]:
            run_tool(side, ["lease", "revoke", lid.decode()])
    lockstep(["lease", "list"])


# -------------------------------------------------------------------------------- member
def member_order_ok(side):
    """Both servers list members by ID (etcd's order): checked on the raw output."""
    d = json.loads(run_tool(side, ["member", "list", "-w", "json"]).stdout)
    ids = [m["ID"] for m in d["members"]]
    return check(f"member list on {side.label}: members by ID, as etcd lists them",
                 ids == sorted(ids), str(ids))


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
    map_member(ida, idb)  # IDs of added members come from the clock
    compare(a, b, " ".join(args), args)
    for w in ("simple", "json", "table", "fields"):
        lockstep(["member", "list", "-w", w])
    member_order_ok(B)
    # the learner never caught up: promote fails with the server's message on both
    def both(suffix, desc, stderr=False):
        args_b = suffix(f"{idb:x}")
        compare(etcdctl(suffix(f"{ida:x}")), cairnctl(args_b), desc, args_b, stderr=stderr)
    def pair(suffix):
        return suffix(f"{ida:x}"), suffix(f"{idb:x}")
    for w in ("simple", "json"):
        both(lambda i: ["member", "promote", i, "-w", w], f"member promote -w {w} (not in sync)",
             stderr=True)
    for w in ("table", "fields"):
        unsupported(pair(lambda i: ["member", "promote", i, "-w", w]),
                    desc=f"member promote -w {w} (not in sync)")
    both(lambda i: ["member", "update", i, "--peer-urls", "http://127.0.0.1:2"], "member update")
    both(lambda i: ["member", "update", i, "--peer-urls", "http://127.0.0.1:3", "-w", "json"],
         "member update -w json", stderr=True)
    for w, port in (("table", 5), ("fields", 6)):
        unsupported(pair(lambda i: ["member", "update", i, "--peer-urls",
                                    f"http://127.0.0.1:{port}", "-w", w]),
                    desc=f"member update -w {w}")
    if B_IS_ETCD:  # cairnd keeps the learner flag etcd 3.4 loses: checked below instead
        lockstep(["member", "list"], desc="member list after the updates")
    if not B_IS_ETCD:
        d = json_of(cairnctl(["member", "list", "-w", "json"]))
        check("member update keeps a learner a learner (cairnd; etcd 3.4 drops the flag)",
              any(m["ID"] == idb and m.get("isLearner") for m in d["members"]), str(d))
    both(lambda i: ["member", "remove", i, "-w", "json"], "member remove -w json")
    both(lambda i: ["member", "remove", i], "member remove again (error)", stderr=True)
    for w in ("table", "fields"):
        unsupported(pair(lambda i: ["member", "remove", i, "-w", w]),
                    desc=f"member remove -w {w} (a member already removed)")
    for n, w in ((2, "json"), (3, "table"), (4, "fields")):
        url = f"http://127.0.0.1:{n + 5}"
        args = ["member", "add", f"learner{n}", "--peer-urls", url, "--learner", "-w", w]
        if w == "json":
            a, b = etcdctl(args), cairnctl(args)
            ida, idb = json_of(a)["member"]["ID"], json_of(b)["member"]["ID"]
            check("member add -w json: member, members",
                  has_fields(json_of(b), ("header", "member", "members")))
            map_member(ida, idb)
            compare(a, b, " ".join(args), args, stderr=True)
        else:
            unsupported(args)

            def learner_id(side):
                d = json.loads(run_tool(side, ["member", "list", "-w", "json"]).stdout)
                return [m["ID"] for m in d["members"] if url in m["peerURLs"]][0]
            ida, idb = learner_id(A), learner_id(B)
            map_member(ida, idb)
        lockstep(["member", "list", "-w", "json"], desc=f"member list -w json with learner{n}")
        both(lambda i: ["member", "remove", i], "member remove")
    lockstep(["member", "list"])
    b = cairnctl(["member", "add", "x"])
    check("member add without --peer-urls: usage error",
          b.returncode == 2 and b.stderr.startswith(b"Error: member peer urls not provided"))


# ------------------------------------------------------------------------------ endpoint
def section_endpoint():
    log("== endpoint, compaction, defrag, alarm, move-leader")
    if CLUSTER:
        for s in (A, B):
            check(f"{s.label}: m1 leads before endpoint status", s.lead_to(0))
    for w in ("simple", "json", "table", "fields"):
        for cluster in ([], ["--cluster"]):
            lockstep(["endpoint", "status", "-w", w, *cluster], stderr=True)
    d = json_of(cairnctl(["endpoint", "status", "-w", "json"]))
    check("endpoint status -w json: Endpoint, Status{version, dbSize, leader, raftIndex, ...}",
          has_fields(d[0], ("Endpoint", "Status")) and
          has_fields(d[0]["Status"], ("header", "version", "dbSize", "leader", "raftIndex",
                                      "raftTerm", "raftAppliedIndex", "dbSizeInUse")))
    st = d[0]["Status"]
    check("endpoint status: term > 0, applied index <= index, leader a member",
          st["raftTerm"] > 0 and 0 < st["raftAppliedIndex"] <= st["raftIndex"] and
          st["leader"] in B.ids.values(), str(st))
    if CLUSTER:
        d = json_of(cairnctl(["endpoint", "status", "--cluster", "-w", "json"]))
        check("endpoint status --cluster: every member, in member list order, one leader",
              [x["Status"]["header"]["member_id"] for x in d] == sorted(B.ids.values()) and
              len({x["Status"]["leader"] for x in d}) == 1, str(d))
    for w in ("simple", "json", "table", "fields"):
        # the full hash covers the leased keys, whose lease IDs differ between A and B: ask
        # the same server with both tools
        args = ["endpoint", "hashkv", "-w", w]
        compare(etcdctl(args, ep=B.ep), cairnctl(args), f"endpoint hashkv -w {w} (same server)",
                args)
        lockstep(["endpoint", "hashkv", "-w", w, "--cluster", "--rev", "5"])
        lockstep(["endpoint", "health", "-w", w], stderr=True, squeeze=w == "table")
        lockstep(["endpoint", "health", "--cluster", "-w", w], stderr=True, squeeze=w == "table")
    d = json_of(cairnctl(["endpoint", "hashkv", "-w", "json"]))
    check("endpoint hashkv -w json: Endpoint, HashKV{hash}",
          has_fields(d[0], ("Endpoint", "HashKV")) and "hash" in d[0]["HashKV"])
    d = json_of(cairnctl(["endpoint", "health", "-w", "json"]))
    check("endpoint health -w json: endpoint, health, took",
          has_fields(d[0], ("endpoint", "health", "took")) and d[0]["health"] is True)

    rev = json_of(cairnctl(["get", "a", "-w", "json"]))["header"]["revision"]
    lockstep(["compaction", str(rev - 9)])
    lockstep(["compaction", str(rev - 9)], stderr=True)  # already compacted: server's words
    for i, w in enumerate(("json", "table", "fields")):
        lockstep(["compaction", str(rev - 8 + i), "-w", w], stderr=True)
    lockstep(["compaction", "--physical", str(rev - 3)])
    lockstep(["get", "a", "--rev", "2"], stderr=True)
    # a compacted start revision: both print the cancel reason and stop with an error
    lockstep(["watch", "w", "--rev", "2"], stderr=True)
    lockstep(["defrag"])
    lockstep(["defrag", "--cluster"])
    for w in ("json", "table", "fields"):
        lockstep(["defrag", "-w", w], stderr=True)

    for w in ("simple", "json"):
        lockstep(["alarm", "list", "-w", w], stderr=True)
    unsupported(["alarm", "list", "-w", "table"])
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
        lockstep(["alarm", "list", "-w", w], stderr=True)
    # etcdctl 3.4 dies on -w fields here (the Alarm response has no header); cairnctl prints
    b = cairnctl(["alarm", "list", "-w", "fields"])
    check("alarm list -w fields", b.returncode == 0 and
          b'"AlarmType" : NOSPACE' in b.stdout and b'"MemberID" : ' in b.stdout, b.stdout.decode())
    d = json_of(cairnctl(["alarm", "list", "-w", "json"]))
    check("alarm list -w json: alarms[].memberID, alarm",
          has_fields(d["alarms"][0], ("memberID", "alarm")) and d["alarms"][0]["alarm"] == 1 and
          d["alarms"][0]["memberID"] == B.ids[0])
    lockstep(["endpoint", "health"], stderr=True)  # an alarm makes it unhealthy
    lockstep(["put", "blocked", "x"], stderr=True)  # NOSPACE: the server refuses writes
    unsupported(["alarm", "disarm", "-w", "table"])
    lockstep(["alarm", "list"])
    lockstep(["alarm", "disarm"])
    lockstep(["alarm", "disarm", "-w", "json"])
    # etcdctl 3.4 dies on -w fields here too (the response to a disarm of nothing has no
    # header); cairnctl prints the empty header
    b = cairnctl(["alarm", "disarm", "-w", "fields"])
    check("alarm disarm -w fields", b.returncode == 0 and b.stdout ==
          b'"ClusterID" : 0\n"MemberID" : 0\n"Revision" : 0\n"RaftTerm" : 0\n', b.stdout.decode())

    if CLUSTER:
        for s in (A, B):
            check(f"{s.label}: m1 leads before move-leader", s.lead_to(0))
    by_member(lambda s: ["move-leader", mid(s, 0)], "move-leader to the leader itself")
    by_member(lambda s: ["move-leader", mid(s, 0), "-w", "json"], "move-leader -w json")
    for w in ("table", "fields"):
        unsupported((["move-leader", mid(A, 0), "-w", w], ["move-leader", mid(B, 0), "-w", w]),
                    desc=f"move-leader -w {w}")
    lockstep(["move-leader", "1234"], stderr=True)  # not a member: server's words
    if CLUSTER:
        by_member(lambda s: ["move-leader", mid(s, 1)], "move-leader to m2")
        check("move-leader: B's members agree m2 leads", poll(lambda: B.leader() == 1, 10))
        poll(lambda: A.leader() == 1, 10)
        # m1 alone is no longer the leader: etcdctl's and cairnctl's words
        by_member(lambda s: ["move-leader", mid(s, 0)], "move-leader with no leader given",
                  stderr=True)
        run_pair(["move-leader", mid(A, 0), "-w", "json"], ["move-leader", mid(B, 0), "-w", "json"],
                 "move-leader back to m1 (all endpoints) -w json", eps=(A.eps(), B.eps()))
        for s in (A, B):
            check(f"{s.label}: m1 leads again", s.lead_to(0))


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
        try:  # bounded again: a child of p could hold the pipes open
            out, err = p.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            out = err = b""
        return out, err, False


def wait_lines(path, n, limit_s=15):
    def enough():
        with open(path, "rb") as f:
            return f.read().count(b"\n") >= n
    return poll(enough, limit_s)


def section_watch():
    log("== watch")
    base = json_of(cairnctl(["get", "a", "-w", "json"]))["header"]["revision"]
    # lines printed after each of the three events (put, put, delete), cumulative
    cases = [([], (3, 6, 9)), (["--prev-kv"], (3, 8, 13)), (["-w", "json"], (1, 2, 3)),
             (["-w", "fields"], (11, 22, 33)), (["-w", "fields", "--prev-kv"], (11, 28, 45))]
    procs = []
    for i, (flags, lines) in enumerate(cases):
        for side, name in ((A, "a"), (B, "b")):
            path = os.path.join(TMP, f"watch{i}{name}.out")
            f = open(path, "wb")
            p = subprocess.Popen([side.tool, "--endpoints", side.ep, "watch", "w", "--prefix",
                                  "--rev", str(base + 1), *flags], stdout=f,
                                 stderr=subprocess.PIPE, env=ENV, preexec_fn=sigint_default)
            PROCS.append(p)
            procs.append((i, name, p, path, lines, f))
    # Each event is printed everywhere before the next is made, so every watch response
    # carries one event on both servers (-w json and fields print per response), and each
    # event shows up while the watcher runs: printed as it arrives, not at exit.
    for step, args in enumerate((["put", "w1", "x"], ["put", "w1", "y"], ["del", "w1"])):
        lockstep(args)
        for i, name, p, path, lines, f in procs:
            arrived = wait_lines(path, lines[step])
            if name == "b" and i == 0:
                check(f"watch: event {step + 1} printed as it arrives", arrived and
                      p.poll() is None)
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
        args = ["watch", *flags]
        check(f"watch {' '.join(flags)}: same events",
              norm(args, oa) == norm(args, ob) and oa.count(b"\n") == lines[-1],
              f"--- etcdctl\n{oa.decode()}--- cairnctl\n{ob.decode()}")
        check(f"watch {' '.join(flags)}: Ctrl-C ends cairnctl with status 0",
              pb[2].returncode == 0, pb[2].stderr.read().decode())
        if "json" in flags:
            check_json("watch -w json", oa, ob)
    for line in open(os.path.join(TMP, "watch2b.out"), "rb").read().splitlines():
        d = json.loads(line)
        check("watch -w json: Header, Events[].kv, CompactRevision, Canceled, Created",
              has_fields(d, ("Header", "Events", "CompactRevision", "Canceled", "Created")))
    # etcdctl 3.4 waits for the first event, then refuses to print it; cairnctl refuses first
    b = cairnctl(["watch", "w", "-w", "table"], timeout=30)
    check("watch -w table: refused at once, etcdctl's words, exit 1", b.returncode == 1 and
          b.stderr == b"Error: table not supported as output format\n" and b.stdout == b"",
          b.stderr.decode())
    # the command after "--" runs once per event, with etcdctl's environment
    outs = []
    for side, name in ((A, "a"), (B, "b")):
        path = os.path.join(TMP, f"exec{name}.out")
        f = open(path, "wb")
        p = subprocess.Popen([side.tool, "--endpoints", side.ep, "watch", "e", "--rev",
                              str(base + 1), "--", "sh", "-c", 'echo "EXEC $ETCD_WATCH_REVISION '
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
    # interactive: watch lines on stdin, then events; the same on both tools
    ps = []
    for side in (A, B):
        p = subprocess.Popen([side.tool, "--endpoints", side.ep, "watch", "-i"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=ENV, preexec_fn=sigint_default)
        PROCS.append(p)
        p.stdin.write(f"watch iw --rev {base + 1}\nwatch iv --prefix --rev {base + 1}\n".encode())
        p.stdin.flush()
        ps.append(p)
    lockstep(["put", "iw", "1"])
    lockstep(["put", "iv2", "2"])
    # both events (3 lines each) printed while the watchers run, then Ctrl-C
    firsts = [b"".join(readline_within(p) for _ in range(6)) for p in ps]
    res = [interrupt_read(p) for p in ps]
    outs = [f + r[0] for f, r in zip(firsts, res)]
    check("watch -i: events of watches created from stdin, printed as they arrive, exit 0",
          firsts[1].count(b"\n") == 6 and res[1][2] and ps[1].returncode == 0 and
          b"PUT\niw\n1\n" in firsts[1] and b"PUT\niv2\n2\n" in firsts[1],
          (outs[1] + res[1][1]).decode())

    # etcdctl runs each watch line in its own goroutine and prints from both at once, so
    # even the lines of two events may interleave: compare the lines as a multiset (the
    # check above holds cairnctl to whole events)
    def events(out):
        return sorted(norm(["watch"], out).split(b"\n"))
    check("watch -i: the same events as etcdctl's", events(outs[0]) == events(outs[1]),
          f"{outs[0].decode()}---\n{outs[1].decode()}")


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
            if w == "json":
                check_json(f"snapshot status of {os.path.basename(f)}", a.stdout, b.stdout)
    d = json.loads(subprocess.run([CAIRNCTL, "snapshot", "status", sb, "-w", "json"],
                                  capture_output=True, env=ENV).stdout)
    check("snapshot status -w json: hash, revision, totalKey, totalSize",
          has_fields(d, ("hash", "revision", "totalKey", "totalSize")))
    b = subprocess.run([CAIRNCTL, "snapshot", "status", os.path.join(TMP, "none.db")],
                       capture_output=True, env=ENV)
    check("snapshot status of a missing file: one Error line, exit 1",
          b.returncode == 1 and b.stderr.count(b"\n") == 1 and b.stderr.startswith(b"Error: "))
    if not B_IS_ETCD:  # cairnctl restores into a cairnd data dir, which etcd cannot serve
        section_restore(sa, sb)
    bad = os.path.join(TMP, "bad.db")
    with open(sb, "rb") as src, open(bad, "wb") as dst:
        data = bytearray(src.read())
        data[5000] ^= 0xff
        dst.write(data)
    b = subprocess.run([CAIRNCTL, "snapshot", "restore", bad, "--data-dir",
                        os.path.join(TMP, "restored")], capture_output=True, env=ENV)
    check("snapshot restore: a damaged file fails the SHA-256 check",
          b.returncode == 1 and b"sha256" in b.stderr, b.stderr.decode())


def section_restore(sa, sb):
    """Each side's snapshot restored by its own tool into a new one-member cluster; the two
    restored servers answer the same (etcd's restore is the reference)."""
    log("== snapshot restore into a new one-member cluster")
    rs = []
    for side, snap in ((A, sa), (B, sb)):
        m = Member(side, 0, "r1")
        m.data = os.path.join(TMP, f"{side.label}-restored")
        m.log = m.data + ".log"
        m.client_port, m.peer_port = free_ports(2)
        peer = f"http://127.0.0.1:{m.peer_port}"
        r = subprocess.run([side.tool, "snapshot", "restore", snap, "--data-dir", m.data,
                            "--name", "r1", "--initial-cluster", f"r1={peer}",
                            "--initial-cluster-token", "restored",
                            "--initial-advertise-peer-urls", peer],
                           capture_output=True, env=ENV, timeout=60)
        rs.append((m, r, peer))
    (ma, ra, pa), (mb, rb, pb) = rs
    check("snapshot restore: both tools succeed, nothing on stdout",
          ra.returncode == rb.returncode == 0 and ra.stdout == rb.stdout == b"",
          (ra.stderr + rb.stderr).decode())
    if ra.returncode or rb.returncode:
        return
    try:
        for m, _, peer in rs:
            m.launch(f"r1={peer}", "new", peer, token="restored")
        check("snapshot restore: both restored members serve",
              poll(lambda: ma.healthy() and mb.healthy(), 30))
        NORM.add(ma.ep, mb.ep, "127.0.0.1:R1")
        NORM.add(pa, pb, "http://127.0.0.1:RP1")
        ids = [json.loads(etcdctl_raw(m.ep, ["endpoint", "status", "-w", "json"]).stdout)[0]
               ["Status"]["header"] for m in (ma, mb)]
        NORM.map_id(ids[0]["member_id"], ids[1]["member_id"], "R1-")
        NORM.map_id(ids[0]["cluster_id"], ids[1]["cluster_id"], "RCLUSTER-")
        check("snapshot restore: a new cluster id", ids[1]["cluster_id"] != B.cluster_id)
        eps = (ma.ep, mb.ep)
        rev = json_of(cairnctl(["get", "a", "-w", "json"], ep=mb.ep))["header"]["revision"]
        for args in (["get", "", "--prefix", "-w", "json"], ["get", "a", "-w", "fields"],
                     ["get", "", "--from-key", "--keys-only", "--rev", str(rev - 1)],
                     ["member", "list", "-w", "json"], ["lease", "list"],
                     ["endpoint", "status", "-w", "json"], ["alarm", "list"]):
            lockstep(args, eps=eps, stderr=True, desc=f"restored: {' '.join(args)}")
        lockstep(["get", "a", "--rev", "2"], eps=eps, stderr=True,
                 desc="restored: the compaction holds")
        lockstep(["put", "after-restore", "yes", "-w", "json"], eps=eps,
                 desc="restored: a write is the next revision")
    finally:
        for m in (ma, mb):
            m.stop()


# -------------------------------------------------------------------------------- memory
MEM_LINES = [
    rb"endpoint: 127\.0\.0\.1:\d+",
    rb"heap: [\d.]+ (B|KiB|MiB|GiB) live, next reclaim at ([\d.]+ (B|KiB|MiB|GiB)|off)",
    rb"heap percent: (\d+|off)",
    rb"memory limit: (off|[\d.]+ (B|KiB|MiB|GiB|TiB)), in use [\d.]+ (B|KiB|MiB|GiB), "
    rb"resident [\d.]+ (B|KiB|MiB|GiB)( \(pressure: returning pages eagerly\))?",
    rb"reclaim cycles: \d+ \([\d.]+ per minute\), pause p50 [\d.]+ ms, p99 [\d.]+ ms, "
    rb"max [\d.]+ ms",
    rb"released by callbacks: [\d.]+ (B|KiB|MiB|GiB), refused requests: \d+",
]
MEM_JSON = {"header", "live_bytes", "goal_bytes", "limit_bytes", "heap_percent", "rss_bytes",
            "in_use_bytes", "cycles", "cycles_per_min", "pause_p50_ms", "pause_p99_ms",
            "pause_max_ms", "released_bytes", "refusals", "pressure", "subsystems"}


def memory_blocks(out):
    """memory status (simple) of several endpoints: {endpoint: [lines]}."""
    blocks, cur = {}, None
    for ln in out.splitlines():
        if ln.startswith(b"endpoint: "):
            cur = ln[len(b"endpoint: "):].decode()
            blocks[cur] = []
        if cur is not None:
            blocks[cur].append(ln)
    return blocks


def memory_simple_ok(lines):
    head = all(re.fullmatch(rx, ln) for rx, ln in zip(MEM_LINES, lines))
    subs = [ln for ln in lines[len(MEM_LINES):]]
    return head and len(lines) > len(MEM_LINES) and all(
        re.fullmatch(rb"  [a-z_]+ +[\d.]+ (B|KiB|MiB|GiB) +refusals \d+", ln) for ln in subs)


def section_memory():
    """cairn's own memory status|set: no etcd counterpart, so shapes and values."""
    log("== memory status|set")
    if B_IS_ETCD:
        b = cairnctl(["memory", "status"])
        check("memory status against etcd: one Error line, exit 1",
              b.returncode == 1 and b.stderr.count(b"\n") == 1 and
              b.stderr.startswith(b"Error: ") and b.stdout == b"", b.stderr.decode())
        return
    eps = B.eps()
    b = cairnctl(["memory", "status"], ep=eps)
    blocks = memory_blocks(b.stdout)
    check("memory status: one block per endpoint, in the order given",
          b.returncode == 0 and list(blocks) == [m.ep for m in B.members], b.stdout.decode())
    for ep, lines in blocks.items():
        check(f"memory status of {ep}: every line has its shape", memory_simple_ok(lines),
              b"\n".join(lines).decode())
        check(f"memory status of {ep}: limit off, heap percent 100 at start",
              b"memory limit: off," in lines[3] and lines[2] == b"heap percent: 100")
    b = cairnctl(["memory", "status", "-w", "json"], ep=eps)
    try:
        ds = json_lines(b.stdout)
    except ValueError as e:
        ds = []
        check("memory status -w json parses", False, f"{e}: {b.stdout!r}")
    check("memory status -w json: one object per endpoint", b.returncode == 0 and
          len(ds) == len(B.members))
    for i, d in enumerate(ds):
        subs = d.get("subsystems", [])
        check(f"memory status -w json of m{i + 1}: the fields, values that fit",
              set(d) == MEM_JSON and has_fields(d["header"], ("cluster_id", "member_id")) and
              d["header"]["member_id"] == B.ids[i] and d["header"]["cluster_id"] == B.cluster_id
              and d["limit_bytes"] == -1 and d["heap_percent"] == 100 and
              d["rss_bytes"] >= d["in_use_bytes"] > 0 and d["live_bytes"] > 0 and
              d["pause_p50_ms"] <= d["pause_p99_ms"] <= d["pause_max_ms"] and
              len(subs) >= 1 and all(set(s) == {"name", "live_bytes", "refusals"} for s in subs)
              and len({s["name"] for s in subs}) == len(subs) and all(s["name"] for s in subs),
              json.dumps(d))
    for w in ("table", "fields"):
        for cmd in (["memory", "status"], ["memory", "set", "--heap-percent", "90"]):
            b = cairnctl([*cmd, "-w", w])
            check(f"{' '.join(cmd[:2])} -w {w}: not supported, one Error line, exit 1",
                  b.returncode == 1 and b.stderr == f"Error: {w} not supported as output "
                  "format\n".encode() and b.stdout == b"", b.stderr.decode())
    # a runtime limit on one member only (m2; m1 with one member): the others keep theirs
    t = min(1, len(B.members) - 1)
    target = B.members[t].ep
    b = cairnctl(["memory", "set", "--memory-limit", "256MiB"], ep=target)
    check("memory set --memory-limit 256MiB: new and previous values", b.returncode == 0 and
          b.stdout == b"heap percent: 100 (was 100)\nmemory limit: 256.0 MiB (was off)\n",
          b.stdout.decode() + b.stderr.decode())
    blocks = memory_blocks(cairnctl(["memory", "status"], ep=eps).stdout)
    limits = [re.match(rb"memory limit: ([^,]+),", blocks.get(m.ep, [b""] * 4)[3])
              for m in B.members]
    want = [b"256.0 MiB" if i == t else b"off" for i in range(len(B.members))]
    check(f"memory status: m{t + 1} shows the 256 MiB limit, the others none",
          [x.group(1) if x else None for x in limits] == want,
          str(blocks))
    b = cairnctl(["memory", "set", "--heap-percent", "80", "-w", "json"], ep=target)
    try:
        d = json_of(b)
    except ValueError:
        d = {}
    check("memory set -w json: header, previous and new values",
          set(d) == {"header", "previous_heap_percent", "previous_limit_bytes", "heap_percent",
                     "limit_bytes"} and d["header"]["member_id"] == B.ids[t] and
          d["previous_heap_percent"] == 100 and d["heap_percent"] == 80 and
          d["previous_limit_bytes"] == d["limit_bytes"] == 256 << 20, b.stdout.decode())
    d = json_lines(cairnctl(["memory", "status", "-w", "json"], ep=target).stdout)[0]
    check(f"memory status -w json of m{t + 1}: limit_bytes 268435456, heap_percent 80",
          d["limit_bytes"] == 256 << 20 and d["heap_percent"] == 80, json.dumps(d))
    lockstep(["put", "mem", "under a limit above use"])  # the member still takes writes
    b = cairnctl(["memory", "set", "--memory-limit", "12XB"], ep=target)
    check("memory set with a malformed limit: one Error line, exit 1",
          b.returncode == 1 and b.stderr.count(b"\n") == 1, b.stderr.decode())
    b = cairnctl(["memory", "set"], ep=target)
    check("memory set without flags: usage error (exit 2)", b.returncode == 2, b.stderr.decode())
    b = cairnctl(["memory", "set", "--memory-limit", "off", "--heap-percent", "100"], ep=target)
    check("memory set back: off and 100", b.returncode == 0 and
          b.stdout == b"heap percent: 100 (was 80)\nmemory limit: off (was 256.0 MiB)\n",
          b.stdout.decode() + b.stderr.decode())


# ------------------------------------------------------------------------------ failover
def section_failover():
    """--endpoints DOWN,UP: commands succeed through the next endpoint. With clusters, DOWN
    is member 1 stopped on both sides (UP is m2, which is made leader); with one member, a
    closed port. Both tools run in lock step where etcdctl takes several endpoints."""
    if CLUSTER:
        log("== failover: m1 stopped on both sides, --endpoints m1,m2")
        for s in (A, B):
            s.members[0].term()
        A.members[0].wait()
        check("B: m1 stops on SIGTERM (no SIGKILL needed)", B.members[0].wait())
        for s in (A, B):
            check(f"{s.label}: m2 and m3 elect a leader, then m2 leads", s.lead_to(1))
        down = (A.members[0].ep, B.members[0].ep)
        up = (A.members[1].ep, B.members[1].ep)
    else:
        log("== failover: first endpoint a closed port")
        closed = f"127.0.0.1:{free_ports(1)[0]}"
        down, up = (closed, closed), (A.ep, B.ep)
    eps = (f"{down[0]},{up[0]}", f"{down[1]},{up[1]}")
    for args in (["get", "a"], ["put", "fo", "1"], ["get", "fo", "-w", "json"],
                 ["del", "fo", "-w", "fields"], ["member", "list"],
                 ["member", "list", "-w", "json"], ["alarm", "list"], ["lease", "list"]):
        lockstep(args, eps=eps, stderr=True, desc=f"failover: {' '.join(args)}")
    lockstep(["txn"], stdin=b'\nput fo 2\n\n\n', eps=eps, desc="failover: txn")
    a, b = etcdctl(["lease", "grant", "600"], ep=eps[0]), cairnctl(["lease", "grant", "600"],
                                                                   ep=eps[1])
    la, lb = a.stdout.split()[1].decode(), b.stdout.split()[1].decode()
    NORM.map_id(int(la, 16), int(lb, 16), "LEASEFO-")
    compare(a, b, "failover: lease grant", ["lease", "grant"])
    for args in (["lease", "timetolive"], ["lease", "keep-alive", "--once"], ["lease", "revoke"]):
        run_pair([*args, la], [*args, lb], f"failover: {' '.join(args)}", eps=eps)
    rev = json_of(cairnctl(["get", "fo", "-w", "json"], ep=eps[1]))["header"]["revision"]
    lockstep(["compaction", str(rev - 1)], eps=eps, desc="failover: compaction")
    # per-endpoint commands ask each endpoint: the down one fails, the next answers
    beps = f"{down[1]},{up[1]}"
    for args, fail_word in ((["endpoint", "status"], b"Failed to get the status of endpoint"),
                            (["endpoint", "hashkv"], b"Failed to get the hash of endpoint"),
                            (["defrag"], b"Failed to defragment etcd member["),
                            (["endpoint", "health"], b"is unhealthy")):
        b = cairnctl(args, ep=beps)
        check(f"failover: {' '.join(args)} reports {down[1]} and answers for {up[1]}, exit 1",
              b.returncode == 1 and fail_word in b.stderr and down[1].encode() in b.stderr and
              up[1].encode() in b.stdout + b.stderr, (b.stdout + b.stderr).decode())
    b = cairnctl(["endpoint", "hashkv"], ep=beps)
    check("failover: endpoint hashkv ends with the error line, as etcdctl",
          b.stderr.splitlines()[-1:] != [] and b.stderr.splitlines()[-1].startswith(b"Error: "),
          b.stderr.decode())
    b = cairnctl(["snapshot", "save", os.path.join(TMP, "fo.db")], ep=beps)
    check("failover: snapshot save from the next endpoint", b.returncode == 0 and
          os.path.getsize(os.path.join(TMP, "fo.db")) > 0, b.stderr.decode())
    if CLUSTER:
        b = cairnctl(["endpoint", "status", "--cluster"], ep=beps)
        check("failover: endpoint status --cluster: m1 fails, m2 and m3 answer, exit 1",
              b.returncode == 1 and b.stdout.count(b"\n") == 2 and
              down[1].encode() in b.stderr, (b.stdout + b.stderr).decode())
        # etcdctl 3.4 gives up at the first endpoint it cannot ask; cairnctl passes it over
        b = cairnctl(["move-leader", mid(B, 2)], ep=B.eps())
        check("failover: move-leader to m3 finds the leader (m2) past the down endpoint",
              b.returncode == 0 and b.stdout ==
              f"Leadership transferred from {mid(B, 1)} to {mid(B, 2)}\n".encode(),
              (b.stdout + b.stderr).decode())
    else:
        b = cairnctl(["move-leader", mid(B, 0)], ep=beps)
        check("failover: move-leader finds the leader past the down endpoint",
              b.returncode == 0, b.stderr.decode())
    if not B_IS_ETCD:
        b = cairnctl(["memory", "set", "--heap-percent", "90"], ep=beps)
        d = json_lines(cairnctl(["memory", "status", "-w", "json"], ep=up[1]).stdout)
        check("failover: memory set reaches the next endpoint", b.returncode == 0 and
              d and d[0]["heap_percent"] == 90, (b.stdout + b.stderr).decode())
        cairnctl(["memory", "set", "--heap-percent", "100"], ep=up[1])
    rev = json_of(cairnctl(["get", "fw", "-w", "json"], ep=beps))["header"]["revision"]
    p = subprocess.Popen([CAIRNCTL, "--endpoints", beps, "watch", "fw", "--rev", str(rev + 1)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
                         preexec_fn=sigint_default)
    PROCS.append(p)
    lockstep(["put", "fw", "1"], eps=eps, desc="failover: put fw")
    first = readline_within(p)
    _, err, ended = interrupt_read(p)
    check("failover: watch streams from the next endpoint, Ctrl-C exits 0",
          first == b"PUT\n" and ended and p.returncode == 0, err.decode())
    p = subprocess.Popen([CAIRNCTL, "--endpoints", beps, "lease", "keep-alive", lb],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV,
                         preexec_fn=sigint_default)
    PROCS.append(p)
    line = readline_within(p)
    out, err, ended = interrupt_read(p)
    check("failover: keep-alive of a revoked lease through the next endpoint: ends at once",
          ended and b"expired or revoked" in line + out, (line + out + err).decode())
    closed2 = f"127.0.0.1:{free_ports(1)[0]}"
    b = cairnctl(["get", "a"], ep=f"{down[1]},{closed2}")
    check("every endpoint down: one Error line naming both, exit 1",
          b.returncode == 1 and b.stderr.count(b"\n") == 1 and
          down[1].encode() in b.stderr and closed2.encode() in b.stderr, b.stderr.decode())
    env = dict(ENV, ETCDCTL_ENDPOINTS=beps)
    b = subprocess.run([CAIRNCTL, "get", "a"], capture_output=True, env=env)
    check("ETCDCTL_ENDPOINTS with failover", b.returncode == 0 and b.stdout.startswith(b"a\n"))
    env = dict(ENV, ETCDCTL_ENDPOINTS=closed2, CAIRNCTL_ENDPOINTS=beps)
    b = subprocess.run([CAIRNCTL, "get", "a"], capture_output=True, env=env)
    check("CAIRNCTL_ENDPOINTS wins over ETCDCTL_ENDPOINTS", b.returncode == 0)


# ------------------------------------------------------------------- a member that joins
def section_join():
    """Three members: a fourth joins both sides (learner, promote, voter), --cluster and
    move-leader include it, then it is removed."""
    log("== a member joins: add --learner, promote, --cluster, move-leader, remove")
    ports = {s.label: free_ports(2) for s in (A, B)}
    NORM.add(f"127.0.0.1:{ports['A'][0]}", f"127.0.0.1:{ports['B'][0]}", "127.0.0.1:C4")
    NORM.add(f"127.0.0.1:{ports['A'][1]}", f"127.0.0.1:{ports['B'][1]}", "127.0.0.1:P4")
    add = {s.label: ["member", "add", "m4", "--peer-urls",
                     f"http://127.0.0.1:{ports[s.label][1]}", "--learner"] for s in (A, B)}
    a, b = etcdctl(add["A"]), cairnctl(add["B"])
    if not (a.returncode == 0 and b.returncode == 0):
        check("join: member add m4 --learner on both", False, (a.stderr + b.stderr).decode())
        return
    ida, idb = int(a.stdout.split()[1], 16), int(b.stdout.split()[1], 16)
    NORM.map_id(ida, idb, "M4-")
    compare(a, b, "join: member add m4 --learner", add["B"])
    joined = []
    for s, out, new_id in ((A, a.stdout, ida), (B, b.stdout, idb)):
        env = dict(re.findall(rb'^(ETCD_[A-Z_]+)="(.*)"$', out, re.M))
        m = Member(s, 3)
        m.client_port, m.peer_port = ports[s.label]
        m.launch(env.get(b"ETCD_INITIAL_CLUSTER", b"").decode(), "existing",
                 f"http://127.0.0.1:{m.peer_port}")
        s.members.append(m)
        s.ids[3] = new_id
        joined.append(m)
    try:
        res = []
        for s in (A, B):  # promote once the learner has caught up: bounded retries
            last = [None]

            def promoted():
                last[0] = run_tool(s, ["member", "promote", mid(s, 3)])
                return last[0].returncode == 0 or not s.members[3].alive()
            poll(promoted, 40, 0.2)
            res.append(last[0])
        compare(res[0], res[1], "join: member promote m4 (caught up)", ["member", "promote"])
        check("join: member promote m4 succeeded on B", res[1].returncode == 0,
              res[1].stderr.decode())

        def named(s):  # m4 serves and the member list carries its name (see the report)
            if not s.members[3].serving():
                return False
            d = json.loads(etcdctl_raw(s.ep, ["member", "list", "-w", "json"]).stdout or "{}")
            return any(m.get("name") == "m4" for m in d.get("members", []))
        for s in (A, B):
            check(f"join: {s.label}'s m4 serves and is named in the member list",
                  poll(lambda: named(s), 30))
        for w in ("simple", "json", "table", "fields"):
            lockstep(["member", "list", "-w", w], desc=f"join: member list -w {w} (4 voters)")
        member_order_ok(B)
        for w in ("simple", "json"):
            lockstep(["endpoint", "status", "--cluster", "-w", w], stderr=True,
                     desc=f"join: endpoint status --cluster -w {w}")
        lockstep(["endpoint", "health", "--cluster"], stderr=True,
                 desc="join: endpoint health --cluster")
        lockstep(["endpoint", "hashkv", "--cluster", "--rev", "5", "-w", "json"],
                 desc="join: endpoint hashkv --cluster")
        run_pair(["move-leader", mid(A, 3)], ["move-leader", mid(B, 3)],
                 "join: move-leader to m4", eps=(A.eps(), B.eps()))
        check("join: B's members agree m4 leads", poll(lambda: B.leader() == 3, 10))
        poll(lambda: A.leader() == 3, 10)
        lockstep(["endpoint", "status", "--cluster", "-w", "table"], stderr=True,
                 desc="join: endpoint status --cluster with m4 leading")
        run_pair(["move-leader", mid(A, 0)], ["move-leader", mid(B, 0)],
                 "join: move-leader back to m1", eps=(A.eps(), B.eps()))
        for s in (A, B):
            check(f"join: {s.label}: m1 leads again", s.lead_to(0))
        run_pair(["member", "remove", mid(A, 3)], ["member", "remove", mid(B, 3)],
                 "join: member remove m4")
        check("join: B's removed member m4 stops by itself", joined[1].wait(20))
        joined[0].wait(20)
        lockstep(["member", "list"], desc="join: member list (3 again)")
    finally:
        for s, m in zip((A, B), joined):
            if m.alive():
                m.proc.kill()
                m.proc.wait()
            s.members.remove(m)
            s.ids.pop(3, None)


def section_cluster_one():
    """One member per side: a separate two-member cluster (C and a learner D that cairnctl
    adds and promotes), the cluster commands with real members, both tools asked the same
    server."""
    log("== a two-member cluster: member add/promote, --cluster, move-leader")
    c = Side("C", SERVER_B, CAIRNCTL)
    c.start(1)
    d_client, d_peer = free_ports(2)
    d_ep = f"127.0.0.1:{d_client}"
    b = cairnctl(["member", "add", "d", "--peer-urls", f"http://127.0.0.1:{d_peer}",
                  "--learner"], ep=c.ep)
    env = dict(re.findall(rb'^(ETCD_[A-Z_]+)="(.*)"$', b.stdout, re.M))
    check("member add prints the new member's environment",
          b.returncode == 0 and env.get(b"ETCD_NAME") == b"d" and
          env.get(b"ETCD_INITIAL_CLUSTER_STATE") == b"existing", b.stdout.decode())
    d_id = int(b.stdout.split()[1], 16)
    d = Member(c, 1, "d")
    d.client_port, d.peer_port = d_client, d_peer
    d.launch(env.get(b"ETCD_INITIAL_CLUSTER", b"").decode(), "existing",
             f"http://127.0.0.1:{d_peer}")
    try:
        promoted = [None]

        def promote():
            promoted[0] = cairnctl(["member", "promote", f"{d_id:x}"], ep=c.ep)
            return promoted[0].returncode == 0 or not d.alive()
        poll(promote, 30)
        promoted = promoted[0]
        cluster_id = json_of(cairnctl(["member", "list", "-w", "json"], ep=c.ep))["header"][
            "cluster_id"]
        check("member promote: the caught-up learner becomes a voter",
              promoted.returncode == 0 and promoted.stdout ==
              f"Member {d_id:16x} promoted in cluster {cluster_id:16x}\n".encode(),
              promoted.stdout.decode() + promoted.stderr.decode())
        for w in ("simple", "json", "table", "fields"):
            args = ["member", "list", "-w", w]
            compare(etcdctl(args, ep=c.ep), cairnctl(args, ep=c.ep),
                    f"cluster: member list -w {w}", args)
        def named():  # D serves and the member list carries its client URL (see the report)
            if not d.serving():
                return False
            out = cairnctl(["member", "list"], ep=c.ep).stdout
            return f"{d_id:x}, started, d,".encode() in out
        check("cluster: D serves and is named in the member list", poll(named, 30))
        for w in ("simple", "json", "table"):
            args = ["endpoint", "hashkv", "--cluster", "-w", w]
            compare(etcdctl(args, ep=c.ep), cairnctl(args, ep=c.ep),
                    f"cluster: endpoint hashkv --cluster -w {w}", args)
        b = cairnctl(["endpoint", "status", "--cluster"], ep=c.ep)
        check("cluster: endpoint status --cluster lists both members",
              b.returncode == 0 and b.stdout.count(b"\n") == 2 and
              f"{d_id:x}".encode() in b.stdout, b.stdout.decode() + b.stderr.decode())
        b = cairnctl(["endpoint", "health", "--cluster"], ep=c.ep)
        check("cluster: endpoint health --cluster, both healthy",
              b.returncode == 0 and b.stderr.count(b"is healthy") == 2, b.stderr.decode())
        # move the leadership to D, with both endpoints given (leader found)
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
        if d.alive():
            d.proc.kill()
            d.proc.wait()
        c.stop_all()


def section_usage():
    log("== usage errors, help, version")
    for args in (["get"], ["put"], ["del"], ["lease", "grant"], ["lease", "revoke", "zz"],
                 ["member", "remove"], ["compaction"], ["compaction", "x"], ["move-leader"],
                 ["snapshot", "save"], ["snapshot", "status"], ["watch"], ["txn", "x"],
                 ["get", "a", "--prefix", "--from-key"], ["get", "a", "--order=bad"],
                 ["get", "a", "--nosuchflag"], ["nosuchcommand"], ["memory", "set"]):
        b = cairnctl(args)
        check(f"usage error exits 2 with the usage: {' '.join(args)}",
              b.returncode == 2 and b.stderr.startswith(b"Error: ") and b.stdout == b"",
              b.stderr.decode())
    a, b = etcdctl(["version"]), cairnctl(["version"])
    check("version: the tool's own line, then etcdctl's API line",
          b.returncode == 0 and b.stdout.startswith(b"cairnctl version: ") and
          b.stdout.splitlines()[1:] == a.stdout.splitlines()[1:] == [b"API version: 3.4"],
          b.stdout.decode())


def main():
    if not os.access(CAIRNCTL, os.X_OK):
        raise SystemExit(f"FATAL: {CAIRNCTL} is not executable")
    t0 = time.monotonic()
    try:
        if CLUSTER:
            A.start(MEMBERS)
            B.start(MEMBERS)
        else:
            peer = f"http://127.0.0.1:{free_ports(1)[0]}"  # advertised only, never listened on
            A.start(1, peer)
            B.start(1, peer)
            NORM.add(peer, peer, "http://127.0.0.1:P1")
        for i in range(MEMBERS):
            am, bm = A.members[i], B.members[i]
            NORM.add(am.ep, bm.ep, f"127.0.0.1:C{i + 1}")
            NORM.add(f"127.0.0.1:{am.peer_port}", f"127.0.0.1:{bm.peer_port}",
                     f"127.0.0.1:P{i + 1}")
            NORM.map_id(A.ids[i], B.ids[i], f"M{i + 1}-")
        NORM.map_id(A.cluster_id, B.cluster_id, "CLUSTER-")
        log("outputs are compared after these normalisations only:")
        for name, where, why in NORMALISATIONS:
            log(f"  {name} ({where}): {why}")
        if CLUSTER:
            for s in (A, B):
                check(f"{s.label}: m1 becomes the leader (move-leader)", s.lead_to(0))
        sections = [section_kv, section_txn, section_lease, section_member, section_watch,
                    section_endpoint, section_snapshot, section_memory,
                    section_join if CLUSTER else section_cluster_one, section_usage,
                    section_failover]
        for section in sections:
            try:
                section()
            except Exception:  # a broken section must not hide the others' results
                check(f"{section.__name__} ran to the end", False, traceback.format_exc())
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait()
        A.stop_all()
        B.stop_all()
    if not B_IS_ETCD:  # a sanitizer build of cairnd reports into its logs
        for name in sorted(os.listdir(TMP)):
            if name.endswith(".log") and name.startswith(("B-", "C-")):
                with open(os.path.join(TMP, name), "rb") as f:
                    text = f.read()
                bad = [w for w in (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer",
                                   b"runtime error:") if w in text]
                check(f"no sanitizer report in {name}", not bad, str(bad))
    log(f"{CHECKS[0]} checks in {time.monotonic() - t0:.1f} s, {len(FAILS)} failed")
    if FAILS:
        for m in A.members + B.members:
            log(f"tail of {m.log}:")
            with open(m.log, "rb") as f:
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
