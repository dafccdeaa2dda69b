# The command line's shell tests, included by this directory's
# CMakeLists.txt: life cycle, errors, foreign XDP programs, fleet keys,
# hostile state under the pin directory, the reply rate limit, other XDP
# programs beside the responder through libxdp. Root, veth pairs with their
# peers in a namespace of the test, a bpffs of their own; unique names, so
# they may run in parallel. Each gets the agent and an XDP_PASS object,
# then the example servers, the pinned key tool and a counting XDP program
# (which only some of them use).
set(agent_cli_tests lifecycle errors foreign_xdp fleet_keys hostile_state
    reply_limit multiprog)
foreach(t ${agent_cli_tests})
  add_test(NAME agent.cli.${t}
    COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/${t}.sh
            $<TARGET_FILE:dtls-cookie> ${PROJECT_BINARY_DIR}/bpf/xdp_pass.bpf.o
            $<TARGET_FILE:dtls-cookie-gnutls-server>
            $<TARGET_FILE:dtls-cookie-openssl-server>
            $<TARGET_FILE:dc_pinned_keys>
            ${CMAKE_CURRENT_BINARY_DIR}/xdp_count.bpf.o)
  set_tests_properties(agent.cli.${t} PROPERTIES TIMEOUT 120)
endforeach()
