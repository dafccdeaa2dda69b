// Running the responder beside other XDP programs on one interface through
// libxdp's multi-program dispatcher: what an interface's hook holds as
// libxdp sees it, whether this kernel and libxdp can hold the responder,
// and linking the responder's freplace program into a dispatcher and out.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "dtls_cookie/responder.hpp"

namespace dtls_cookie {

// One program in a dispatcher, as xdp-loader status shows it.
struct dispatched_program {
  uint32_t id = 0;
  std::string name;
  unsigned priority = 0;  // lower runs earlier
  // The verdicts that go on to the next program, e.g. "XDP_PASS".
  std::string chain_call_actions;
};

// An interface's XDP hook as libxdp sees it.
struct xdp_hook {
  uint32_t prog_id = 0;  // the program on the hook; 0 when there is none
  std::string prog_name;
  std::optional<attach_mode> mode;
  bool dispatcher = false;  // libxdp's dispatcher, not one program alone
  std::vector<dispatched_program> programs;  // in run order
};

// The hook of ifindex. libxdp finds a dispatcher's programs through its
// pins, under libxdp_bpffs(): a dispatcher pinned elsewhere shows as one
// program alone. Throws bpf_error; EOPNOTSUPP: the dispatcher is of a
// newer libxdp than this one.
xdp_hook query_xdp_hook(int ifindex);

// Where libxdp pins dispatchers and takes its lock: $LIBXDP_BPFFS or
// /sys/fs/bpf, which must be a bpffs.
std::filesystem::path libxdp_bpffs();

// Whether the kernel loads freplace (BPF_PROG_TYPE_EXT) programs at all;
// libxdp's dispatcher is made of them. Where it does not, libxdp attaches
// one program alone instead of a dispatcher.
bool kernel_loads_extensions();

// Builds a dispatcher attached nowhere, links ext_prog_fd into it and runs
// one frame that is not DTLS through it (the responder counts it as
// not_ours): the proof that kernel and libxdp accept the responder in a
// dispatcher, before any interface changes. Throws bpf_error.
void probe_dispatcher(int ext_prog_fd);

// Links ext_prog_fd (a loaded extension, see load_extension()) into the
// dispatcher of ifindex in mode: libxdp builds a new dispatcher holding
// the programs the old one held plus this one, in the order of their
// priorities, swaps it in atomically and pins it under libxdp_bpffs().
// Throws bpf_error.
void attach_to_dispatcher(int ext_prog_fd, int ifindex, attach_mode mode);

// Takes ext_prog_fd out of the dispatcher of ifindex; libxdp removes the
// dispatcher with its last program. False when it was not in it.
bool detach_from_dispatcher(int ext_prog_fd, int ifindex);

// Removes the dispatcher of ifindex with every program in it, and libxdp's
// pins of it.
void remove_dispatcher(int ifindex);

}  // namespace dtls_cookie
