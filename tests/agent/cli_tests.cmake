# The command line's shell tests, included by this directory's
# CMakeLists.txt: life cycle, errors, foreign XDP programs, fleet keys,
# the reply rate limit.
# Root, veth pairs with their peers in a namespace of the test, a bpffs of
# their own; unique names, so they may run in parallel.
set(agent_cli_tests lifecycle errors foreign_xdp fleet_keys reply_limit)
foreach(t ${agent_cli_tests})
  add_test(NAME agent.cli.${t}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/${t}.sh
            $<TARGET_FILE:dtls-cookie> ${PROJECT_BINARY_DIR}/bpf/xdp_pass.bpf.o)
  set_tests_properties(agent.cli.${t} PROPERTIES TIMEOUT 120)
endforeach()
