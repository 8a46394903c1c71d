#!/usr/bin/env bash
# install_package — libcairn as a user gets it (issue 9, must show 1).
#  1. `cmake --install BUILD --prefix P` into a temp dir. Every file docs/embedding.md lists
#     is there; libcairn.so has SONAME libcairn.so.MAJOR and exports exactly the functions
#     cairn.h declares plus the etcd message code (etcdserverpb__/mvccpb__/authpb__);
#     libcairn.a is a regular archive holding every module.
#  2. examples/ (every example listed in examples/examples.txt) built out of tree four times,
#     warnings as errors: pkg-config + libcairn.so, pkg-config --static + libcairn.a,
#     find_package(cairn) + cairn::cairn, find_package(cairn) + cairn::cairn_static.
#  3. Every example of every build runs (as examples.txt says) against a one-member cairnd
#     started from the prefix on free 127.0.0.1 ports.
#  4. The installed cairnd, cairnctl and cairn-up answer from the prefix; cairn-up finds the
#     cairnd beside it.
# Usage: test_install.sh CMAKE BUILD_DIR SOURCE_DIR CC LIBDIR VERSION
set -u
CMAKE=$1 BUILD=$2 SRC=$3 CC=$4 LIBDIR=$5 VERSION=$6
# shellcheck source=../../compat/lib/server.sh
. "$SRC/tests/compat/lib/server.sh"
compat_init "$BUILD/tools/cairnd"

# Nothing from the developer's environment may point the builds elsewhere.
unset CMAKE_PREFIX_PATH PKG_CONFIG_PATH LD_LIBRARY_PATH CFLAGS CPPFLAGS LDFLAGS LDLIBS
unset CAIRND CAIRNCTL_ENDPOINTS MAKEFLAGS
export LC_ALL=C # sort and comm agree on one order

T=$COMPAT_TMP
P=$T/prefix
L=$P/$LIBDIR
MAJOR=${VERSION%%.*}

# ---- 1. install ----------------------------------------------------------------------------
compat_log "cmake --install $BUILD --prefix $P"
if ! "$CMAKE" --install "$BUILD" --prefix "$P" >"$T/install.log" 2>&1; then
  cat "$T/install.log" >&2
  compat_die "cmake --install failed"
fi
for f in include/cairn/cairn.h include/cairn/etcdserverpb/rpc.pb-c.h \
  include/cairn/mvccpb/kv.pb-c.h include/cairn/authpb/auth.pb-c.h \
  "$LIBDIR/libcairn.so.$VERSION" "$LIBDIR/libcairn.a" "$LIBDIR/pkgconfig/cairn.pc" \
  "$LIBDIR/cmake/cairn/cairnConfig.cmake" "$LIBDIR/cmake/cairn/cairnConfigVersion.cmake" \
  "$LIBDIR/cmake/cairn/cairnTargets.cmake"; do
  compat_check "installed $f" test -f "$P/$f"
done
compat_eq "libcairn.so.$MAJOR links to" "libcairn.so.$VERSION" "$(readlink "$L/libcairn.so.$MAJOR")"
compat_eq "libcairn.so links to" "libcairn.so.$MAJOR" "$(readlink "$L/libcairn.so")"
for b in cairnd cairnctl cairn-up; do compat_check "installed bin/$b" test -x "$P/bin/$b"; done

so=$L/libcairn.so.$VERSION
compat_eq "SONAME" "libcairn.so.$MAJOR" \
  "$(readelf -d "$so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')"

# Exports: exactly the functions cairn.h declares (comments stripped), plus the etcd messages.
nm -D --defined-only "$so" | awk '{print $NF}' | sed 's/@.*//' | sort -u >"$T/exports"
perl -0777 -pe 's{/\*.*?\*/}{}gs' "$P/include/cairn/cairn.h" | grep -o 'cairn_[a-z0-9_]*(' |
  tr -d '(' | sort -u >"$T/declared"
compat_log "libcairn.so exports $(wc -l <"$T/exports") symbols;" \
  "$(grep -c '^cairn_' "$T/exports") cairn_* of $(wc -l <"$T/declared") declared in cairn.h"
compat_eq "exports beyond cairn.h and the etcd messages" "" \
  "$(grep -vxF -f "$T/declared" "$T/exports" | grep -Ev '^(etcdserverpb|mvccpb|authpb)__' | head -20)"
compat_eq "cairn.h functions libcairn.so does not export" "" \
  "$(comm -23 "$T/declared" "$T/exports" | head -20)"
compat_eq "module-internal symbols exported" "" \
  "$(grep -E '^(store|raft|srv|alloc|client|bolt|wtx|embed)_|^(cairnpb|grpc)__' "$T/exports" | head)"
compat_check "exports etcdserverpb__put_request__descriptor" \
  grep -qx etcdserverpb__put_request__descriptor "$T/exports"

# The static library: a regular (not thin) archive with the objects of every module.
compat_eq "libcairn.a archive magic" '!<arch>' "$(head -c 7 "$L/libcairn.a")"
nm --defined-only "$L/libcairn.a" 2>/dev/null | awk 'NF == 3 {print $3}' >"$T/static_syms"
for sym in cairn_strerror alloc_ raft_ etcdserverpb__ bolt_ store_ srv_ client_ cairn_client_open; do
  compat_check "libcairn.a defines $sym*" grep -q "^$sym" "$T/static_syms"
done
compat_log "libcairn.a: $(ar t "$L/libcairn.a" | wc -l) objects"

export PKG_CONFIG_PATH=$L/pkgconfig
compat_eq "pkg-config --modversion cairn" "$VERSION" "$(pkg-config --modversion cairn)"
compat_eq "pkg-config libdir" "$(cd "$L" && pwd -P)" \
  "$(cd "$(pkg-config --variable=libdir cairn)" && pwd -P)"

# ---- 2. build the examples out of tree -----------------------------------------------------
examples=$(sed -n 's/^\([A-Za-z0-9_][A-Za-z0-9_]*\).*/\1/p' "$SRC/examples/examples.txt")
compat_log "examples: $(echo $examples)"
[ -n "$examples" ] || compat_fail "examples/examples.txt lists no example"

build_pkgconfig() { # DIR STATIC(0|1)
  mkdir -p "$1" &&
    make -C "$1" -f "$SRC/examples/Makefile" CC="$CC" STATIC="$2" \
      CFLAGS="-O2 -g -Wall -Wextra -Werror" >"$1.log" 2>&1
}
build_cmake() { # DIR STATIC(OFF|ON)
  "$CMAKE" -S "$SRC/examples" -B "$1" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$CC" \
    -DCMAKE_C_FLAGS=-Werror -DCAIRN_EXAMPLES_STATIC="$2" >"$1.log" 2>&1 &&
    "$CMAKE" --build "$1" -j2 >>"$1.log" 2>&1
}
builds=(pkgconfig-shared pkgconfig-static cmake-shared cmake-static)
for b in "${builds[@]}"; do
  case $b in
  pkgconfig-shared) build_pkgconfig "$T/$b" 0 ;;
  pkgconfig-static) build_pkgconfig "$T/$b" 1 ;;
  cmake-shared) build_cmake "$T/$b" OFF ;;
  cmake-static) build_cmake "$T/$b" ON ;;
  esac
  rc=$?
  if [ $rc -ne 0 ]; then
    tail -n 30 "$T/$b.log" >&2
    compat_fail "build $b"
  else
    compat_pass "build $b"
  fi
done

# ---- 3. run them ---------------------------------------------------------------------------
COMPAT_SERVER=$P/bin/cairnd
compat_server_start
ENDPOINTS=$COMPAT_ENDPOINT

# run_example BUILD NAME: runs the built NAME as examples.txt (or NAME.run) says.
run_example() {
  local b=$1 name=$2 bin=$T/$1/$2 work line args
  work=$(mktemp -d "$T/run.XXXXXX")
  line=$(grep -E "^$name([[:space:]]|\$)" "$SRC/examples/examples.txt" | head -n 1)
  args=${line#"$name"}
  (
    cd "$work" || exit 1
    export ENDPOINTS WORKDIR=$work
    if [ "$b" = pkgconfig-shared ]; then export LD_LIBRARY_PATH=$L; fi
    if [ -x "$SRC/examples/$name.run" ]; then
      exec timeout 120 "$SRC/examples/$name.run" "$bin"
    fi
    eval "set -- $args"
    exec timeout 120 "$bin" "$@"
  ) >"$work.log" 2>&1
  local rc=$?
  sed "s/^/  $b\/$name: /" "$work.log" >&2
  return $rc
}

for b in "${builds[@]}"; do
  for name in $examples; do
    bin=$T/$b/$name
    if [ ! -x "$bin" ]; then
      compat_fail "$b/$name was not built"
      continue
    fi
    needed=$(readelf -d "$bin" | grep -c "NEEDED.*\[libcairn\.so\.$MAJOR\]")
    case $b in
    *-shared)
      compat_eq "$b/$name needs libcairn.so.$MAJOR" 1 "$needed"
      # the library it loads is the installed one (LD_LIBRARY_PATH / CMake's RUNPATH)
      compat_check "$b/$name loads $L/libcairn.so.$MAJOR" \
        grep -qF "$L/libcairn.so.$MAJOR" <<<"$(LD_LIBRARY_PATH=$([ "$b" = pkgconfig-shared ] && echo "$L") ldd "$bin")"
      ;;
    *-static) compat_eq "$b/$name has libcairn linked in (no libcairn.so needed)" 0 "$needed" ;;
    esac
    compat_check "run $b/$name" run_example "$b" "$name"
  done
done

# ---- 4. the installed tools ----------------------------------------------------------------
compat_check "cairnd --help" "$P/bin/cairnd" --help >/dev/null
compat_check "cairnd --version says $VERSION" grep -q "$VERSION" <<<"$("$P/bin/cairnd" --version)"
compat_check "cairnctl --help" "$P/bin/cairnctl" --help >/dev/null
compat_check "cairnctl version says $VERSION" grep -q "$VERSION" <<<"$("$P/bin/cairnctl" version)"
compat_check "cairnctl reads what remote_client wrote" grep -q "hello from remote_client" \
  <<<"$("$P/bin/cairnctl" --endpoints="$ENDPOINTS" get cairn-examples/remote-client)"
compat_check "cairn-up --help" "$P/bin/cairn-up" --help >/dev/null
# With no CAIRND and no cairnd on PATH, the installed cairn-up runs the cairnd beside it.
compat_eq "cairn-up --version: the cairnd it runs" "cairn-up runs $P/bin/cairnd" \
  "$(cd "$T" && env -u CAIRND PATH=/usr/bin:/bin "$P/bin/cairn-up" --version | head -n 1)"

compat_server_stop || compat_fail "cairnd needed SIGKILL to stop"
compat_finish
