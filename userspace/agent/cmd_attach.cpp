// attach and detach: putting the responder on interfaces (creating or
// reusing the pinned instance) and taking it off again, unpinning the
// instance with the last interface.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <string>

#include "commands.hpp"
#include "dtls_cookie/error.hpp"
#include "dtls_cookie/pinned_layout.hpp"
#include "instance.hpp"

namespace dtls_cookie::agent {
namespace {

using addr16 = std::array<uint8_t, 16>;

std::string addr_text(const addr16& a) {
  char buf[INET6_ADDRSTRLEN] = "";
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0,    0,
                                          0, 0, 0, 0, 0xff, 0xff};
  if (std::memcmp(a.data(), kMapped, 12) == 0)
    inet_ntop(AF_INET, a.data() + 12, buf, sizeof buf);
  else
    inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  return buf;
}

// The addresses of the named interfaces, IPv4 as ::ffff:a.b.c.d.
std::vector<addr16> interface_addrs(const std::vector<std::string>& ifaces) {
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0)
    throw error(std::string("getifaddrs failed: ") + std::strerror(errno));
  std::unique_ptr<ifaddrs, decltype(&freeifaddrs)> owner(list, &freeifaddrs);
  std::vector<addr16> out;
  for (const ifaddrs* i = list; i != nullptr; i = i->ifa_next) {
    if (i->ifa_addr == nullptr ||
        std::find(ifaces.begin(), ifaces.end(), i->ifa_name) == ifaces.end())
      continue;
    addr16 a{};
    if (i->ifa_addr->sa_family == AF_INET) {
      a[10] = a[11] = 0xff;
      std::memcpy(a.data() + 12,
                  &reinterpret_cast<const sockaddr_in*>(i->ifa_addr)->sin_addr,
                  4);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      std::memcpy(
          a.data(),
          &reinterpret_cast<const sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
    } else {
      continue;
    }
    out.push_back(a);
  }
  return out;
}

std::set<addr16> local_addrs_of(const dc_config& c) {
  std::set<addr16> out;
  for (uint32_t i = 0; i < c.local_addr_count && i < DC_MAX_LOCAL_ADDRS; ++i) {
    addr16 a;
    std::memcpy(a.data(), c.local_addrs[i], 16);
    out.insert(a);
  }
  return out;
}

// What differs between the pinned configuration and the requested one,
// empty when an instance can be shared. The interfaces' own addresses are
// compared apart: they differ per interface by nature.
std::string config_difference(const dc_config& pinned, const dc_config& want,
                              const std::vector<addr16>& explicit_addrs) {
  std::string out;
  auto add = [&out](const std::string& s) {
    out += (out.empty() ? "" : ", ") + s;
  };
  if (std::memcmp(pinned.port_bitmap, want.port_bitmap,
                  sizeof want.port_bitmap) != 0)
    add("ports");
  if (pinned.policy_established != want.policy_established)
    add("--established");
  if (pinned.policy_fragmented != want.policy_fragmented) add("--fragmented");
  if (pinned.policy_dtls13 != want.policy_dtls13) add("--dtls13");
  if (pinned.policy_malformed != want.policy_malformed) add("--malformed");
  if (pinned.policy_no_keys != want.policy_no_keys) add("--no-keys");
  if (pinned.server_version != want.server_version) add("--server-version");
  // With the limit off on one side, its other settings do not act there.
  const dc_reply_limit &pin = pinned.reply_limit, &req = want.reply_limit;
  if (pin.rate != req.rate) add("--reply-rate");
  if (pin.rate != 0 && req.rate != 0) {
    if (pin.burst != req.burst) add("--reply-burst");
    if (pin.prefix4 != req.prefix4) add("--reply-prefix4");
    if (pin.prefix6 != req.prefix6) add("--reply-prefix6");
    if (pin.table_size != req.table_size) add("--reply-table-size");
  }
  const std::set<addr16> have = local_addrs_of(pinned);
  for (const addr16& a : explicit_addrs)
    if (!have.contains(a)) add("--local-addr " + addr_text(a));
  return out;
}

// Explicit addresses first, so that they are the ones kept when there
// are more than the program holds.
std::vector<addr16> merge_addrs(const std::vector<addr16>& explicit_addrs,
                                const std::vector<addr16>& iface_addrs) {
  std::vector<addr16> out;
  for (const auto* list : {&explicit_addrs, &iface_addrs})
    for (const addr16& a : *list)
      if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  // XXX: the list is fixed when the program loads: addresses added later,
  // and those of interfaces attached later, are answered like any client.
  if (out.size() > DC_MAX_LOCAL_ADDRS) {
    std::string dropped;
    for (size_t i = DC_MAX_LOCAL_ADDRS; i < out.size(); ++i)
      dropped += (dropped.empty() ? "" : ", ") + addr_text(out[i]);
    spdlog::warn(
        "the program holds {} local addresses; these are answered like any "
        "client: {}",
        DC_MAX_LOCAL_ADDRS, dropped);
    out.resize(DC_MAX_LOCAL_ADDRS);
  }
  return out;
}

void check_ifaces(const std::vector<std::string>& ifaces) {
  if (ifaces.empty()) throw error("no interface to attach to (--iface IF)");
  std::set<std::string> seen;
  for (const std::string& i : ifaces) {
    if (!seen.insert(i).second) throw error("--iface " + i + " given twice");
    if (i.empty() || i.size() >= IF_NAMESIZE || if_nametoindex(i.c_str()) == 0)
      throw error("no interface named " + i +
                  " (ip link show lists them; an interface in another "
                  "network namespace is not visible here)");
  }
}

}  // namespace

key_set fleet_keys_now(const key_options& k) {
  // The library reads whatever the path opens; a directory opens too.
  std::error_code ec;
  if (std::filesystem::is_directory(*k.secret_file, ec))
    throw error("cannot read secret file " + k.secret_file->string() +
                ": it is a directory");
  return fleet_secret::from_file(*k.secret_file)
      .key_set_at(std::chrono::system_clock::now(), k.interval);
}

key_set initial_keys(const key_options& k) {
  if (k.secret_file) return fleet_keys_now(k);
  return key_set(random_key(1));
}

attach_result attach_all(const attach_options& o, bool adopt) {
  check_ifaces(o.ifaces);
  // Read before anything is made, so a bad file leaves nothing behind.
  std::optional<key_set> fresh_keys;
  if (o.keys.secret_file) fresh_keys = initial_keys(o.keys);

  ensure_bpffs(o.pin_dir);
  std::error_code ec;
  std::filesystem::create_directories(o.pin_dir.parent_path(), ec);
  const unique_fd lock = lock_pin_dir(o.pin_dir);

  std::vector<addr16> explicit_addrs = o.responder.local_addrs;
  const std::vector<addr16> iface_addrs = interface_addrs(o.ifaces);
  responder_options ro = o.responder;
  ro.local_addrs = merge_addrs(explicit_addrs, iface_addrs);
  const dc_config want = to_config(ro);

  // An incomplete instance attached nowhere is what an agent stopped
  // while it created or removed one leaves: nothing runs it, so it is
  // replaced (below, once nothing else can be refused) rather than
  // blocking the directory.
  std::optional<instance> inst;
  bool incomplete = false;
  try {
    inst = instance::open(o.pin_dir);
  } catch (const incomplete_instance_error& e) {
    if (e.attached()) throw;
    incomplete = true;
  }
  // Refused before anything is loaded; an interface this instance already
  // holds is judged below.
  std::vector<std::string> fresh;
  {
    std::vector<link_info> held;
    if (inst) held = inst->links();
    for (const std::string& i : o.ifaces)
      if (std::none_of(held.begin(), held.end(),
                       [&](const link_info& l) { return l.ifname == i; }))
        fresh.push_back(i);
  }
  if (o.multiprog && !fresh.empty()) require_multiprog_support();
  for (const std::string& i : fresh) {
    if (o.multiprog)
      refuse_unshareable_xdp(i, o.mode, o.replace);
    else if (!o.replace)
      refuse_foreign_xdp(i);
  }
  std::optional<key_set> leftover_keys;
  if (incomplete) {
    leftover_keys = instance::remove_leftovers(o.pin_dir);
    if (leftover_keys && leftover_keys->empty()) leftover_keys.reset();
    spdlog::warn(
        "removed the incomplete instance in {}, attached nowhere, that an "
        "agent stopped while creating or removing it{}",
        o.pin_dir.string(), leftover_keys ? "; its keys are kept" : "");
  }
  bool created = false;
  if (inst && inst->links().empty()) {
    // Left by an agent that stopped between loading and attaching: nothing
    // runs it, so other settings replace it rather than being refused.
    const std::string diff =
        config_difference(inst->config(), want, explicit_addrs);
    if (!diff.empty()) {
      spdlog::warn(
          "replacing the instance in {}, attached nowhere, which ran with "
          "other settings ({})",
          o.pin_dir.string(), diff);
      inst->remove();
      inst.reset();
    }
  }
  if (inst) {
    const dc_config pinned = inst->config();
    const std::string diff = config_difference(pinned, want, explicit_addrs);
    if (!diff.empty())
      throw error("the instance pinned in " + o.pin_dir.string() +
                  " runs with other settings (" + diff +
                  "); interfaces share one instance only with equal settings: "
                  "detach it from every interface first, or use another "
                  "--pin-dir");
    const std::set<addr16> have = local_addrs_of(pinned);
    std::string missing;
    for (const addr16& a : iface_addrs)
      if (!have.contains(a))
        missing += (missing.empty() ? "" : ", ") + addr_text(a);
    if (!missing.empty())
      spdlog::warn(
          "the pinned program's local addresses were fixed when it was "
          "loaded; these are answered like any client: {} (to include them, "
          "detach everywhere and attach all interfaces in one command)",
          missing);
    if (const std::string why = missing_keys_reason(inst->keys_fd());
        !why.empty()) {
      // Nothing to keep: the responder answers no ClientHello until a set
      // is published, and publishing one is what attach does anyway.
      const key_set keys = fresh_keys ? *fresh_keys : initial_keys(o.keys);
      spdlog::warn("the key map in {} holds no key set ({}); publishing one",
                   o.pin_dir.string(), why);
      inst->publish(keys);
    } else if (o.keys.secret_file) {
      spdlog::info(
          "keeping the keys of the instance in {}; dtls-cookie rotate "
          "--secret-file publishes the fleet's",
          o.pin_dir.string());
    }
  } else {
    const key_set keys = fresh_keys      ? *fresh_keys
                         : leftover_keys ? *leftover_keys
                                         : initial_keys(o.keys);
    inst = instance::create(o.pin_dir, want, keys);
    created = true;
    spdlog::info(
        "loaded dc_responder (program id {}) pinned in {}, key "
        "generation {}{}",
        inst->prog_id(), o.pin_dir.string(), keys.current()->generation,
        o.keys.secret_file ? " (fleet keys)" : " (random)");
  }

  // A link whose interface is gone, or was made again under the same name,
  // attaches nothing; its pin is only in the way.
  std::vector<link_info> existing;
  for (const link_info& l : inst->links()) {
    const bool requested =
        std::find(o.ifaces.begin(), o.ifaces.end(), l.ifname) != o.ifaces.end();
    if (requested && l.ifindex != int(if_nametoindex(l.ifname.c_str()))) {
      spdlog::warn("the attachment pinned for {} is gone ({}); replacing it",
                   l.ifname,
                   l.gone.empty() ? "the interface was made anew" : l.gone);
      inst->detach(l.ifname);
      continue;
    }
    existing.push_back(l);
  }

  // Everything that can be refused is refused before anything is attached.
  auto find_link = [&existing](const std::string& ifname) {
    return std::find_if(existing.begin(), existing.end(),
                        [&](const link_info& l) { return l.ifname == ifname; });
  };
  for (const std::string& i : o.ifaces)
    if (!adopt && find_link(i) != existing.end())
      throw error("already attached to " + i + " (" +
                  inst->link_pin(i).string() +
                  "): detach it first (dtls-cookie detach --iface " + i + ")");

  std::vector<link_info> result;
  std::vector<std::string> made;
  try {
    if (o.multiprog &&
        std::any_of(o.ifaces.begin(), o.ifaces.end(), [&](const auto& i) {
          return find_link(i) == existing.end();
        }))
      inst->probe_multiprog();
    for (const std::string& i : o.ifaces) {
      if (auto it = find_link(i); it != existing.end()) {
        if (it->mode != o.mode)
          spdlog::warn("{} stays attached in {} mode (asked for {})", i,
                       mode_name(it->mode), mode_name(o.mode));
        if (it->multiprog != o.multiprog)
          spdlog::warn("{} stays attached {} (asked {})", i,
                       it->multiprog ? "in libxdp's dispatcher" : "alone",
                       o.multiprog ? "for --multiprog" : "without --multiprog");
        spdlog::info("adopted the attachment to {} (ifindex {})", i,
                     it->ifindex);
        result.push_back(*it);
        continue;
      }
      const link_info l = inst->attach(i, o.mode, o.replace, o.multiprog);
      made.push_back(i);
      if (l.multiprog)
        spdlog::info(
            "attached to {} (ifindex {}, {} mode) in libxdp's dispatcher "
            "(id {}) as program id {}",
            i, l.ifindex, mode_name(l.mode), l.dispatcher_id, l.prog_id);
      else
        spdlog::info("attached to {} (ifindex {}, {} mode, link id {})", i,
                     l.ifindex, mode_name(l.mode), l.link_id);
      result.push_back(l);
    }
  } catch (...) {
    // The first error is the one to report; undoing logs its own.
    try {
      for (const std::string& i : made) inst->detach(i);
      if (created) inst->remove();
    } catch (const std::exception& e) {
      spdlog::warn("undoing a failed attach: {}", e.what());
    }
    throw;
  }
  return attach_result{std::move(*inst), std::move(result), created};
}

int cmd_attach(const attach_options& o) {
  attach_all(o, false);
  if (o.keys.secret_file)
    spdlog::info(
        "fleet keys change every {} s: run dtls-cookie rotate --secret-file "
        "at each boundary, or use dtls-cookie run",
        o.keys.interval.count());
  return 0;
}

int cmd_detach(const std::string& iface, const std::filesystem::path& pin_dir) {
  const unique_fd lock = lock_pin_dir(pin_dir);
  std::optional<instance> inst = instance::open(pin_dir);
  if (!inst)
    throw error("not attached: no instance is pinned in " + pin_dir.string());
  if (!inst->detach(iface))
    throw error(iface + " is not attached by dtls-cookie (no " +
                inst->link_pin(iface).string() + ")");
  spdlog::info("detached from {}", iface);
  if (inst->links().empty()) {
    inst->remove();
    spdlog::info("removed the instance pinned in {} with its last interface",
                 pin_dir.string());
  }
  return 0;
}

}  // namespace dtls_cookie::agent
