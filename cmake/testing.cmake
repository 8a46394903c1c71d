# Test registration helpers. Every test carries exactly one kind label:
#   unit    fast, per-module, run under ASan+UBSan too
#   sim     deterministic simulation (raft), run under ASan+UBSan too
#   cluster real processes, several nodes
#   compat  real etcd clients (etcdctl, python3-etcd3) against cairnd
#   install cmake --install into a temp prefix; examples/ built and run against it
#   lint    formatting and other source checks
# Run one kind with: ctest --test-dir build -L unit

# cairn_unit_test(name src... [LIBS lib...] [LABEL kind] [TIMEOUT s] [ARGS arg...])
function(cairn_unit_test name)
  cmake_parse_arguments(T "" "LABEL;TIMEOUT" "LIBS;ARGS" ${ARGN})
  if(NOT T_LABEL)
    set(T_LABEL unit)
  endif()
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 120)
  endif()
  add_executable(${name} ${T_UNPARSED_ARGUMENTS})
  target_include_directories(${name} PRIVATE ${CMOCKA_INCLUDE_DIR})
  target_link_libraries(${name} PRIVATE ${T_LIBS} ${CMOCKA_LIBRARY})
  add_test(NAME ${name} COMMAND ${name} ${T_ARGS})
  set_tests_properties(${name} PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT})
endfunction()

# cairn_script_test(name LABEL kind COMMAND cmd... [TIMEOUT s])
function(cairn_script_test name)
  cmake_parse_arguments(T "" "LABEL;TIMEOUT" "COMMAND" ${ARGN})
  if(NOT T_TIMEOUT)
    set(T_TIMEOUT 300)
  endif()
  add_test(NAME ${name} COMMAND ${T_COMMAND})
  set_tests_properties(${name} PROPERTIES LABELS ${T_LABEL} TIMEOUT ${T_TIMEOUT})
endfunction()
