# cairn_compat_suite(SUFFIX SERVER [NO_CHECKPERF] [TIMEOUT_SCALE n])
#
# Registers the etcd compatibility suite (tests/compat/etcdctl and tests/compat/python)
# against one server binary that takes etcd's flags. SERVER may be a path or a generator
# expression such as $<TARGET_FILE:cairnd>. Tests, all labelled `compat`:
#   compat_etcdctl_<SUFFIX>    etcdctl 3.4 commands and output       (must-show 1)
#   compat_python_<SUFFIX>     python3-etcd3 round trips             (must-show 2)
#   compat_crash_<SUFFIX>      kill -9 during puts, restart, verify   (must-show 3)
#   compat_badinput_<SUFFIX>   raw gRPC bad input, etcd's statuses   (must-show 4)
#   compat_checkperf_<SUFFIX>  etcdctl check perf --load=s, ~65 s    (must-show 5, RUN_SERIAL)
# Each script takes the server binary as its only required argument, so a suite can also
# be run by hand: tests/compat/etcdctl/test_etcdctl.sh build/release/tools/cairnd
include_guard(GLOBAL)

get_filename_component(CAIRN_COMPAT_DIR ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)
find_program(CAIRN_COMPAT_BASH bash REQUIRED)

function(cairn_compat_suite suffix server)
  cmake_parse_arguments(S "NO_CHECKPERF" "TIMEOUT_SCALE" "" ${ARGN})
  if(NOT S_TIMEOUT_SCALE)
    set(S_TIMEOUT_SCALE 1)
  endif()
  # name script timeout_s: the usual run takes 3-15 s (check perf ~65 s) on 2 idle cores;
  # the timeouts leave room for a loaded machine.
  set(tests
      etcdctl etcdctl/test_etcdctl.sh 300
      python python/test_python.sh 240
      crash python/test_crash.sh 300
      badinput python/test_badinput.sh 240)
  if(NOT S_NO_CHECKPERF)
    list(APPEND tests checkperf etcdctl/test_checkperf.sh 480)
  endif()
  list(LENGTH tests n)
  math(EXPR last "${n} - 1")
  foreach(i RANGE 0 ${last} 3)
    math(EXPR j "${i} + 1")
    math(EXPR k "${i} + 2")
    list(GET tests ${i} name)
    list(GET tests ${j} script)
    list(GET tests ${k} timeout)
    math(EXPR timeout "${timeout} * ${S_TIMEOUT_SCALE}")
    set(test compat_${name}_${suffix})
    add_test(NAME ${test} COMMAND ${CAIRN_COMPAT_BASH} ${CAIRN_COMPAT_DIR}/${script} ${server})
    set_tests_properties(${test} PROPERTIES LABELS compat TIMEOUT ${timeout})
    if(name STREQUAL "checkperf")
      # Latency figures are only meaningful without other tests competing for 2 cores.
      set_tests_properties(${test} PROPERTIES RUN_SERIAL TRUE)
    endif()
  endforeach()
endfunction()
