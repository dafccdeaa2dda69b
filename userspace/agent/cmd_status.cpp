// status and stats: what the pinned instance is (interfaces, settings,
// key generations) and what it has counted, as a table or as JSON.
#include <arpa/inet.h>
#include <signal.h>
#include <time.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "commands.hpp"
#include "dtls_cookie/error.hpp"
#include "dtls_cookie/model.hpp"
#include "dtls_cookie/multiprog.hpp"
#include "dtls_cookie/pinned_layout.hpp"
#include "instance.hpp"

namespace dtls_cookie::agent {
namespace {

using nlohmann::ordered_json;

instance open_or_fail(const std::filesystem::path& pin_dir) {
  std::optional<instance> inst = instance::open(pin_dir);
  if (!inst)
    throw error("not attached: no instance is pinned in " + pin_dir.string() +
                " (dtls-cookie attach first)");
  return std::move(*inst);
}

const char* policy_name(uint8_t p) {
  switch (p) {
    case DC_POLICY_PASS:
      return "pass";
    case DC_POLICY_DROP:
      return "drop";
    case DC_POLICY_ANSWER:
      return "answer";
  }
  return "unknown";
}

const char* version_name(uint16_t v) {
  if (v == DC_VERSION_DTLS10) return "1.0";
  if (v == DC_VERSION_DTLS12) return "1.2";
  return "unknown";
}

std::vector<uint16_t> ports_of(const dc_config& c) {
  std::vector<uint16_t> out;
  for (uint32_t p = 1; p < 65536; ++p)
    if ((c.port_bitmap[p >> 6] >> (p & 63)) & 1) out.push_back(uint16_t(p));
  return out;
}

std::string addr_text(const uint8_t* a) {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0,    0,
                                          0, 0, 0, 0, 0xff, 0xff};
  char buf[INET6_ADDRSTRLEN] = "";
  if (std::memcmp(a, kMapped, 12) == 0)
    inet_ntop(AF_INET, a + 12, buf, sizeof buf);
  else
    inet_ntop(AF_INET6, a, buf, sizeof buf);
  return buf;
}

double age_seconds(const key& k) {
  const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  return double(int64_t(now) - int64_t(k.created_unix_ns)) / 1e9;
}

// The policies in the order and spelling of the command line.
std::vector<std::pair<const char*, uint8_t>> policies_of(const dc_config& c) {
  return {{"established", c.policy_established},
          {"fragmented", c.policy_fragmented},
          {"dtls13", c.policy_dtls13},
          {"malformed", c.policy_malformed},
          {"no-keys", c.policy_no_keys}};
}

// The reply rate limit as one line, e.g. "1000/s per /32 (IPv4) and /64
// (IPv6) destination, burst 2000, 65536 buckets".
std::string reply_limit_text(const dc_reply_limit& l) {
  if (l.rate == 0) return "off";
  return std::to_string(l.rate) + "/s per /" + std::to_string(l.prefix4) +
         " (IPv4) and /" + std::to_string(l.prefix6) +
         " (IPv6) destination, burst " + std::to_string(l.burst) + ", " +
         std::to_string(l.table_size) + " buckets";
}

ordered_json reply_limit_json(const dc_reply_limit& l) {
  if (l.rate == 0) return {{"enabled", false}};
  return {{"enabled", true},      {"rate_per_second", l.rate},
          {"burst", l.burst},     {"prefix4", l.prefix4},
          {"prefix6", l.prefix6}, {"table_size", l.table_size}};
}

// What an empty key map means and what to do about it.
std::string no_keys_text(const instance& inst, const dc_config& cfg) {
  return "none: the key map holds no key set (" +
         missing_keys_reason(inst.keys_fd()) +
         "), so the responder answers no ClientHello (--no-keys " +
         policy_name(cfg.policy_no_keys) +
         "); dtls-cookie rotate publishes one";
}

ordered_json key_json(const std::optional<key>& k) {
  if (!k) return nullptr;
  return {{"generation", k->generation},
          {"created_unix_ns", k->created_unix_ns},
          {"age_seconds", age_seconds(*k)}};
}

std::string join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

// The programs of the dispatcher that holds l, ours marked; empty when
// libxdp cannot read the hook any more.
std::vector<dispatched_program> dispatcher_programs(const link_info& l) {
  if (!l.multiprog || l.ifindex == 0) return {};
  try {
    return query_xdp_hook(l.ifindex).programs;
  } catch (const std::exception&) {
    return {};
  }
}

// JSON's "mode": how the program runs there, the XDP mode apart.
const char* mode_text(const link_info& l) {
  if (l.ifindex == 0) return "gone";
  return l.multiprog ? "multiprog" : mode_name(l.mode);
}

void print_status_text(const instance& inst, const dc_config& cfg,
                       const std::vector<link_info>& links,
                       const key_set& keys) {
  std::printf("%-16s%s\n", "pin dir", inst.dir().c_str());
  std::printf("%-16sdc_responder, id %u\n", "program", inst.prog_id());
  if (links.empty()) std::printf("%-16snone\n", "interfaces");
  for (size_t i = 0; i < links.size(); ++i) {
    const link_info& l = links[i];
    const char* label = i == 0 ? "interfaces" : "";
    if (l.ifindex == 0) {
      std::printf("%-16s%s (gone: %s)\n", label, l.ifname.c_str(),
                  l.gone.c_str());
      continue;
    }
    if (!l.multiprog) {
      std::printf("%-16s%s (ifindex %d, %s mode, link id %u)\n", label,
                  l.ifname.c_str(), l.ifindex, mode_name(l.mode), l.link_id);
      continue;
    }
    std::printf(
        "%-16s%s (ifindex %d, multiprog in %s mode: libxdp dispatcher id "
        "%u, freplace program id %u)\n",
        label, l.ifname.c_str(), l.ifindex, mode_name(l.mode), l.dispatcher_id,
        l.prog_id);
    for (const dispatched_program& p : dispatcher_programs(l))
      std::printf(
          "%-16s  %s %s (id %u, priority %u, chain %s)\n", "",
          p.id == l.prog_id ? "ours  " : "beside", p.name.c_str(), p.id,
          p.priority,
          p.chain_call_actions.empty() ? "none" : p.chain_call_actions.c_str());
  }
  std::vector<std::string> parts;
  for (uint16_t p : ports_of(cfg)) parts.push_back(std::to_string(p));
  std::printf("%-16s%s\n", "ports", join(parts, ", ").c_str());
  parts.clear();
  for (auto [name, p] : policies_of(cfg))
    parts.push_back(std::string(name) + " " + policy_name(p));
  std::printf("%-16s%s\n", "policies", join(parts, ", ").c_str());
  std::printf("%-16sDTLS %s\n", "server version",
              version_name(cfg.server_version));
  std::printf("%-16s%s\n", "reply limit",
              reply_limit_text(cfg.reply_limit).c_str());
  parts.clear();
  for (uint32_t i = 0; i < cfg.local_addr_count && i < DC_MAX_LOCAL_ADDRS; ++i)
    parts.push_back(addr_text(cfg.local_addrs[i]));
  std::printf("%-16s%s\n", "local addresses",
              parts.empty() ? "none" : join(parts, ", ").c_str());
  if (keys.empty()) {
    std::printf("%-16s%s\n", "keys", no_keys_text(inst, cfg).c_str());
    return;
  }
  std::printf("%-16scurrent generation %u, age %.1f s\n", "keys",
              keys.current()->generation, age_seconds(*keys.current()));
  if (keys.previous())
    std::printf("%-16sprevious generation %u, age %.1f s\n", "",
                keys.previous()->generation, age_seconds(*keys.previous()));
}

// Waits up to seconds for SIGINT or SIGTERM (blocked by the caller);
// true when one came.
bool interrupted_within(const sigset_t& set, double seconds) {
  timespec ts{};
  ts.tv_sec = time_t(seconds);
  ts.tv_nsec = long((seconds - double(ts.tv_sec)) * 1e9);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (true) {
    if (sigtimedwait(&set, nullptr, &ts) >= 0) return true;
    if (errno != EINTR) return false;  // EAGAIN: the time is up
    const auto left = std::chrono::duration<double>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) return false;
    ts.tv_sec = time_t(left);
    ts.tv_nsec = long((left - double(ts.tv_sec)) * 1e9);
  }
}

void print_counters(const counters& now, const counters* before, double elapsed,
                    bool json, unsigned sample) {
  if (json) {
    ordered_json j;
    if (before) {
      j["sample"] = sample;
      j["interval_seconds"] = elapsed;
    }
    ordered_json totals = ordered_json::object();
    ordered_json rates = ordered_json::object();
    for (uint32_t i = 0; i < DC_CNT_MAX; ++i) {
      const char* name = model::counter_name(dc_counter(i));
      totals[name] = now[i];
      if (before) rates[name] = double(now[i] - (*before)[i]) / elapsed;
    }
    j["counters"] = totals;
    if (before) j["rates_per_second"] = rates;
    std::printf("%s\n", j.dump().c_str());
  } else {
    if (before)
      std::printf("sample %u, over %.2f s\n%-24s%20s%16s\n", sample, elapsed,
                  "counter", "total", "per second");
    else
      std::printf("%-24s%20s\n", "counter", "total");
    for (uint32_t i = 0; i < DC_CNT_MAX; ++i) {
      const char* name = model::counter_name(dc_counter(i));
      if (before)
        std::printf("%-24s%20llu%16.1f\n", name, (unsigned long long)now[i],
                    double(now[i] - (*before)[i]) / elapsed);
      else
        std::printf("%-24s%20llu\n", name, (unsigned long long)now[i]);
    }
    if (before) std::printf("\n");
  }
  std::fflush(stdout);
}

}  // namespace

int cmd_status(const std::filesystem::path& pin_dir, bool json) {
  const instance inst = open_or_fail(pin_dir);
  const dc_config cfg = inst.config();
  const std::vector<link_info> links = inst.links();
  const key_set keys = inst.keys();
  if (!json) {
    print_status_text(inst, cfg, links, keys);
    return 0;
  }
  ordered_json j;
  j["pin_dir"] = inst.dir().string();
  j["program_id"] = inst.prog_id();
  j["interfaces"] = ordered_json::array();
  for (const link_info& l : links) {
    ordered_json i = {{"name", l.ifname},
                      {"ifindex", l.ifindex},
                      {"mode", mode_text(l)},
                      {"link_id", l.link_id}};
    if (l.ifindex == 0) i["gone"] = l.gone;
    if (l.multiprog) {
      if (l.ifindex != 0) i["xdp_mode"] = mode_name(l.mode);
      i["dispatcher_id"] = l.dispatcher_id;
      i["program_id"] = l.prog_id;
      i["programs"] = ordered_json::array();
      for (const dispatched_program& p : dispatcher_programs(l))
        i["programs"].push_back({{"id", p.id},
                                 {"name", p.name},
                                 {"priority", p.priority},
                                 {"chain_call_actions", p.chain_call_actions},
                                 {"ours", p.id == l.prog_id}});
    }
    j["interfaces"].push_back(i);
  }
  j["ports"] = ports_of(cfg);
  ordered_json policies = ordered_json::object();
  for (auto [name, p] : policies_of(cfg)) policies[name] = policy_name(p);
  j["policies"] = policies;
  j["server_version"] = version_name(cfg.server_version);
  j["reply_limit"] = reply_limit_json(cfg.reply_limit);
  j["local_addresses"] = ordered_json::array();
  for (uint32_t i = 0; i < cfg.local_addr_count && i < DC_MAX_LOCAL_ADDRS; ++i)
    j["local_addresses"].push_back(addr_text(cfg.local_addrs[i]));
  j["keys"] = {{"current", key_json(keys.current())},
               {"previous", key_json(keys.previous())}};
  if (keys.empty()) j["keys"]["problem"] = no_keys_text(inst, cfg);
  std::printf("%s\n", j.dump(2).c_str());
  return 0;
}

int cmd_stats(const std::filesystem::path& pin_dir, bool json,
              std::optional<double> watch_seconds,
              std::optional<unsigned> count) {
  const instance inst = open_or_fail(pin_dir);
  if (!watch_seconds) {
    print_counters(inst.read_counters(), nullptr, 0, json, 0);
    return 0;
  }
  if (*watch_seconds <= 0) throw error("--watch needs a positive interval");
  // Taken as signals to wait for, so Ctrl-C ends the loop between samples
  // and the command exits normally.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigprocmask(SIG_BLOCK, &set, nullptr);

  counters before = inst.read_counters();
  auto t0 = std::chrono::steady_clock::now();
  for (unsigned sample = 1; !count || sample <= *count; ++sample) {
    if (interrupted_within(set, *watch_seconds)) break;
    const counters now = inst.read_counters();
    const auto t1 = std::chrono::steady_clock::now();
    print_counters(now, &before, std::chrono::duration<double>(t1 - t0).count(),
                   json, sample);
    before = now;
    t0 = t1;
  }
  return 0;
}

}  // namespace dtls_cookie::agent
