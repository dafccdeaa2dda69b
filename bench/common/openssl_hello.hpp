// The ClientHello every benchmark sends, so that their figures describe
// the same datagram: shaped like OpenSSL 3's first DTLS 1.2 ClientHello.
#pragma once

#include <vector>

#include "dtls_cookie/packet.hpp"

namespace dtls_cookie::bench {

// A DTLS 1.2 ClientHello shaped like OpenSSL 3's first one (the
// openssl-dtls1_2 capture under tests/data): 28 suites, six extensions,
// 205 bytes without a cookie.
inline packet::client_hello openssl_like_client_hello() {
  packet::client_hello ch;
  ch.record_version = DC_VERSION_DTLS10;
  ch.client_version = DC_VERSION_DTLS12;
  for (size_t i = 0; i < ch.random.size(); ++i)
    ch.random[i] = uint8_t(0x8d ^ (i * 29));
  ch.cipher_suites = {0xc02c, 0xc030, 0x009f, 0xcca9, 0xcca8, 0xccaa, 0xc02b,
                      0xc02f, 0x009e, 0xc024, 0xc028, 0x006b, 0xc023, 0xc027,
                      0x0067, 0xc00a, 0xc014, 0x0039, 0xc009, 0xc013, 0x0033,
                      0x009d, 0x009c, 0x003d, 0x003c, 0x0035, 0x002f, 0x00ff};
  ch.compression = {0};
  std::vector<packet::extension> ext;
  ext.push_back({0x000b, {3, 0, 1, 2}});  // ec_point_formats
  ext.push_back({0x000a,                  // supported_groups
                 {0, 10, 0, 0x1d, 0, 0x17, 0, 0x1e, 0, 0x19, 0, 0x18}});
  ext.push_back({0x0023, {}});  // session_ticket
  ext.push_back({0x0016, {}});  // encrypt_then_mac
  ext.push_back({0x0017, {}});  // extended_master_secret
  packet::bytes sig{0, 40};     // signature_algorithms: 20 schemes
  for (uint16_t s : {0x0403, 0x0503, 0x0603, 0x0807, 0x0808, 0x0809, 0x080a,
                     0x080b, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601,
                     0x0303, 0x0301, 0x0302, 0x0402, 0x0502, 0x0602}) {
    sig.push_back(uint8_t(s >> 8));
    sig.push_back(uint8_t(s));
  }
  ext.push_back({0x000d, sig});
  ch.extensions = ext;
  return ch;
}

}  // namespace dtls_cookie::bench
