// bench_e2e flood: floods ClientHellos out of the client end of a veth
// through BPF_PROG_TEST_RUN with BPF_F_TEST_XDP_LIVE_FRAMES, one sender
// thread per CPU, and counts the answers that come back to that end.
//
// Why it is built this way:
// - The sender (bpf/bench/flood.bpf.c) returns XDP_TX, which test_run turns
//   into a redirect out of the ingress device given in ctx_in: the client
//   end. veth hands the frame to the server end's XDP program in the same
//   CPU's softirq, or to its NAPI thread when that end is threaded.
// - The answers are counted by an XDP program on the client end
//   (bpf/bench/sink.bpf.c), so every responder, in the kernel or in
//   userspace, is counted in the same place the same way. It is attached
//   as a bpf_link, so it goes away with this process however it ends.
// - A test_run call with repeat > 1 adds the program to the kernel's XDP
//   dispatcher and removes it again; each change rewrites the dispatcher
//   and waits for an RCU grace period, milliseconds during which nothing
//   is sent (a fifth of the time with 100 ms calls). A program attached to
//   a device stays in the dispatcher, and then test_run only takes and
//   drops a reference: so the sender is also attached, through a link, to
//   --park-iface, a device that is down and never receives. Calls are sized
//   to last about --call-ms each; the figure is answers counted over the
//   window's wall time, any gaps included, for every responder alike.
// - The window opens after --warmup seconds of flooding (caches, the page
//   pool, the neighbour table and socket queues settle) and closes when
//   the last sender returns; answers that arrive during a short drain after
//   it are reported apart and not counted in the rate.
// - veth runs the receiving end's NAPI on the CPU that sent. A userspace
//   responder's answers would then be counted by the sink on the
//   responder's own CPU, about a sixth of its time. --napi-cpu makes the
//   client end's NAPI a kernel thread pinned to the flood's CPU, so the
//   sink runs there for every responder: inline after the XDP answers,
//   in that thread after the userspace ones.
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "bench_flood.skel.h"
#include "bench_sink.skel.h"
#include "common.hpp"

namespace e2e {
namespace {

namespace pk = dtls_cookie::packet;
using bytes = pk::bytes;

constexpr size_t kL3 = 14;
constexpr size_t kL4 = kL3 + 20;

struct flood_options {
  std::string iface;
  std::string dst = "192.0.2.1:4433";
  std::string dst_mac;
  std::string src_net = "198.18.0.0";
  uint32_t src_count = 65536;
  uint16_t port_lo = 1024;
  uint16_t port_hi = 65535;
  std::string cpus = "0";
  double seconds = 3;
  double warmup = 0.3;
  double drain = 0.2;
  double call_ms = 100;
  uint64_t max_packets = 200'000'000;
  uint32_t batch = 64;
  std::string expect = "hvr";
  std::string park_iface;
  int napi_cpu = -1;
  uint32_t pass_every = 0;
  std::string label;
  int round = 0;
};

// Cache-line sized, so two senders never write the same line.
struct alignas(64) sender_state {
  std::atomic<int> tid{0};
  sched_times at_end;  // read by the thread itself before it exits
  std::atomic<uint64_t> calls{0};
  int error = 0;
};

template <typename T, void (*Destroy)(T*)>
struct skel_deleter {
  void operator()(T* s) const { Destroy(s); }
};
using flood_skel =
    std::unique_ptr<bench_flood,
                    skel_deleter<bench_flood, bench_flood__destroy>>;
using sink_skel =
    std::unique_ptr<bench_sink, skel_deleter<bench_sink, bench_sink__destroy>>;
struct link_deleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
using link_ptr = std::unique_ptr<bpf_link, link_deleter>;

pk::mac_addr interface_mac(const std::string& iface) {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket", errno);
  ifreq req{};
  std::strncpy(req.ifr_name, iface.c_str(), IFNAMSIZ - 1);
  const int rc = ioctl(fd, SIOCGIFHWADDR, &req);
  const int err = errno;
  close(fd);
  if (rc < 0) fail("SIOCGIFHWADDR " + iface, err);
  pk::mac_addr mac;
  std::memcpy(mac.data(), req.ifr_hwaddr.sa_data, mac.size());
  return mac;
}

// The 32-bit one's-complement sum of data's native-endian words (a short
// last word padded with zeros), as the sender adds them.
uint32_t native_sum(const uint8_t* data, size_t len) {
  uint64_t sum = 0;
  for (size_t i = 0; i < len; i += 4) {
    uint32_t w = 0;
    std::memcpy(&w, data + i, std::min<size_t>(4, len - i));
    sum += w;
  }
  sum = (sum & 0xffffffff) + (sum >> 32);
  sum = (sum & 0xffffffff) + (sum >> 32);
  return uint32_t(sum);
}

pk::udp_frame request(const flood_options& o, const sockaddr_in& dst) {
  pk::udp_frame f;
  f.src_mac = interface_mac(o.iface);
  f.dst_mac = parse_mac(o.dst_mac);
  const uint8_t zero[4] = {};
  f.src_ip = pk::ip_addr::v4(zero);
  f.dst_ip = pk::ip_addr::v4(reinterpret_cast<const uint8_t*>(&dst.sin_addr));
  f.src_port = 0;
  f.dst_port = ntohs(dst.sin_port);
  f.payload = pk::build(openssl_like_client_hello());
  return f;
}

// The sender's template: source address, port and checksums zero, and the
// sums it completes per frame.
struct frame_template {
  bytes frame;
  uint32_t ip_sum = 0;
  uint32_t udp_sum = 0;
};

frame_template make_template(const pk::udp_frame& req) {
  frame_template t;
  t.frame = pk::build(req);
  bytes& f = t.frame;
  f[kL3 + 10] = f[kL3 + 11] = 0;
  f[kL4 + 6] = f[kL4 + 7] = 0;
  t.ip_sum = native_sum(&f[kL3], 20);
  const size_t udp_len = f.size() - kL4;
  bytes pseudo(12, 0);
  std::memcpy(&pseudo[0], &f[kL3 + 12], 8);  // both addresses
  pseudo[9] = 17;
  pseudo[10] = uint8_t(udp_len >> 8);
  pseudo[11] = uint8_t(udp_len);
  bytes segment(pseudo);
  segment.insert(segment.end(), f.begin() + kL4, f.end());
  t.udp_sum = native_sum(segment.data(), segment.size());
  return t;
}

struct programs {
  flood_skel flood;
  sink_skel sink;
  link_ptr sink_link;
  link_ptr park_link;
};

programs load(const flood_options& o, const frame_template& t,
              uint16_t dst_port, int ifindex) {
  programs p;
  p.flood.reset(bench_flood__open());
  if (!p.flood) fail("opening bench_flood", errno);
  if (t.frame.size() > sizeof p.flood->bss->frame)
    throw failure("frame too long for the sender");
  in_addr base{};
  if (inet_pton(AF_INET, o.src_net.c_str(), &base) != 1)
    throw failure("not an IPv4 address: " + o.src_net);
  p.flood->rodata->frame_len = uint32_t(t.frame.size());
  p.flood->rodata->addr_base = ntohl(base.s_addr);
  p.flood->rodata->addr_count = std::max<uint32_t>(1, o.src_count);
  p.flood->rodata->port_base = o.port_lo;
  p.flood->rodata->port_count = uint16_t(o.port_hi - o.port_lo + 1);
  int err = bench_flood__load(p.flood.get());
  if (err) fail("loading bench_flood", err);
  std::memcpy(p.flood->bss->frame, t.frame.data(), t.frame.size());
  p.flood->bss->ip_sum = t.ip_sum;
  p.flood->bss->udp_sum = t.udp_sum;

  if (!o.park_iface.empty()) {
    const int park = int(if_nametoindex(o.park_iface.c_str()));
    if (!park) fail("no interface " + o.park_iface, errno);
    p.park_link.reset(bpf_program__attach_xdp(p.flood->progs.flood, park));
    if (!p.park_link) fail("attaching bench_flood to " + o.park_iface, errno);
  }

  p.sink.reset(bench_sink__open());
  if (!p.sink) fail("opening bench_sink", errno);
  p.sink->rodata->server_port = htons(dst_port);
  p.sink->rodata->pass_every = o.pass_every;
  err = bench_sink__load(p.sink.get());
  if (err) fail("loading bench_sink", err);
  p.sink_link.reset(bpf_program__attach_xdp(p.sink->progs.sink, ifindex));
  if (!p.sink_link) fail("attaching bench_sink to " + o.iface, errno);
  return p;
}

// Runs the sender once without sending and compares its frame with one
// the packet builder makes from scratch for the same source, so a wrong
// checksum or offset fails here rather than as a low figure.
void check_sender(const programs& p, const frame_template& t, pk::udp_frame req,
                  const flood_options& o) {
  bytes in(t.frame);
  in.push_back(0);  // the byte the sender trims
  bytes out(in.size() + 64);
  LIBBPF_OPTS(bpf_test_run_opts, r, .data_in = in.data(),
              .data_out = out.data(), .data_size_in = uint32_t(in.size()),
              .data_size_out = uint32_t(out.size()), .repeat = 1);
  const int err =
      bpf_prog_test_run_opts(bpf_program__fd(p.flood->progs.flood), &r);
  if (err) fail("bpf_prog_test_run_opts(flood)", err);
  if (r.retval != XDP_TX) throw failure("the sender did not return XDP_TX");
  out.resize(r.data_size_out);
  if (out.size() < kL4 + 8) throw failure("the sender's frame is too short");
  req.src_ip = pk::ip_addr::v4(&out[kL3 + 12]);
  req.src_port = uint16_t(out[kL4] << 8 | out[kL4 + 1]);
  if (out != pk::build(req))
    throw failure("the sender's frame differs from the builder's");
  in_addr base{};
  inet_pton(AF_INET, o.src_net.c_str(), &base);
  uint32_t a;
  std::memcpy(&a, &out[kL3 + 12], 4);
  const uint32_t off = ntohl(a) - ntohl(base.s_addr);
  if (off >= std::max<uint32_t>(1, o.src_count) || req.src_port < o.port_lo ||
      req.src_port > o.port_hi)
    throw failure("the sender's source is outside its ranges");
}

// Puts iface's NAPI in kernel threads pinned to cpu, or back in the
// softirq of whichever CPU schedules it (cpu < 0). Called once the sink is
// attached: veth creates its NAPI, and threads for it, only then.
void place_napi(const std::string& iface, int cpu) {
  {
    std::ofstream f("/sys/class/net/" + iface + "/threaded");
    f << (cpu >= 0 ? "1" : "0");
    f.flush();
    if (!f) throw failure("cannot set /sys/class/net/" + iface + "/threaded");
  }
  if (cpu < 0) return;
  // The threads are named napi/IFACE-ID, cut to 15 characters.
  const std::string prefix = "napi/" + iface + "-";
  if (prefix.size() > 15)
    throw failure("--napi-cpu needs an interface name of 9 characters at most");
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  int pinned = 0;
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string pid = e.path().filename();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream comm(e.path() / "comm");
    std::string name;
    if (!std::getline(comm, name) || name.rfind(prefix, 0) != 0) continue;
    if (sched_setaffinity(std::stoi(pid), sizeof set, &set) < 0)
      fail("pinning " + name, errno);
    ++pinned;
  }
  if (!pinned) throw failure("no NAPI thread of " + iface + " to pin");
}

struct sink_totals {
  uint64_t answers = 0, hvr = 0, others = 0;
};

sink_totals read_sink(const programs& p) {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) fail("libbpf_num_possible_cpus", ncpu);
  std::vector<uint64_t> v(size_t(ncpu) * 3);
  const uint32_t key = 0;
  const int err =
      bpf_map_lookup_elem(bpf_map__fd(p.sink->maps.counts), &key, v.data());
  if (err) fail("reading the sink's counters", err);
  sink_totals s;
  for (int c = 0; c < ncpu; ++c) {
    s.answers += v[size_t(c) * 3];
    s.hvr += v[size_t(c) * 3 + 1];
    s.others += v[size_t(c) * 3 + 2];
  }
  return s;
}

// Frames the sender has written, from its own per-CPU sequence numbers:
// exact at any moment, where the threads only learn theirs per call.
uint64_t read_sent(const programs& p) {
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) fail("libbpf_num_possible_cpus", ncpu);
  std::vector<uint64_t> v(static_cast<size_t>(ncpu));
  const uint32_t key = 0;
  const int err =
      bpf_map_lookup_elem(bpf_map__fd(p.flood->maps.sequence), &key, v.data());
  if (err) fail("reading the sender's sequence numbers", err);
  uint64_t sum = 0;
  for (uint64_t x : v) sum += x;
  return sum;
}

// Ticks the hypervisor took from this machine's CPUs (steal, the first
// line of /proc/stat), and how many CPUs that line sums.
struct steal_sample {
  uint64_t ticks = 0;
  int cpus = 0;
};

steal_sample steal_ticks() {
  std::ifstream f("/proc/stat");
  std::string line;
  steal_sample s;
  while (std::getline(f, line)) {
    unsigned long long v[8] = {};
    if (line.rfind("cpu ", 0) == 0 &&
        std::sscanf(line.c_str(), "cpu %llu %llu %llu %llu %llu %llu %llu %llu",
                    &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
                    &v[7]) == 8)
      s.ticks = v[7];
    else if (line.rfind("cpu", 0) == 0)
      ++s.cpus;
  }
  return s;
}

struct snapshot {
  clock::time_point at;
  sink_totals sink;
  uint64_t sent = 0;
  std::vector<sched_times> senders;
  steal_sample steal;
};

// One sender: test_run calls of about call_ms each until the deadline, the
// packet budget or a stop request.
void send_loop(int prog_fd, int cpu, const bytes& in, int ifindex,
               const flood_options& o, uint64_t budget,
               clock::time_point deadline, sender_state& st) {
  try {
    pin_to_cpu(cpu);
  } catch (const failure&) {
    st.error = EINVAL;
    return;
  }
  st.tid.store(int(gettid()));
  xdp_md ctx{};
  ctx.data_end = uint32_t(in.size());
  ctx.ingress_ifindex = uint32_t(ifindex);
  uint32_t repeat = 1024;  // grown once the first call's rate is known
  uint64_t sent = 0;
  while (!stop_requested.load(std::memory_order_relaxed) && sent < budget &&
         clock::now() < deadline) {
    const uint32_t n = uint32_t(std::min<uint64_t>(repeat, budget - sent));
    LIBBPF_OPTS(bpf_test_run_opts, r, .data_in = in.data(),
                .data_size_in = uint32_t(in.size()), .ctx_in = &ctx,
                .ctx_size_in = sizeof ctx, .repeat = int(n),
                .flags = BPF_F_TEST_XDP_LIVE_FRAMES, .batch_size = o.batch);
    const auto t0 = clock::now();
    const int err = bpf_prog_test_run_opts(prog_fd, &r);
    const double secs = since(t0);
    if (err) {
      if (err == -EINTR) break;
      st.error = err;
      return;
    }
    sent += n;
    st.calls.fetch_add(1, std::memory_order_relaxed);
    // Aim at call_ms per call; never more than doubling at once.
    const double want = double(n) * (o.call_ms / 1e3) / std::max(secs, 1e-6);
    repeat = uint32_t(std::clamp(want, 256.0, std::min(2.0 * n, 1e8)));
  }
  st.at_end = thread_sched_times(st.tid.load());
}

int flood(const flood_options& o) {
  install_stop_handlers();
  libbpf_set_print(nullptr);
  const int ifindex = int(if_nametoindex(o.iface.c_str()));
  if (!ifindex) fail("no interface " + o.iface, errno);
  if (o.expect != "hvr" && o.expect != "any")
    throw failure("--expect is hvr or any");
  const std::vector<int> cpus = parse_cpus(o.cpus);
  const sockaddr_in dst = parse_endpoint(o.dst);
  const pk::udp_frame req = request(o, dst);
  const frame_template t = make_template(req);
  const programs p = load(o, t, ntohs(dst.sin_port), ifindex);
  place_napi(o.iface, o.napi_cpu);
  check_sender(p, t, req, o);

  bytes in(t.frame);
  in.push_back(0);
  const int prog_fd = bpf_program__fd(p.flood->progs.flood);
  std::vector<sender_state> st(cpus.size());
  const auto start = clock::now();
  const auto open_at = start + std::chrono::duration_cast<clock::duration>(
                                   std::chrono::duration<double>(o.warmup));
  const auto deadline = open_at + std::chrono::duration_cast<clock::duration>(
                                      std::chrono::duration<double>(o.seconds));
  const uint64_t budget = o.max_packets / cpus.size();
  std::vector<std::thread> threads;
  for (size_t i = 0; i < cpus.size(); ++i)
    threads.emplace_back(send_loop, prog_fd, cpus[i], std::cref(in), ifindex,
                         std::cref(o), budget, deadline, std::ref(st[i]));

  auto take = [&] {
    snapshot s;
    s.at = clock::now();
    s.sink = read_sink(p);
    s.sent = read_sent(p);
    for (const sender_state& x : st)
      s.senders.push_back(thread_sched_times(x.tid.load()));
    s.steal = steal_ticks();
    return s;
  };
  std::this_thread::sleep_until(open_at);
  const snapshot s0 = take();
  for (std::thread& th : threads) th.join();
  snapshot s1 = take();
  // The senders' threads are gone by now; they left their last figures.
  for (size_t i = 0; i < st.size(); ++i) s1.senders[i] = st[i].at_end;
  std::this_thread::sleep_for(std::chrono::duration<double>(o.drain));
  const snapshot s2 = take();
  for (const sender_state& x : st)
    if (x.error) fail("bpf_prog_test_run_opts(flood, live frames)", x.error);

  const double secs = std::chrono::duration<double>(s1.at - s0.at).count();
  const bool hvr = o.expect == "hvr";
  const uint64_t answered =
      hvr ? s1.sink.hvr - s0.sink.hvr : s1.sink.answers - s0.sink.answers;
  uint64_t calls = 0;
  for (const sender_state& x : st) calls += x.calls.load();
  // How much of the window the senders, and the XDP programs running in
  // their softirqs, lost to other tasks and to the hypervisor.
  double wait = 0, wait_sum = 0, run = 1;
  for (size_t i = 0; i < st.size(); ++i) {
    const double w =
        double(s1.senders[i].wait_ns - s0.senders[i].wait_ns) / 1e9 / secs;
    wait = std::max(wait, w);
    wait_sum += w;
    run = std::min(
        run, double(s1.senders[i].run_ns - s0.senders[i].run_ns) / 1e9 / secs);
  }
  const double steal = double(s1.steal.ticks - s0.steal.ticks) /
                       double(sysconf(_SC_CLK_TCK)) / secs /
                       double(std::max(1, s1.steal.cpus));
  nlohmann::json j;
  j["label"] = o.label;
  j["round"] = o.round;
  j["cpus"] = cpus.size();
  j["seconds"] = secs;
  j["sent"] = s1.sent - s0.sent;
  j["answered"] = answered;
  j["answered_pps"] = secs > 0 ? double(answered) / secs : 0.0;
  j["sent_pps"] = secs > 0 ? double(s1.sent - s0.sent) / secs : 0.0;
  j["answers_not_hvr"] =
      (s1.sink.answers - s0.sink.answers) - (s1.sink.hvr - s0.sink.hvr);
  j["late_answers"] = s2.sink.answers - s1.sink.answers;
  j["others"] = s2.sink.others - s0.sink.others;
  j["sent_total"] = s2.sent;
  j["calls"] = calls;
  j["frame_bytes"] = t.frame.size();
  j["napi_cpu"] = o.napi_cpu;
  j["sender_wait_share"] = wait;
  j["sender_wait_share_mean"] = wait_sum / double(st.size());
  j["sender_run_share"] = run;
  j["steal_share"] = steal;
  j["stopped"] = stop_requested.load();
  std::cout << j.dump() << std::endl;
  std::fprintf(stderr, "  %-12s round %d: answered %.3f Mpps, sent %.3f Mpps\n",
               o.label.c_str(), o.round, j["answered_pps"].get<double>() / 1e6,
               j["sent_pps"].get<double>() / 1e6);
  return stop_requested.load() ? 130 : 0;
}

}  // namespace

int run_flood(int argc, char** argv) {
  flood_options o;
  CLI::App app{
      "Floods ClientHellos out of IFACE (the client end of a veth whose "
      "peer has an XDP program) and counts the answers that come back; "
      "prints one JSON line."};
  app.add_option("--iface", o.iface, "client end of the veth")->required();
  app.add_option("--dst", o.dst, "server ADDR:PORT")->capture_default_str();
  app.add_option("--dst-mac", o.dst_mac, "the server end's MAC")->required();
  app.add_option("--src-net", o.src_net, "first source address")
      ->capture_default_str();
  app.add_option("--src-count", o.src_count, "source addresses")
      ->capture_default_str();
  app.add_option("--port-lo", o.port_lo, "lowest source port")
      ->capture_default_str();
  app.add_option("--port-hi", o.port_hi, "highest source port")
      ->capture_default_str();
  app.add_option("--cpus", o.cpus, "one sender per CPU: N[,N...]")
      ->capture_default_str();
  app.add_option("--seconds", o.seconds, "measured window")
      ->capture_default_str()
      ->check(CLI::Range(0.05, 60.0));
  app.add_option("--warmup", o.warmup, "flooding before the window opens")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 10.0));
  app.add_option("--drain", o.drain, "wait for late answers")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 5.0));
  app.add_option("--call-ms", o.call_ms, "target length of a test_run call")
      ->capture_default_str()
      ->check(CLI::Range(1.0, 1000.0));
  app.add_option("--max-packets", o.max_packets, "packet budget, all senders")
      ->capture_default_str();
  app.add_option("--batch", o.batch, "test_run batch_size (1-256)")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--expect", o.expect,
                 "hvr: count HelloVerifyRequests; any: every datagram from "
                 "the server port (a reflector's answers)")
      ->capture_default_str();
  app.add_option("--park-iface", o.park_iface,
                 "a device that is down, where the sender stays attached so "
                 "test_run need not change the XDP dispatcher");
  app.add_option("--napi-cpu", o.napi_cpu,
                 "run IFACE's NAPI (the sink) in kernel threads pinned to "
                 "this CPU; -1: in softirq")
      ->capture_default_str();
  app.add_option("--pass-every", o.pass_every,
                 "hand every Nth answer on to IFACE's stack instead of "
                 "dropping it, so that a capture there sees a sample; 0: none")
      ->capture_default_str();
  app.add_option("--label", o.label, "copied into the output");
  app.add_option("--round", o.round, "copied into the output");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (o.port_lo == 0 || o.port_hi < o.port_lo)
    throw failure("bad source port range");
  return flood(o);
}

}  // namespace e2e
