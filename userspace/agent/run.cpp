// dtls-cookie run: the foreground daemon systemd supervises. It attaches
// (or adopts what a killed predecessor left pinned), checks the program
// against the model, then rotates keys on schedule and serves metrics from
// one poll loop until SIGTERM or SIGINT takes everything down again.
#include <poll.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>

#include "check.hpp"
#include "commands.hpp"
#include "dtls_cookie/error.hpp"
#include "dtls_cookie/pinned_layout.hpp"
#include "instance.hpp"
#include "metrics.hpp"

namespace dtls_cookie::agent {
namespace {

using sys_clock = std::chrono::system_clock;

// The start-up check: as many frames as check runs by default, a few
// milliseconds of kernel time.
constexpr unsigned kStartupCheckFrames = 1000;
// A failed rotation (say, ENOMEM) is tried again this soon rather than
// at the next boundary, when the previous key has already expired.
constexpr std::chrono::seconds kRetryAfterFailure{5};

std::string errno_text(int err) { return std::strerror(err); }

// The sd_notify protocol by hand: one datagram per state change to the
// unix socket systemd names in $NOTIFY_SOCKET (a leading '@' means the
// abstract namespace). Without the variable, every call does nothing.
class notifier {
 public:
  notifier() {
    const char* path = std::getenv("NOTIFY_SOCKET");
    if (path == nullptr || path[0] == '\0') return;
    const size_t n = std::strlen(path);
    if ((path[0] != '/' && path[0] != '@') || n >= sizeof addr_.sun_path) {
      spdlog::warn("ignoring NOTIFY_SOCKET={}: not a unix socket path", path);
      return;
    }
    addr_.sun_family = AF_UNIX;
    std::memcpy(addr_.sun_path, path, n);
    if (path[0] == '@') addr_.sun_path[0] = '\0';
    // An abstract name has no terminating NUL: its length is the exact one.
    len_ = socklen_t(offsetof(sockaddr_un, sun_path) + n +
                     (path[0] == '@' ? 0 : 1));
    fd_ = unique_fd(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (!fd_) spdlog::warn("sd_notify: socket: {}", errno_text(errno));
  }

  void send(const std::string& state) const {
    if (!fd_) return;
    if (sendto(fd_.get(), state.data(), state.size(), MSG_NOSIGNAL,
               reinterpret_cast<const sockaddr*>(&addr_), len_) < 0)
      spdlog::warn("sd_notify {}: {}", state.substr(0, state.find('\n')),
                   errno_text(errno));
  }

 private:
  sockaddr_un addr_{};
  socklen_t len_ = 0;
  unique_fd fd_;
};

// Signals arrive as reads on a signalfd in the poll loop; none is handled
// asynchronously, so no handler ever runs code that is not signal-safe.
class signal_source {
 public:
  signal_source() {
    sigemptyset(&set_);
    for (int s : {SIGTERM, SIGINT, SIGHUP}) sigaddset(&set_, s);
    if (sigprocmask(SIG_BLOCK, &set_, &old_) != 0)
      throw error("sigprocmask: " + errno_text(errno));
    fd_ = unique_fd(signalfd(-1, &set_, SFD_NONBLOCK | SFD_CLOEXEC));
    if (!fd_) throw error("signalfd: " + errno_text(errno));
  }
  ~signal_source() { sigprocmask(SIG_SETMASK, &old_, nullptr); }
  signal_source(const signal_source&) = delete;
  signal_source& operator=(const signal_source&) = delete;

  int fd() const { return fd_.get(); }
  // The next pending signal, 0 when none.
  int next() const {
    signalfd_siginfo info{};
    const ssize_t n = read(fd_.get(), &info, sizeof info);
    return n == ssize_t(sizeof info) ? int(info.ssi_signo) : 0;
  }

 private:
  sigset_t set_{};
  sigset_t old_{};
  unique_fd fd_;
};

// One wall-clock deadline. Fleet epochs are wall-clock intervals, and a
// random key's due time is its creation stamp (wall clock, so that it
// survives a restart) plus the interval; a clock step cancels the wait
// and the schedule is computed again.
class wall_timer {
 public:
  wall_timer() {
    fd_ = unique_fd(timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK | TFD_CLOEXEC));
    if (!fd_) throw error("timerfd_create: " + errno_text(errno));
  }
  int fd() const { return fd_.get(); }

  void arm_at(sys_clock::time_point when) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                        when.time_since_epoch())
                        .count();
    itimerspec spec{};
    // 0 would disarm the timer: a deadline in the past fires at once.
    spec.it_value.tv_sec = std::max<int64_t>(ns / 1000000000, 0);
    spec.it_value.tv_nsec = std::max<int64_t>(ns % 1000000000, 1);
    if (timerfd_settime(fd_.get(), TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET,
                        &spec, nullptr) != 0)
      throw error("timerfd_settime: " + errno_text(errno));
  }

  // Clears the readiness; a cancellation (clock step) reads as ECANCELED.
  void drain() const {
    uint64_t expirations = 0;
    if (read(fd_.get(), &expirations, sizeof expirations) < 0 &&
        errno == ECANCELED)
      spdlog::info("the system clock was set; recomputing the key schedule");
  }

 private:
  unique_fd fd_;
};

sys_clock::time_point from_unix_ns(uint64_t ns) {
  return sys_clock::time_point(std::chrono::duration_cast<sys_clock::duration>(
      std::chrono::nanoseconds(ns)));
}

std::string generations(const key_set& k) {
  if (k.empty()) return "none";
  std::string s = std::to_string(k.current()->generation) + " current";
  if (k.previous())
    s += ", " + std::to_string(k.previous()->generation) + " previous";
  return s;
}

class service {
 public:
  service(const run_options& o, instance inst, std::vector<std::string> ifaces,
          std::optional<fleet_secret> secret,
          std::unique_ptr<metrics_server> metrics)
      : o_(o),
        inst_(std::move(inst)),
        ifaces_(std::move(ifaces)),
        secret_(std::move(secret)),
        metrics_(std::move(metrics)) {}

  // Publishes the keys due now (none when the pinned ones are still
  // good) and arms the timer for the next change.
  void refresh_keys() {
    const auto interval = o_.attach.keys.interval;
    auto now = sys_clock::now();
    sys_clock::time_point next;
    try {
      const unique_fd lock = lock_pin_dir(inst_.dir());
      const key_set live = inst_.keys();
      if (live.empty())
        spdlog::warn("the key map in {} holds no key set ({}); publishing one",
                     inst_.dir().string(),
                     missing_keys_reason(inst_.keys_fd()));
      key_set want = live;
      if (secret_) {
        want = secret_->key_set_at(now, interval);
        const uint32_t epoch = fleet_secret::epoch_at(now, interval);
        next = sys_clock::time_point(
            std::chrono::seconds(int64_t(epoch + 1) * interval.count()));
      } else {
        const auto due =
            live.empty()
                ? now
                : from_unix_ns(live.current()->created_unix_ns) + interval;
        if (now >= due) rotate_random(want, now);
        // A clock stepped back must not postpone the rotation by as much.
        next =
            std::min(from_unix_ns(want.current()->created_unix_ns) + interval,
                     now + interval);
      }
      if (want != live) {
        inst_.publish(want);
        ++rotations_;
        spdlog::info("published keys: generation {}{}", generations(want),
                     secret_ ? " (fleet keys)" : "");
      }
    } catch (const std::exception& e) {
      spdlog::error("key rotation failed: {}; trying again in {} s", e.what(),
                    kRetryAfterFailure.count());
      next = now + kRetryAfterFailure;
    }
    timer_.arm_at(next);
    spdlog::debug("next key change at {} s after the Unix epoch",
                  std::chrono::duration_cast<std::chrono::seconds>(
                      next.time_since_epoch())
                      .count());
  }

  void reload_secret() {
    if (!o_.attach.keys.secret_file) {
      spdlog::info("SIGHUP: no --secret-file to read again; keys unchanged");
      return;
    }
    try {
      secret_ = fleet_secret::from_file(*o_.attach.keys.secret_file);
      spdlog::info("SIGHUP: read {} again",
                   o_.attach.keys.secret_file->string());
    } catch (const std::exception& e) {
      spdlog::error("SIGHUP: {}; keeping the secret read before", e.what());
      return;
    }
    refresh_keys();
  }

  std::string render() const {
    metrics_snapshot s;
    s.values = inst_.read_counters();
    s.keys = inst_.keys();
    s.links = inst_.links();
    s.rotations = rotations_;
    s.now = sys_clock::now();
    return render_metrics(s);
  }

  // Runs until SIGTERM or SIGINT.
  void loop(const signal_source& signals) {
    std::vector<pollfd> fds;
    for (;;) {
      fds.clear();
      fds.push_back({signals.fd(), POLLIN, 0});
      fds.push_back({timer_.fd(), POLLIN, 0});
      if (metrics_) metrics_->add_poll_fds(fds);
      const int timeout = metrics_ ? metrics_->poll_timeout_ms() : -1;
      if (poll(fds.data(), fds.size(), timeout) < 0) {
        if (errno == EINTR) continue;
        throw error("poll: " + errno_text(errno));
      }
      if (fds[0].revents & POLLIN) {
        for (int sig = signals.next(); sig != 0; sig = signals.next()) {
          if (sig == SIGHUP) {
            reload_secret();
            continue;
          }
          spdlog::info("{}: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
          return;
        }
      }
      if (fds[1].revents & POLLIN) {
        timer_.drain();
        refresh_keys();
      }
      if (metrics_)
        metrics_->on_poll(std::span(fds).subspan(2),
                          [this] { return render(); });
    }
  }

  // Detaches the interfaces this daemon serves and, when no other
  // interface uses the instance, unpins it: an orderly stop leaves
  // nothing behind.
  void stop() {
    const unique_fd lock = lock_pin_dir(inst_.dir());
    for (const std::string& i : ifaces_) {
      if (inst_.detach(i))
        spdlog::info("detached from {}", i);
      else
        spdlog::warn("{} was no longer attached", i);
    }
    const auto rest = inst_.links();
    if (rest.empty()) {
      inst_.remove();
      spdlog::info("removed the instance pinned in {}", inst_.dir().string());
      return;
    }
    std::string names;
    for (const auto& l : rest) names += (names.empty() ? "" : ", ") + l.ifname;
    spdlog::info("the instance in {} stays pinned for {}", inst_.dir().string(),
                 names);
  }

 private:
  const run_options& o_;
  instance inst_;
  std::vector<std::string> ifaces_;
  std::optional<fleet_secret> secret_;
  std::unique_ptr<metrics_server> metrics_;
  wall_timer timer_;
  uint64_t rotations_ = 0;
};

// The names of the links already pinned in dir, before run touches it.
std::set<std::string> pinned_links(const std::filesystem::path& dir) {
  std::set<std::string> out;
  try {
    if (const auto inst = instance::open(dir))
      for (const auto& l : inst->links()) out.insert(l.ifname);
  } catch (const error&) {
    // attach_all reports what is wrong with dir.
  }
  return out;
}

// Takes back what a failed start made: the links it created and, if it
// created the instance, the instance.
void undo_start(instance& inst, const std::vector<std::string>& ifaces,
                const std::set<std::string>& before, bool created) {
  try {
    const unique_fd lock = lock_pin_dir(inst.dir());
    for (const std::string& i : ifaces)
      if (created || !before.contains(i)) inst.detach(i);
    if (created || inst.links().empty()) inst.remove();
  } catch (const std::exception& e) {
    spdlog::warn("undoing the start: {}", e.what());
  }
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ",") + x;
  return s;
}

}  // namespace

int cmd_run(const run_options& o) {
  // Blocked first: a SIGTERM during start-up waits in the signalfd and
  // stops the daemon in order once it runs.
  const signal_source signals;
  const notifier notify;

  // Everything that can be refused without touching the kernel first.
  std::optional<fleet_secret> secret;
  if (o.attach.keys.secret_file)
    secret = fleet_secret::from_file(*o.attach.keys.secret_file);
  std::unique_ptr<metrics_server> metrics;
  std::string metrics_at;
  if (o.metrics) {
    metrics = std::make_unique<metrics_server>(*o.metrics);
    metrics_at = metrics->local_address();
  }

  const std::set<std::string> before = pinned_links(o.attach.pin_dir);
  attach_result started = attach_all(o.attach, true);

  if (o.skip_check) {
    spdlog::warn("start-up check skipped");
  } else {
    const uint32_t seed = std::random_device{}();
    check_report report;
    try {
      report = check_instance(started.inst, kStartupCheckFrames, seed);
    } catch (...) {
      undo_start(started.inst, o.attach.ifaces, before, started.created);
      throw;
    }
    if (!report.ok()) {
      print_report(std::cerr, report);
      undo_start(started.inst, o.attach.ifaces, before, started.created);
      throw error("the start-up check failed (seed " + std::to_string(seed) +
                  "): the kernel disagrees with the model on " +
                  std::to_string(report.mismatches.size()) +
                  " frames; refusing to start");
    }
    spdlog::info("start-up check passed: {}", summary(report));
  }

  service d(o, std::move(started.inst), o.attach.ifaces, std::move(secret),
            std::move(metrics));
  d.refresh_keys();
  if (!metrics_at.empty())
    spdlog::info("serving metrics on http://{}/metrics", metrics_at);
  notify.send("READY=1\nSTATUS=answering on " + join(o.attach.ifaces));
  spdlog::info("ready: answering on {}", join(o.attach.ifaces));

  d.loop(signals);

  notify.send("STOPPING=1");
  d.stop();
  return 0;
}

}  // namespace dtls_cookie::agent
