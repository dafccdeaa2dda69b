// SipHash-2-4 of the shared header against the reference vectors and
// against OpenSSL's SIPHASH MAC on random inputs.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "dtls_cookie/abi/siphash.h"
#include "test_seed.hpp"

namespace {

std::vector<std::array<uint8_t, 8>> load_vectors() {
  std::ifstream in(DC_TEST_DATA_DIR "/siphash24-vectors.txt");
  std::vector<std::array<uint8_t, 8>> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::array<uint8_t, 8> v{};
    for (size_t i = 0; i < 8; ++i)
      v[i] = uint8_t(std::stoul(line.substr(2 * i, 2), nullptr, 16));
    out.push_back(v);
  }
  return out;
}

uint64_t openssl_siphash(const uint8_t key[16], const uint8_t* msg,
                         size_t len) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, "SIPHASH", nullptr);
  EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(mac);
  size_t size = 8;
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &size),
      OSSL_PARAM_construct_end()};
  uint8_t out[8];
  size_t out_len = 0;
  EXPECT_EQ(EVP_MAC_init(ctx, key, 16, params), 1);
  EXPECT_EQ(EVP_MAC_update(ctx, msg, len), 1);
  EXPECT_EQ(EVP_MAC_final(ctx, out, &out_len, sizeof out), 1);
  EXPECT_EQ(out_len, 8u);
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return dc_load_le64(out);
}

TEST(SipHash, ReferenceVectors) {
  const auto vectors = load_vectors();
  ASSERT_EQ(vectors.size(), 64u);
  uint8_t key[16], msg[64];
  for (int i = 0; i < 16; ++i) key[i] = uint8_t(i);
  for (int i = 0; i < 64; ++i) msg[i] = uint8_t(i);
  for (size_t len = 0; len < 64; ++len) {
    uint8_t got[8];
    dc_store_le64(got, dc_siphash24(key, msg, len));
    EXPECT_EQ(std::vector<uint8_t>(got, got + 8),
              std::vector<uint8_t>(vectors[len].begin(), vectors[len].end()))
        << "message length " << len;
  }
}

TEST(SipHash, FixedLengthFormMatchesReferenceVector22) {
  const auto vectors = load_vectors();
  ASSERT_EQ(vectors.size(), 64u);
  uint8_t key[16], msg[22];
  for (int i = 0; i < 16; ++i) key[i] = uint8_t(i);
  for (int i = 0; i < 22; ++i) msg[i] = uint8_t(i);
  uint8_t got[8];
  dc_store_le64(got, dc_siphash24_22(key, msg));
  EXPECT_EQ(std::vector<uint8_t>(got, got + 8),
            std::vector<uint8_t>(vectors[22].begin(), vectors[22].end()));
}

TEST(SipHash, AgreesWithOpenSslOnRandomInputs) {
  const uint32_t seed = dtls_cookie::testing::test_seed();
  SCOPED_TRACE(dtls_cookie::testing::seed_note(seed));
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> byte(0, 255), length(0, 300);
  for (int round = 0; round < 2000; ++round) {
    uint8_t key[16];
    for (auto& b : key) b = uint8_t(byte(rng));
    std::vector<uint8_t> msg(size_t(length(rng)));
    for (auto& b : msg) b = uint8_t(byte(rng));
    ASSERT_EQ(dc_siphash24(key, msg.data(), msg.size()),
              openssl_siphash(key, msg.data(), msg.size()))
        << "round " << round << " length " << msg.size();
    if (msg.size() >= 22) {
      ASSERT_EQ(dc_siphash24_22(key, msg.data()),
                openssl_siphash(key, msg.data(), 22));
    }
  }
}

}  // namespace
