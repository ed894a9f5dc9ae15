// Prints the hex of one datagram encoded by heartbeat.hpp from fields given on the command
// line, so tests/integration/test_cpp_client.py can hold it against the protocol document's
// test vectors byte for byte. Also checks the HMAC against RFC 4231 test case 2 and 6.
//
// usage: encode_vector KEY_HEX KEY_ID FLAGS SERVICE INSTANCE_HEX SEQ SENT_NS LOAD_MILLI
//                      RSS THREADS EXTRAS_HEX|-
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "paramedic/heartbeat.hpp"

namespace {

std::vector<std::uint8_t> from_hex(const std::string& text) {
  std::vector<std::uint8_t> out;
  if (text == "-") return out;
  for (std::size_t i = 0; i + 1 < text.size(); i += 2) {
    out.push_back(static_cast<std::uint8_t>(std::stoul(text.substr(i, 2), nullptr, 16)));
  }
  return out;
}

std::string to_hex(const std::uint8_t* data, std::size_t size) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < size; ++i) {
    out += digits[data[i] >> 4];
    out += digits[data[i] & 15];
  }
  return out;
}

bool rfc4231_holds() {
  // Test case 2: a short key; test case 6: a 131-byte key, hashed first.
  std::uint8_t tag[32];
  const std::string message2 = "what do ya want for nothing?";
  paramedic::HmacKey("Jefe").tag(reinterpret_cast<const std::uint8_t*>(message2.data()),
                                 message2.size(), tag);
  bool ok = to_hex(tag, 32) ==
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  const std::vector<std::uint8_t> key6(131, 0xaa);
  const std::string message6 = "Test Using Larger Than Block-Size Key - Hash Key First";
  paramedic::HmacKey(key6.data(), key6.size())
      .tag(reinterpret_cast<const std::uint8_t*>(message6.data()), message6.size(), tag);
  return ok && to_hex(tag, 32) ==
                   "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54";
}

}  // namespace

int main(int argc, char** argv) {
  if (!rfc4231_holds()) {
    std::fprintf(stderr, "HMAC-SHA256 disagrees with RFC 4231\n");
    return 2;
  }
  if (argc != 12) {
    std::fprintf(stderr, "usage: %s KEY_HEX KEY_ID FLAGS SERVICE INSTANCE_HEX SEQ SENT_NS "
                         "LOAD_MILLI RSS THREADS EXTRAS_HEX|-\n", argv[0]);
    return 2;
  }
  const std::vector<std::uint8_t> key = from_hex(argv[1]);
  const std::vector<std::uint8_t> instance = from_hex(argv[5]);
  const std::vector<std::uint8_t> extras = from_hex(argv[11]);
  paramedic::HeartbeatFields fields;
  fields.key_id = static_cast<std::uint8_t>(std::stoul(argv[2]));
  fields.flags = static_cast<std::uint8_t>(std::stoul(argv[3]));
  fields.service = argv[4];
  std::copy(instance.begin(), instance.end(), fields.instance.begin());
  fields.seq = std::stoull(argv[6]);
  fields.sent_ns = std::stoll(argv[7]);
  fields.load_avg_milli = static_cast<std::uint32_t>(std::stoul(argv[8]));
  fields.rss_bytes = std::stoull(argv[9]);
  fields.threads = static_cast<std::uint32_t>(std::stoul(argv[10]));
  fields.extras = extras.data();
  fields.extras_len = extras.size();
  std::uint8_t out[paramedic::kMaxDatagram];
  const std::size_t size =
      paramedic::encode_heartbeat(fields, paramedic::HmacKey(key.data(), key.size()), out,
                                  sizeof out);
  if (size == 0) {
    std::fprintf(stderr, "fields cannot go on the wire\n");
    return 1;
  }
  std::printf("%s\n", to_hex(out, size).c_str());
  return 0;
}
