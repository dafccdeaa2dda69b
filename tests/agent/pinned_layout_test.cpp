// The check of pinned maps against the responder's layouts, on maps made
// with bpf() directly: each field that can differ, BTF, the inner key map,
// programs where maps belong, key maps without keys and pin directories
// off a bpffs. Needs root (BPF and mount).
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <gmock/gmock.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "dtls_cookie/pinned_keys.hpp"
#include "dtls_cookie/pinned_layout.hpp"
#include "dtls_cookie/responder.hpp"

namespace dtls_cookie {
namespace {

using ::testing::HasSubstr;
namespace fs = std::filesystem;

#define DC_REQUIRE_ROOT()                               \
  do {                                                  \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root"; \
  } while (0)

responder load() {
  responder_options o;
  o.ports = {4433};
  return responder::load(to_config(o));
}

key fixed_key(uint32_t generation) {
  key k;
  k.generation = generation;
  k.created_unix_ns = 1000u * generation;
  for (size_t i = 0; i < k.bytes.size(); ++i)
    k.bytes[i] = uint8_t(generation * 7 + i);
  return k;
}

unique_fd make_map(bpf_map_type type, const char* name, uint32_t key_size,
                   uint32_t value_size, uint32_t entries, uint32_t flags = 0,
                   int inner_fd = -1) {
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = flags);
  if (inner_fd >= 0) opts.inner_map_fd = uint32_t(inner_fd);
  unique_fd fd(
      bpf_map_create(type, name, key_size, value_size, entries, &opts));
  EXPECT_TRUE(fd) << "bpf_map_create " << name << ": " << std::strerror(errno);
  return fd;
}

// The message check_map_layout gives for fd, or "" when it accepts it.
std::string refusal(int fd, const fs::path& path, const map_layout& want) {
  try {
    check_map_layout(fd, path, want);
    return "";
  } catch (const foreign_pin_error& e) {
    return e.what();
  }
}

class PinnedLayout : public ::testing::Test {
 protected:
  void SetUp() override {
    DC_REQUIRE_ROOT();
    char tmpl[] = "/tmp/dc-pinned-layout-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(mount("bpf", dir_.c_str(), "bpf", 0, nullptr), 0)
        << std::strerror(errno);
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
    if (!dir_.empty()) fs::remove(dir_);
  }

  fs::path dir_;
  bool mounted_ = false;
};

TEST_F(PinnedLayout, AcceptsTheResponderMaps) {
  const responder r = load();
  const fs::path p = dir_ / "x";
  EXPECT_EQ(refusal(r.keys_fd(), p, kKeysMapLayout), "") << "empty slot";
  r.publish_keys(key_set(fixed_key(3), fixed_key(2)));
  EXPECT_EQ(refusal(r.keys_fd(), p, kKeysMapLayout), "") << "a published set";
  EXPECT_EQ(refusal(r.counters_fd(), p, kCountersMapLayout), "");
  EXPECT_EQ(refusal(r.config_fd(), p, kConfigMapLayout), "");
}

TEST_F(PinnedLayout, RefusesEachFieldThatDiffers) {
  const uint32_t csize = sizeof(dc_counters);
  struct row {
    const char* what;
    unique_fd fd;
    const char* found;
  };
  row rows[] = {
      {"type", make_map(BPF_MAP_TYPE_ARRAY, "dc_counters", 4, csize, 1),
       "(an array map 'dc_counters' with 4-byte keys, "},
      // Arrays have 4-byte keys whatever their type.
      {"type and key size",
       make_map(BPF_MAP_TYPE_PERCPU_HASH, "dc_counters", 8, csize, 1),
       "(a percpu_hash map 'dc_counters' with 8-byte keys, "},
      {"value size",
       make_map(BPF_MAP_TYPE_PERCPU_ARRAY, "dc_counters", 4, 64, 1),
       "(a percpu_array map 'dc_counters' with 4-byte keys, 64-byte values "
       "and 1 entry; "},
      {"entries",
       make_map(BPF_MAP_TYPE_PERCPU_ARRAY, "dc_counters", 4, csize, 2),
       "and 2 entries; "},
      {"name", make_map(BPF_MAP_TYPE_PERCPU_ARRAY, "counters", 4, csize, 1),
       "(a percpu_array map 'counters' with 4-byte keys, "},
  };
  const fs::path p = dir_ / "counters";
  const std::string wanted =
      "the counters map is a percpu_array map 'dc_counters' with 4-byte "
      "keys, " +
      std::to_string(csize) + "-byte values and 1 entry";
  for (const row& r : rows) {
    ASSERT_TRUE(r.fd) << r.what;
    const std::string msg = refusal(r.fd.get(), p, kCountersMapLayout);
    EXPECT_THAT(
        msg, HasSubstr(p.string() + " is not part of a dtls-cookie instance"))
        << r.what;
    EXPECT_THAT(msg, HasSubstr(r.found)) << r.what;
    EXPECT_THAT(msg, HasSubstr(wanted)) << r.what;
    EXPECT_THAT(msg, HasSubstr("choose another --pin-dir")) << r.what;
  }
}

TEST_F(PinnedLayout, RefusesMissingFlags) {
  // The config map must be read-only to programs, as .rodata is.
  const unique_fd fd =
      make_map(BPF_MAP_TYPE_ARRAY, "x.rodata", 4, sizeof(dc_config), 1);
  ASSERT_TRUE(fd);
  const std::string msg = refusal(fd.get(), dir_ / "config", kConfigMapLayout);
  EXPECT_THAT(msg, HasSubstr("and 1 entry, flags 0x0; the config map is an "
                             "array map '*.rodata'"));
  EXPECT_THAT(msg, HasSubstr("1 entry, flags 0x80 (another version"));
}

TEST_F(PinnedLayout, RefusesTheRightLayoutWithoutBtf) {
  const unique_fd fd = make_map(BPF_MAP_TYPE_PERCPU_ARRAY, "dc_counters", 4,
                                sizeof(dc_counters), 1);
  ASSERT_TRUE(fd);
  EXPECT_THAT(refusal(fd.get(), dir_ / "counters", kCountersMapLayout),
              HasSubstr("(map 'dc_counters' has the counters map's layout "
                        "but no BTF, so another program made it)"));
}

TEST_F(PinnedLayout, RefusesTheRightLayoutWithOtherBtf) {
  std::unique_ptr<btf, decltype(&btf__free)> b(btf__new_empty(), &btf__free);
  ASSERT_TRUE(b);
  const int u32 = btf__add_int(b.get(), "unsigned int", 4, 0);
  const int other =
      btf__add_struct(b.get(), "not_counters", sizeof(dc_counters));
  ASSERT_GT(u32, 0);
  ASSERT_GT(other, 0);
  ASSERT_EQ(btf__load_into_kernel(b.get()), 0) << std::strerror(errno);
  LIBBPF_OPTS(bpf_map_create_opts, opts, .btf_fd = uint32_t(btf__fd(b.get())),
              .btf_key_type_id = uint32_t(u32),
              .btf_value_type_id = uint32_t(other));
  const unique_fd fd(bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "dc_counters", 4,
                                    sizeof(dc_counters), 1, &opts));
  ASSERT_TRUE(fd) << std::strerror(errno);
  EXPECT_THAT(refusal(fd.get(), dir_ / "counters", kCountersMapLayout),
              HasSubstr("(map 'dc_counters' holds BTF type 'not_counters', "
                        "not 'dc_counters')"));
}

TEST_F(PinnedLayout, RefusesAKeyMapWithAForeignInnerMap) {
  const unique_fd inner =
      make_map(BPF_MAP_TYPE_ARRAY, "foreign_inner", 4, 8, 1);
  ASSERT_TRUE(inner);
  const unique_fd outer =
      make_map(BPF_MAP_TYPE_ARRAY_OF_MAPS, "dc_keys", 4, 4, 1, 0, inner.get());
  ASSERT_TRUE(outer);
  const fs::path p = dir_ / "keys";
  EXPECT_EQ(refusal(outer.get(), p, kKeysMapLayout), "")
      << "an empty slot shows nothing of the inner layout";
  const uint32_t slot = 0;
  const int inner_fd = inner.get();
  ASSERT_EQ(bpf_map_update_elem(outer.get(), &slot, &inner_fd, BPF_ANY), 0);
  EXPECT_THAT(
      refusal(outer.get(), p, kKeysMapLayout),
      HasSubstr("(its slot 0 holds an array map 'foreign_inner' with 4-byte "
                "keys, 8-byte values and 1 entry, flags 0x0; the key map's "
                "inner map is an array map 'dc_key_set' with 4-byte keys, " +
                std::to_string(sizeof(dc_key_set)) +
                "-byte values and 1 entry, flags 0x80)"));
}

TEST_F(PinnedLayout, RefusesAProgramWhereAMapBelongs) {
  const responder r = load();
  const fs::path p = dir_ / "keys";
  pin_object(r.prog_fd(), p);
  for (bool read_only : {false, true}) {
    try {
      open_pinned_map(p, kKeysMapLayout, read_only);
      FAIL() << "opened a program as a map, read_only " << read_only;
    } catch (const foreign_pin_error& e) {
      EXPECT_THAT(e.what(), HasSubstr(p.string() +
                                      " is not part of a dtls-cookie "
                                      "instance (a BPF program, not a map)"));
    }
  }
}

TEST_F(PinnedLayout, OpeningNothingIsNotForeign) {
  try {
    open_pinned_map(dir_ / "keys", kKeysMapLayout, true);
    FAIL() << "opened a pin that is not there";
  } catch (const foreign_pin_error& e) {
    FAIL() << "a missing pin taken for a foreign one: " << e.what();
  } catch (const bpf_error& e) {
    EXPECT_EQ(e.code(), ENOENT);
  }
  fs::create_directory(dir_ / "keys");
  EXPECT_THROW(open_pinned_map(dir_ / "keys", kKeysMapLayout, true),
               foreign_pin_error)
      << "a directory where the key map belongs";
}

TEST_F(PinnedLayout, SaysWhyAKeyMapHoldsNoKeys) {
  const responder r = load();
  EXPECT_EQ(missing_keys_reason(r.keys_fd()), "its slot 0 is empty");
  r.publish_keys(key_set(fixed_key(9), fixed_key(8)));
  EXPECT_EQ(missing_keys_reason(r.keys_fd()), "");

  // Sets no publish_keys() would write: put in by hand.
  for (const bool with_previous : {false, true}) {
    const unique_fd inner = make_map(BPF_MAP_TYPE_ARRAY, "dc_key_set", 4,
                                     sizeof(dc_key_set), 1, BPF_F_RDONLY_PROG);
    dc_key_set set{};
    if (with_previous) {
      set.previous.generation = 7;
      set.previous.flags = DC_KEY_VALID;
    }
    const uint32_t slot = 0;
    ASSERT_EQ(bpf_map_update_elem(inner.get(), &slot, &set, BPF_ANY), 0);
    const int inner_fd = inner.get();
    ASSERT_EQ(bpf_map_update_elem(r.keys_fd(), &slot, &inner_fd, BPF_ANY), 0);
    EXPECT_TRUE(r.read_keys().empty());
    EXPECT_EQ(missing_keys_reason(r.keys_fd()),
              with_previous
                  ? "the set in its slot 0 has no valid current key, only a "
                    "previous one, generation 7, which is never used alone"
                  : "the set in its slot 0 holds no valid key");
    EXPECT_EQ(refusal(r.keys_fd(), dir_ / "keys", kKeysMapLayout), "")
        << "a set without keys is still the responder's layout";
  }
}

TEST_F(PinnedLayout, NamesTheFilesystemThatIsNotABpffs) {
  EXPECT_TRUE(on_bpffs(dir_));
  EXPECT_TRUE(on_bpffs(dir_ / "not" / "made" / "yet"));
  EXPECT_NO_THROW(require_bpffs(dir_ / "dc"));

  const fs::path tmp = dir_.string() + "-tmpfs";
  ASSERT_TRUE(fs::create_directory(tmp));
  ASSERT_EQ(mount("tmpfs", tmp.c_str(), "tmpfs", 0, nullptr), 0)
      << std::strerror(errno);
  EXPECT_FALSE(on_bpffs(tmp / "dc"));
  EXPECT_EQ(describe_filesystem(tmp / "dc"),
            "tmpfs mounted on " + tmp.string());
  try {
    require_bpffs(tmp / "dc");
    ADD_FAILURE() << "a tmpfs taken for a bpffs";
  } catch (const error& e) {
    EXPECT_THAT(e.what(),
                HasSubstr("--pin-dir " + (tmp / "dc").string() +
                          " is not on a bpffs (" + tmp.string() +
                          " is on tmpfs mounted on " + tmp.string() + ")"));
    EXPECT_THAT(e.what(), HasSubstr("mount -t bpf bpf /sys/fs/bpf"));
  }
  umount2(tmp.c_str(), MNT_DETACH);
  fs::remove(tmp);
}

// The key source keeps serving while something else is pinned, and says
// why it has no keys.
TEST_F(PinnedLayout, KeySourceNamesWhatReplacedTheKeyMap) {
  const responder r = load();
  r.publish_keys(key_set(fixed_key(4)));
  const fs::path p = dir_ / "keys";
  pin_object(r.keys_fd(), p);
  pinned_key_source source(dir_, std::chrono::milliseconds(0));
  EXPECT_FALSE(source.keys().empty());
  EXPECT_EQ(source.problem(), "");

  fs::remove(p);
  const unique_fd hash = make_map(BPF_MAP_TYPE_HASH, "dc_keys", 4, 4, 1);
  pin_object(hash.get(), p);
  EXPECT_TRUE(source.keys().empty());
  EXPECT_THAT(source.problem(),
              HasSubstr(p.string() + " is not part of a dtls-cookie instance "
                                     "(a hash map 'dc_keys'"));

  fs::remove(p);
  EXPECT_TRUE(source.keys().empty());
  EXPECT_THAT(source.problem(), HasSubstr("No such file or directory"));

  r.publish_keys({});
  pin_object(r.keys_fd(), p);
  EXPECT_TRUE(source.keys().empty());
  EXPECT_EQ(source.problem(), p.string() +
                                  " holds no key set (its slot 0 is "
                                  "empty)");
  r.publish_keys(key_set(fixed_key(5)));
  EXPECT_EQ(source.keys().current()->generation, 5u);
  EXPECT_EQ(source.problem(), "");
}

}  // namespace
}  // namespace dtls_cookie
