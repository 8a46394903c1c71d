#!/usr/bin/env bash
# cairnctl against etcdctl 3.4 on real servers (label compat): see cairnctl_compat.py.
# usage: test_cairnctl.sh CAIRNCTL [SERVER_B] [--members 1|3]
#   SERVER_B: the server cairnctl talks to (default /usr/bin/etcd, like etcdctl's side);
#   --members 3: three-member clusters on both sides (default: one member each)
set -u
if [ ! -x /usr/bin/etcd ] || [ ! -x /usr/bin/etcdctl ]; then
  echo "SKIP: /usr/bin/etcd or /usr/bin/etcdctl is missing (tools/install-deps installs etcd-server and etcd-client)"
  exit 77
fi
exec /usr/bin/python3 "$(dirname "$0")/cairnctl_compat.py" "$@"
