// The responder in libxdp's multi-program dispatcher: libxdp's view of a
// hook, the probes that tell whether a dispatcher can hold the responder,
// and linking its freplace program in and out. libxdp's messages go where
// libbpf's go.
#include "dtls_cookie/multiprog.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <xdp/libxdp.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdarg>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "dtls_cookie/error.hpp"

namespace dtls_cookie {
namespace {

[[noreturn]] void fail(std::string_view call, std::string_view object,
                       int err) {
  if (err < 0) err = -err;
  std::string what = std::string(call) + " on " + std::string(object) +
                     " failed: " + std::strerror(err);
  if (err == EPERM) what += " (run as root or with CAP_BPF+CAP_NET_ADMIN)";
  throw bpf_error(what, err);
}

std::string ifindex_name(int ifindex) {
  return "ifindex " + std::to_string(ifindex);
}

// libxdp's levels are libbpf's, so its messages join libbpf's stream
// (with -v the agent shows both).
int forward_to_libbpf(libxdp_print_level level, const char* fmt, va_list args) {
  const libbpf_print_fn_t fn = libbpf_set_print(nullptr);
  libbpf_set_print(fn);
  if (fn == nullptr) return 0;
  return fn(libbpf_print_level(level), fmt, args);
}

void route_libxdp_log() {
  static std::once_flag once;
  std::call_once(once, [] { libxdp_set_print(forward_to_libbpf); });
}

enum xdp_attach_mode xdp_mode(attach_mode mode) {
  return mode == attach_mode::native ? XDP_MODE_NATIVE : XDP_MODE_SKB;
}

struct program_closer {
  void operator()(xdp_program* p) const { xdp_program__close(p); }
};
struct multiprog_closer {
  void operator()(xdp_multiprog* mp) const { xdp_multiprog__close(mp); }
};
using program_ptr = std::unique_ptr<xdp_program, program_closer>;
using multiprog_ptr = std::unique_ptr<xdp_multiprog, multiprog_closer>;

// libxdp's handle on a loaded program; it duplicates the fd.
program_ptr program_from_fd(int fd) {
  xdp_program* p = xdp_program__from_fd(fd);
  if (const long err = libxdp_get_error(p); err || p == nullptr)
    fail("xdp_program__from_fd", "the responder's freplace program",
         err ? int(err) : EINVAL);
  return program_ptr(p);
}

uint32_t prog_id_of(int fd) {
  bpf_prog_info info{};
  uint32_t len = sizeof info;
  const int err = bpf_obj_get_info_by_fd(fd, &info, &len);
  if (err) fail("bpf_obj_get_info_by_fd", "the responder's program", err);
  return info.id;
}

}  // namespace

std::filesystem::path libxdp_bpffs() {
  // The variable libxdp itself reads (secure_getenv, as here).
  const char* env = secure_getenv("LIBXDP_BPFFS");
  return env != nullptr && env[0] != '\0' ? env : "/sys/fs/bpf";
}

xdp_hook query_xdp_hook(int ifindex) {
  route_libxdp_log();
  xdp_multiprog* raw = xdp_multiprog__get_from_ifindex(ifindex);
  const long err = libxdp_get_error(raw);
  if (err == -ENOENT || (err == 0 && raw == nullptr)) return {};
  if (err)
    fail("xdp_multiprog__get_from_ifindex", ifindex_name(ifindex), int(err));
  const multiprog_ptr mp(raw);
  xdp_hook hook;
  if (const xdp_program* main = xdp_multiprog__main_prog(mp.get())) {
    hook.prog_id = xdp_program__id(main);
    hook.prog_name = xdp_program__name(main);
  }
  switch (xdp_multiprog__attach_mode(mp.get())) {
    case XDP_MODE_NATIVE:
      hook.mode = attach_mode::native;
      break;
    case XDP_MODE_SKB:
      hook.mode = attach_mode::generic;
      break;
    default:
      break;
  }
  hook.dispatcher = !xdp_multiprog__is_legacy(mp.get());
  for (const xdp_program* p = xdp_multiprog__next_prog(nullptr, mp.get());
       p != nullptr; p = xdp_multiprog__next_prog(p, mp.get())) {
    dispatched_program d;
    d.id = xdp_program__id(p);
    d.name = xdp_program__name(p);
    d.priority = xdp_program__run_prio(p);
    std::array<char, 128> actions{};
    if (xdp_program__print_chain_call_actions(p, actions.data(),
                                              actions.size()) == 0)
      d.chain_call_actions = actions.data();
    hook.programs.push_back(std::move(d));
  }
  return hook;
}

bool kernel_loads_extensions() {
  // libbpf loads a program of the type that the kernel must refuse for
  // its bogus target (EINVAL); any other answer means the type itself is
  // refused (EPERM where a policy forbids BPF trampolines).
  return libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_EXT, nullptr) == 1;
}

void probe_dispatcher(int ext_prog_fd) {
  route_libxdp_log();
  const program_ptr prog = program_from_fd(ext_prog_fd);
  // Zero addresses and EtherType: nothing the responder parses.
  std::array<uint8_t, 64> frame{};
  LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame.data(),
              .data_size_in = uint32_t(frame.size()), .repeat = 1);
  const int err = xdp_program__test_run(prog.get(), &opts, 0);
  if (err)
    fail("xdp_program__test_run",
         "a dispatcher holding the responder's freplace program", err);
  if (opts.retval != XDP_PASS)
    throw error("a dispatcher holding only the responder returned verdict " +
                std::to_string(opts.retval) +
                " for a frame that is not DTLS, not XDP_PASS (2)");
}

void attach_to_dispatcher(int ext_prog_fd, int ifindex, attach_mode mode) {
  route_libxdp_log();
  const program_ptr prog = program_from_fd(ext_prog_fd);
  const int err = xdp_program__attach(prog.get(), ifindex, xdp_mode(mode), 0);
  if (err)
    fail("xdp_program__attach",
         "the responder's freplace program on " + ifindex_name(ifindex), err);
  // libxdp attaches one program alone when it cannot build a dispatcher;
  // an extension cannot be attached alone, but that is the kernel's rule,
  // so the outcome is checked rather than assumed.
  const uint32_t id = prog_id_of(ext_prog_fd);
  const xdp_hook hook = query_xdp_hook(ifindex);
  if (!hook.dispatcher ||
      std::none_of(hook.programs.begin(), hook.programs.end(),
                   [id](const dispatched_program& p) { return p.id == id; }))
    throw error("libxdp reported success but " + ifindex_name(ifindex) +
                " holds no dispatcher with the responder (program id " +
                std::to_string(id) + ") in it");
}

bool detach_from_dispatcher(int ext_prog_fd, int ifindex) {
  route_libxdp_log();
  const uint32_t id = prog_id_of(ext_prog_fd);
  const xdp_hook hook = query_xdp_hook(ifindex);
  if (!hook.dispatcher ||
      std::none_of(hook.programs.begin(), hook.programs.end(),
                   [id](const dispatched_program& p) { return p.id == id; }))
    return false;
  const program_ptr prog = program_from_fd(ext_prog_fd);
  const int err = xdp_program__detach(prog.get(), ifindex, XDP_MODE_UNSPEC, 0);
  if (err)
    fail("xdp_program__detach",
         "the responder's freplace program on " + ifindex_name(ifindex), err);
  return true;
}

void remove_dispatcher(int ifindex) {
  route_libxdp_log();
  xdp_multiprog* raw = xdp_multiprog__get_from_ifindex(ifindex);
  const long err = libxdp_get_error(raw);
  if (err == -ENOENT || (err == 0 && raw == nullptr)) return;
  if (err)
    fail("xdp_multiprog__get_from_ifindex", ifindex_name(ifindex), int(err));
  const multiprog_ptr mp(raw);
  const int derr = xdp_multiprog__detach(mp.get());
  if (derr) fail("xdp_multiprog__detach", ifindex_name(ifindex), derr);
}

}  // namespace dtls_cookie
