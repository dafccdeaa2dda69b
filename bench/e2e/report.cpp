// bench_e2e report: the end-to-end benchmark's figures from the raw lines
// of one run (flood's JSON lines, one per responder and round, with the
// userspace responders' own counts and the lab's counters next to them):
// the median answered rate of each responder, the ratios the product's
// bars are about, each the median of the ratios within a round (the
// machine's speed drifts between rounds), the scaling from one CPU to two,
// and for each figure what limited it.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common.hpp"

namespace e2e {
namespace {

using nlohmann::json;

// The product's bars.
constexpr double kBarVsReflector = 0.9;  // XDP responder / reflector
constexpr double kBarVsGnutls = 20.0;    // XDP responder / GnuTLS userspace
constexpr double kBarScaling = 1.8;      // two CPUs / one CPU

struct responder {
  const char* label;  // as bench_e2e.sh passes it to flood
  const char* letter;
  const char* what;
  bool userspace;
};

constexpr responder kResponders[] = {
    {"xdp", "a", "XDP responder (agent, native mode)", false},
    {"reflector", "b", "XDP reflector (the ceiling)", false},
    {"gnutls", "c", "userspace, libgnutls cookies", true},
    {"siphash", "d", "userspace, this library (SipHash)", true},
    {"openssl", "e", "userspace, OpenSSL DTLSv1_listen", true},
};
constexpr const char* kScale1 = "xdp_2q_1cpu";
constexpr const char* kScale2 = "xdp_2q_2cpu";

double median(std::vector<double> v) {
  std::erase_if(v, [](double x) { return std::isnan(x); });
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// label -> round -> line
using by_round = std::map<std::string, std::map<int, json>>;

struct runs {
  by_round flood;   // flood's output
  by_round server;  // a userspace responder's counts
  by_round lab;     // the lab's counters around the flood
  json meta;
};

runs read_raw(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw failure("cannot read " + path);
  runs r;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const json j = json::parse(line);
    const std::string label = j.value("label", "");
    const int round = j.value("round", 0);
    if (j.contains("meta"))
      r.meta = j["meta"];
    else if (j.contains("lab"))
      r.lab[label][round] = j["lab"];
    else if (j.contains("server"))
      r.server[label][round] = j["server"];
    else if (j.contains("answered_pps"))
      r.flood[label][round] = j;
  }
  return r;
}

double number(const json& j, const char* name) {
  const auto it = j.find(name);
  return it != j.end() && it->is_number() ? it->get<double>() : NAN;
}

// The median over rounds of one field of one kind of line.
double med(const by_round& b, const std::string& label, const char* name) {
  std::vector<double> v;
  if (auto it = b.find(label); it != b.end())
    for (const auto& [round, j] : it->second) v.push_back(number(j, name));
  return median(v);
}

// The ratio num/den of every round that has both, then their median.
double round_ratio(const runs& r, const std::string& num,
                   const std::string& den) {
  std::vector<double> v;
  auto a = r.flood.find(num), b = r.flood.find(den);
  if (a == r.flood.end() || b == r.flood.end()) return NAN;
  for (const auto& [round, j] : a->second)
    if (auto k = b->second.find(round); k != b->second.end())
      v.push_back(number(j, "answered_pps") /
                  number(k->second, "answered_pps"));
  return median(v);
}

// The share of the window the thread that limits a responder's rate
// waited for its CPU while other tasks had it: the userspace responder's
// own thread, or for the XDP programs the flood's senders, in whose
// softirqs they run.
double waited(const runs& r, const std::string& label, int round,
              bool userspace) {
  const by_round& b = userspace ? r.server : r.flood;
  const auto it = b.find(label);
  if (it == b.end() || !it->second.count(round)) return NAN;
  const json& j = it->second.at(round);
  if (userspace) return number(j, "wait_share");
  const double mean = number(j, "sender_wait_share_mean");
  return std::isnan(mean) ? number(j, "sender_wait_share") : mean;
}

// A round's answered rate scaled to the CPU time other tasks took from the
// limiting thread: an estimate of the figure on a machine to itself.
double uncontended(const runs& r, const std::string& label, int round,
                   bool userspace) {
  const auto it = r.flood.find(label);
  if (it == r.flood.end() || !it->second.count(round)) return NAN;
  const double w = waited(r, label, round, userspace);
  return number(it->second.at(round), "answered_pps") / (1 - w);
}

std::vector<int> rounds_of(const runs& r, const std::string& label) {
  std::vector<int> v;
  if (auto it = r.flood.find(label); it != r.flood.end())
    for (const auto& [round, j] : it->second) v.push_back(round);
  return v;
}

// A lab counter per second of the flood command (warm-up, window and
// drain), median over rounds.
double lab_rate(const runs& r, const std::string& label, const char* name) {
  std::vector<double> v;
  if (auto it = r.lab.find(label); it != r.lab.end())
    for (const auto& [round, j] : it->second)
      v.push_back(number(j, name) / number(j, "seconds"));
  return median(v);
}

const char* verdict(double ratio, double bar) {
  if (std::isnan(ratio)) return "not measured";
  return ratio >= bar ? "meets" : "MISSES";
}

// "%w.pf" of x * scale, or "-" when x is not known.
std::string fmt(double x, int width, int prec, double scale = 1) {
  char buf[32];
  if (std::isnan(x))
    std::snprintf(buf, sizeof buf, "%*s", width, "-");
  else
    std::snprintf(buf, sizeof buf, "%*.*f", width, prec, x * scale);
  return buf;
}

int report(const std::string& raw, const std::string& out_json) {
  const runs r = read_raw(raw);
  json out = json::object();
  for (auto it = r.meta.begin(); it != r.meta.end(); ++it)
    out[it.key()] = it.value();

  std::printf(
      "\nend to end on a veth: HelloVerifyRequests answered per second, "
      "median of %d round(s) of %g s\n",
      r.meta.value("rounds", 0), r.meta.value("seconds", 0.0));
  std::printf("  %-38s %9s %9s %9s\n", "responder", "answered", "sent",
              "answered");
  std::printf("  %-38s %9s %9s %9s\n", "", "Mpps", "Mpps", "/ sent");
  for (const responder& x : kResponders) {
    const double ans = med(r.flood, x.label, "answered_pps");
    const double sent = med(r.flood, x.label, "sent_pps");
    std::printf("  %s %-36s %s %s %8s%%\n", x.letter, x.what,
                fmt(ans, 9, 3, 1e-6).c_str(), fmt(sent, 9, 3, 1e-6).c_str(),
                fmt(ans / sent, 0, 1, 100).c_str());
    const std::string k = x.label;
    out[k + "_answered_pps"] = ans;
    out[k + "_sent_pps"] = sent;
  }

  struct ratio_row {
    const char* name;
    const char* den;
    double bar;
  };
  const ratio_row ratios[] = {
      {"xdp_vs_reflector", "reflector", kBarVsReflector},
      {"xdp_vs_gnutls", "gnutls", kBarVsGnutls},
      {"xdp_vs_siphash", "siphash", NAN},
      {"xdp_vs_openssl", "openssl", NAN},
  };
  std::printf("  ratios, each the median of the rounds' ratios:\n");
  for (const ratio_row& x : ratios) {
    const double v = round_ratio(r, "xdp", x.den);
    out[std::string("ratio_") + x.name] = v;
    std::printf("    a / %-10s %s", x.den, fmt(v, 7, 2).c_str());
    if (!std::isnan(x.bar)) {
      out[std::string("bar_") + x.name] = x.bar;
      out[std::string(x.name) + "_meets_bar"] = !std::isnan(v) && v >= x.bar;
      std::printf("   bar >= %g: %s", x.bar, verdict(v, x.bar));
    }
    std::printf("\n");
  }
  // A zero-cost responder's ratio: the most a/c can be in this lab, where
  // the XDP figures carry the flood and the sink on their CPU.
  const double ceiling = round_ratio(r, "reflector", "gnutls");
  out["ratio_reflector_vs_gnutls"] = ceiling;
  std::printf("    b / gnutls    %s   (the lab's ceiling for a / gnutls)\n",
              fmt(ceiling, 7, 2).c_str());

  const double s1 = med(r.flood, kScale1, "answered_pps");
  const double s2 = med(r.flood, kScale2, "answered_pps");
  const double sr = round_ratio(r, kScale2, kScale1);
  if (!std::isnan(s1) || !std::isnan(s2)) {
    out["scaling_1cpu_answered_pps"] = s1;
    out["scaling_2cpu_answered_pps"] = s2;
    out["ratio_scaling_2cpu_vs_1cpu"] = sr;
    out["bar_scaling"] = kBarScaling;
    out["scaling_meets_bar"] = !std::isnan(sr) && sr >= kBarScaling;
    out["scaling_1cpu_sender_wait_share"] =
        med(r.flood, kScale1, "sender_wait_share");
    out["scaling_2cpu_sender_wait_share"] =
        med(r.flood, kScale2, "sender_wait_share");
    std::printf(
        "  scaling: the XDP responder on a 2-queue veth, each CPU sending "
        "and answering\n    1 CPU %s Mpps, 2 CPUs %s Mpps: ratio %s   bar >= "
        "%g: %s\n    CPU time the senders waited for (other tasks): 1 CPU "
        "%s%%, 2 CPUs %s%%\n",
        fmt(s1, 0, 3, 1e-6).c_str(), fmt(s2, 0, 3, 1e-6).c_str(),
        fmt(sr, 0, 2).c_str(), kBarScaling, verdict(sr, kBarScaling),
        fmt(out["scaling_1cpu_sender_wait_share"].get<double>(), 0, 1, 100)
            .c_str(),
        fmt(out["scaling_2cpu_sender_wait_share"].get<double>(), 0, 1, 100)
            .c_str());
  }

  // The same, had no other task held the limiting thread's CPU.
  std::printf(
      "  estimated for a machine to itself: each round's rate / (1 - the "
      "share of the\n  window its limiting thread waited for its CPU)\n   ");
  std::map<std::string, std::map<int, double>> est;
  for (const responder& x : kResponders) {
    std::vector<double> v;
    for (int round : rounds_of(r, x.label)) {
      est[x.label][round] = uncontended(r, x.label, round, x.userspace);
      v.push_back(est[x.label][round]);
    }
    const double m = median(v);
    out[std::string(x.label) + "_answered_pps_uncontended"] = m;
    std::printf(" %s %s", x.letter, fmt(m, 0, 3, 1e-6).c_str());
  }
  std::printf(" Mpps\n   ");
  for (const ratio_row& x : ratios) {
    std::vector<double> v;
    for (const auto& [round, a] : est["xdp"])
      if (est[x.den].count(round)) v.push_back(a / est[x.den][round]);
    const double m = median(v);
    out[std::string("ratio_") + x.name + "_uncontended"] = m;
    std::printf(" a/%s %s;", x.den, fmt(m, 0, 2).c_str());
  }
  std::vector<double> scale;
  for (int round : rounds_of(r, kScale2)) {
    const double one = uncontended(r, kScale1, round, false);
    scale.push_back(uncontended(r, kScale2, round, false) / one);
  }
  if (!scale.empty()) {
    out["ratio_scaling_2cpu_vs_1cpu_uncontended"] = median(scale);
    std::printf("\n    scaling 2 CPUs / 1 CPU %s",
                fmt(median(scale), 0, 2).c_str());
  }
  std::printf("\n");

  // What limited each figure. XDP runs in the flood thread's softirq, so
  // its CPU is the flood's; a userspace responder has a CPU of its own.
  std::printf(
      "  what limited them (medians): the responder's CPU, busy and waiting "
      "for other\n  tasks; the hypervisor's steal; frames the server end's "
      "ring refused and UDP\n  receive-buffer drops, per second of flood\n");
  std::printf("  %-12s %9s %9s %9s %9s %9s\n", "", "busy", "waited", "steal",
              "ring", "rcvbuf");
  std::printf("  %-12s %9s %9s %9s %9s %9s\n", "", "%", "%", "%", "Mpps",
              "Mpps");
  for (const responder& x : kResponders) {
    const std::string k = x.label;
    const double busy = x.userspace ? med(r.server, k, "run_share") : NAN;
    const double waited = x.userspace ? med(r.server, k, "wait_share")
                                      : med(r.flood, k, "sender_wait_share");
    const double steal = med(r.flood, k, "steal_share");
    const double ring = lab_rate(r, k, "client_xdp_xmit_errors");
    const double rcvbuf = lab_rate(r, k, "udp_rcvbuf_errors");
    std::printf("  %s %-10s %s %s %s %s %s\n", x.letter, x.label,
                fmt(busy, 9, 1, 100).c_str(), fmt(waited, 9, 1, 100).c_str(),
                fmt(steal, 9, 1, 100).c_str(), fmt(ring, 9, 3, 1e-6).c_str(),
                fmt(rcvbuf, 9, 3, 1e-6).c_str());
    out[k + "_responder_busy_share"] = busy;
    out[k + "_responder_wait_share"] = waited;
    out[k + "_steal_share"] = steal;
    out[k + "_ring_full_pps"] = ring;
    out[k + "_udp_rcvbuf_errors_pps"] = rcvbuf;
  }

  if (!out_json.empty()) {
    std::ofstream f(out_json);
    f << out.dump(2) << '\n';
    if (!f) throw failure("cannot write " + out_json);
  }
  return 0;
}

}  // namespace

int run_report(int argc, char** argv) {
  std::string raw, out;
  CLI::App app{
      "The table, ratios and bars of one end-to-end run from its raw lines "
      "(what bench_e2e.sh collected)."};
  app.add_option("raw", raw, "the run's raw lines")->required();
  app.add_option("--json", out, "write the figures here, one field each");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return report(raw, out);
}

}  // namespace e2e
