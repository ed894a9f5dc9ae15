// paramedic heartbeat sender for C++17, header only, no dependency beyond POSIX and pthreads.
//
// Sends the signed UDP heartbeat of docs/heartbeat-protocol.md (wire format v1) from a thread
// of its own. The trading loop calls beat() on its hot path: one clock read and one relaxed
// atomic store, no allocation, no lock, no system call (steady_clock reads the vDSO on
// Linux). When the loop stops calling beat() for longer than stall_after while the sender
// thread still runs, heartbeats carry the "stalled" flag and paramedic convicts a hang.
//
// HMAC-SHA256 is self-contained (FIPS 180-4 / RFC 2104) so that a trading engine links
// nothing new; the byte-for-byte test vectors of the protocol document check it.
//
//   paramedic::HeartbeatSender::Options options;
//   options.host = "127.0.0.1"; options.port = 9999;
//   options.service = "engine"; options.key = key_file_text_stripped;
//   paramedic::HeartbeatSender sender(options);   // std::invalid_argument on a bad setting
//   sender.start();                                // std::runtime_error if unresolvable
//   for (;;) { trade(); sender.beat(); }
//   sender.stop();                                 // last heartbeat says "shutting down"
#pragma once

#include <fcntl.h>
#include <netdb.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace paramedic {

inline constexpr std::uint8_t kWireVersion = 1;
inline constexpr std::size_t kHeaderSize = 58;
inline constexpr std::size_t kTagSize = 32;
inline constexpr std::size_t kInstanceSize = 16;
inline constexpr std::size_t kServiceIdMax = 64;
inline constexpr std::size_t kMaxDatagram = 1024;
inline constexpr std::uint8_t kFlagStalled = 0x01;
inline constexpr std::uint8_t kFlagShuttingDown = 0x02;
inline constexpr std::uint16_t kExtraBeatAgeMs = 0x0001;

namespace detail {

inline void put_be16(std::uint8_t* p, std::uint16_t v) noexcept {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}

inline void put_be32(std::uint8_t* p, std::uint32_t v) noexcept {
  for (int i = 3; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

inline void put_be64(std::uint8_t* p, std::uint64_t v) noexcept {
  for (int i = 7; i >= 0; --i, v >>= 8) p[i] = static_cast<std::uint8_t>(v);
}

inline std::uint32_t saturate_u32(std::uint64_t v) noexcept {
  return v > 0xFFFFFFFFull ? 0xFFFFFFFFu : static_cast<std::uint32_t>(v);
}

// SHA-256 (FIPS 180-4). Copyable, so HMAC can start from saved keyed states.
class Sha256 {
 public:
  void update(const std::uint8_t* data, std::size_t n) noexcept {
    std::size_t fill = static_cast<std::size_t>(length_ % 64);
    length_ += n;
    if (fill != 0) {
      std::size_t take = 64 - fill < n ? 64 - fill : n;
      std::memcpy(block_ + fill, data, take);
      data += take;
      n -= take;
      if (fill + take < 64) return;
      compress(block_);
    }
    for (; n >= 64; data += 64, n -= 64) compress(data);
    if (n != 0) std::memcpy(block_, data, n);
  }

  void finish(std::uint8_t out[32]) noexcept {
    const std::uint64_t bits = length_ * 8;
    std::uint8_t pad[72] = {0x80};
    std::size_t fill = static_cast<std::size_t>(length_ % 64);
    std::size_t pad_len = (fill < 56 ? 56 - fill : 120 - fill);
    put_be64(pad + pad_len, bits);
    update(pad, pad_len + 8);
    for (int i = 0; i < 8; ++i) put_be32(out + 4 * i, h_[i]);
  }

 private:
  static std::uint32_t rotr(std::uint32_t x, int n) noexcept { return (x >> n) | (x << (32 - n)); }

  void compress(const std::uint8_t* p) noexcept {
    static constexpr std::uint32_t k[64] = {
        0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
        0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
        0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
        0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
        0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
        0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
        0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
        0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
        0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
        0xc67178f2};
    std::uint32_t w[64];
    for (int i = 0; i < 16; ++i) {
      w[i] = (std::uint32_t{p[4 * i]} << 24) | (std::uint32_t{p[4 * i + 1]} << 16) |
             (std::uint32_t{p[4 * i + 2]} << 8) | std::uint32_t{p[4 * i + 3]};
    }
    for (int i = 16; i < 64; ++i) {
      std::uint32_t s0 = rotr(w[i - 15], 7) ^ rotr(w[i - 15], 18) ^ (w[i - 15] >> 3);
      std::uint32_t s1 = rotr(w[i - 2], 17) ^ rotr(w[i - 2], 19) ^ (w[i - 2] >> 10);
      w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    std::uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3];
    std::uint32_t e = h_[4], f = h_[5], g = h_[6], h = h_[7];
    for (int i = 0; i < 64; ++i) {
      std::uint32_t t1 = h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) +
                         k[i] + w[i];
      std::uint32_t t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
      h = g;
      g = f;
      f = e;
      e = d + t1;
      d = c;
      c = b;
      b = a;
      a = t1 + t2;
    }
    h_[0] += a;
    h_[1] += b;
    h_[2] += c;
    h_[3] += d;
    h_[4] += e;
    h_[5] += f;
    h_[6] += g;
    h_[7] += h;
  }

  std::uint32_t h_[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                         0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  std::uint8_t block_[64] = {};
  std::uint64_t length_ = 0;
};

}  // namespace detail

// An HMAC-SHA256 key (RFC 2104) with its padded inner and outer states hashed once, so each
// heartbeat costs the message's compressions plus two, not four.
class HmacKey {
 public:
  HmacKey(const void* key, std::size_t size) {
    if (size == 0) {
      throw std::invalid_argument(
          "heartbeat key is empty; use at least 32 random bytes shared with paramedic");
    }
    std::uint8_t k[64] = {};
    const auto* bytes = static_cast<const std::uint8_t*>(key);
    if (size > 64) {
      detail::Sha256 digest;
      digest.update(bytes, size);
      digest.finish(k);
    } else {
      std::memcpy(k, bytes, size);
    }
    std::uint8_t pad[64];
    for (int i = 0; i < 64; ++i) pad[i] = static_cast<std::uint8_t>(k[i] ^ 0x36);
    inner_.update(pad, 64);
    for (int i = 0; i < 64; ++i) pad[i] = static_cast<std::uint8_t>(k[i] ^ 0x5c);
    outer_.update(pad, 64);
  }
  explicit HmacKey(std::string_view key) : HmacKey(key.data(), key.size()) {}

  void tag(const std::uint8_t* message, std::size_t size, std::uint8_t out[32]) const noexcept {
    std::uint8_t inner_digest[32];
    detail::Sha256 inner = inner_;
    inner.update(message, size);
    inner.finish(inner_digest);
    detail::Sha256 outer = outer_;
    outer.update(inner_digest, sizeof inner_digest);
    outer.finish(out);
  }

 private:
  detail::Sha256 inner_;
  detail::Sha256 outer_;
};

// True for 1..64 characters of A-Z a-z 0-9 . _ - (protocol section 2.1).
inline bool valid_service_id(std::string_view id) noexcept {
  if (id.empty() || id.size() > kServiceIdMax) return false;
  for (char c : id) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Every field of one datagram (protocol section 2); extras are pre-encoded TLVs.
struct HeartbeatFields {
  std::uint8_t flags = 0;
  std::uint8_t key_id = 0;
  std::string_view service;
  std::array<std::uint8_t, kInstanceSize> instance{};
  std::uint64_t seq = 0;
  std::int64_t sent_ns = 0;
  std::uint32_t load_avg_milli = 0;
  std::uint64_t rss_bytes = 0;
  std::uint32_t threads = 0;
  const std::uint8_t* extras = nullptr;
  std::size_t extras_len = 0;
};

// Writes one signed datagram into out and returns its length, or 0 when the fields cannot
// go on the wire (bad service id, reserved flag bits, too long for out or for 1024 bytes).
inline std::size_t encode_heartbeat(const HeartbeatFields& f, const HmacKey& key,
                                    std::uint8_t* out, std::size_t capacity) noexcept {
  if (!valid_service_id(f.service) || (f.flags & ~(kFlagStalled | kFlagShuttingDown)) != 0) {
    return 0;
  }
  const std::size_t n = f.service.size();
  const std::size_t body = kHeaderSize + n + f.extras_len;
  if (f.extras_len > 0xFFFF || body + kTagSize > kMaxDatagram || body + kTagSize > capacity) {
    return 0;
  }
  std::memcpy(out, "PMHB", 4);
  out[4] = kWireVersion;
  out[5] = f.flags;
  out[6] = f.key_id;
  out[7] = static_cast<std::uint8_t>(n);
  std::memcpy(out + 8, f.instance.data(), kInstanceSize);
  detail::put_be64(out + 24, f.seq);
  detail::put_be64(out + 32, static_cast<std::uint64_t>(f.sent_ns));
  detail::put_be32(out + 40, f.load_avg_milli);
  detail::put_be64(out + 44, f.rss_bytes);
  detail::put_be32(out + 52, f.threads);
  detail::put_be16(out + 56, static_cast<std::uint16_t>(f.extras_len));
  std::memcpy(out + kHeaderSize, f.service.data(), n);
  if (f.extras_len != 0) std::memcpy(out + kHeaderSize + n, f.extras, f.extras_len);
  key.tag(out, body, out + body);
  return body + kTagSize;
}

// Load average x 1000, RSS bytes and OS thread count of this process (0 when unknown), read
// from /proc into a stack buffer: the sender thread does not allocate either.
inline void read_process_stats(std::uint32_t& load_milli, std::uint64_t& rss,
                               std::uint32_t& threads) noexcept {
  double load[1];
  load_milli = getloadavg(load, 1) == 1 && load[0] >= 0
                   ? detail::saturate_u32(static_cast<std::uint64_t>(std::llround(load[0] * 1000.0)))
                   : 0;
  rss = 0;
  threads = 0;
  int fd = ::open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  char text[2048];
  ssize_t got = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  if (got <= 0) return;
  text[got] = '\0';
  // Fields after the ")" that closes comm: index 0 is field 3, num_threads field 20, rss 24.
  const char* p = std::strrchr(text, ')');
  if (p == nullptr) return;
  ++p;
  for (int index = 0; index <= 21 && *p != '\0'; ++index) {
    while (*p == ' ') ++p;
    char* end = nullptr;
    if (index == 17) threads = detail::saturate_u32(std::strtoull(p, &end, 10));
    if (index == 21) rss = std::strtoull(p, &end, 10) * static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
    while (*p != '\0' && *p != ' ') ++p;
  }
}

class HeartbeatSender {
 public:
  struct Options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string service;
    std::string key;  // the key bytes, e.g. the key file's text with whitespace stripped
    std::uint8_t key_id = 0;
    std::chrono::milliseconds interval{100};
    std::chrono::milliseconds stall_after{1000};
    // Count the time before the first beat() as a stall (the loop is expected to beat).
    bool expect_beats = false;
    // Called on the sender thread once per stall, when it begins, with the age of the last
    // beat(); a place to dump the trading thread's state. Must not throw.
    std::function<void(std::chrono::milliseconds)> on_stall;
  };

  explicit HeartbeatSender(Options options)
      : options_(std::move(options)), key_(options_.key) {
    if (!valid_service_id(options_.service)) {
      throw std::invalid_argument("service id '" + options_.service +
                                  "' is invalid: use 1..64 characters from A-Z a-z 0-9 . _ -");
    }
    if (options_.interval.count() <= 0) throw std::invalid_argument("heartbeat interval must be > 0");
    if (options_.stall_after.count() <= 0) throw std::invalid_argument("stall_after must be > 0");
    fill_instance_id();
  }

  HeartbeatSender(const HeartbeatSender&) = delete;
  HeartbeatSender& operator=(const HeartbeatSender&) = delete;
  ~HeartbeatSender() { stop(); }

  // The hot path: proof that the trading loop still turns. No allocation, no lock, no
  // system call; the datagram is built and sent by the sender thread.
  void beat() noexcept { last_beat_ns_.store(steady_ns(), std::memory_order_relaxed); }

  // Resolve the target once and start the sender thread; throws std::runtime_error.
  void start() {
    std::lock_guard<std::mutex> guard(mutex_);
    if (thread_.joinable()) throw std::logic_error("heartbeat sender already running");
    open_socket();
    stopping_ = false;
    armed_ns_ = steady_ns();
    thread_ = std::thread([this] { run(); });
  }

  // Stop the thread and send one last heartbeat flagged "shutting down": the silence that
  // follows is planned. Safe to call twice, and from the destructor.
  void stop() noexcept {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      if (!thread_.joinable()) return;
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    tick(kFlagShuttingDown);
    ::close(socket_);
    socket_ = -1;
  }

  bool stalled() const noexcept { return stalled_.load(std::memory_order_relaxed); }
  std::uint64_t seq() const noexcept { return seq_.load(std::memory_order_relaxed); }
  std::uint64_t send_errors() const noexcept { return send_errors_.load(std::memory_order_relaxed); }
  const std::array<std::uint8_t, kInstanceSize>& instance() const noexcept { return instance_; }

 private:
  static constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::min();

  static std::int64_t steady_ns() noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }

  void fill_instance_id() {
    std::size_t filled = 0;
    while (filled < instance_.size()) {
      ssize_t got = ::getrandom(instance_.data() + filled, instance_.size() - filled, 0);
      if (got < 0) throw std::runtime_error("getrandom failed: no random instance id");
      filled += static_cast<std::size_t>(got);
    }
  }

  void open_socket() {
    addrinfo hints{};
    hints.ai_socktype = SOCK_DGRAM;
    addrinfo* found = nullptr;
    const std::string port = std::to_string(options_.port);
    int rc = ::getaddrinfo(options_.host.c_str(), port.c_str(), &hints, &found);
    if (rc != 0 || found == nullptr) {
      throw std::runtime_error("cannot resolve heartbeat target " + options_.host + ":" + port +
                               ": " + ::gai_strerror(rc));
    }
    std::memcpy(&address_, found->ai_addr, found->ai_addrlen);
    address_len_ = found->ai_addrlen;
    // Never block the sender on a full buffer either: a datagram that cannot leave now is
    // counted and replaced by the next one.
    socket_ = ::socket(found->ai_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::freeaddrinfo(found);
    if (socket_ < 0) throw std::runtime_error("cannot open the heartbeat socket");
  }

  void run() {
    using std::chrono::steady_clock;
    auto deadline = steady_clock::now();
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopping_) {
      lock.unlock();
      tick(0);
      lock.lock();
      // Fixed cadence without drift; after a long pause skip the missed slots, no burst.
      deadline += options_.interval;
      auto now = steady_clock::now();
      if (deadline <= now) deadline = now + options_.interval;
      wake_.wait_until(lock, deadline, [this] { return stopping_; });
    }
  }

  void tick(std::uint8_t flags) noexcept {
    const std::int64_t now = steady_ns();
    std::int64_t reference = last_beat_ns_.load(std::memory_order_relaxed);
    if (reference == kNever && options_.expect_beats) reference = armed_ns_;
    std::uint8_t extras[8];
    std::size_t extras_len = 0;
    if (reference != kNever) {
      const std::int64_t age_ns = now > reference ? now - reference : 0;
      update_stall(age_ns, reference);
      detail::put_be16(extras, kExtraBeatAgeMs);
      detail::put_be16(extras + 2, 4);
      detail::put_be32(extras + 4, detail::saturate_u32(static_cast<std::uint64_t>(age_ns / 1000000)));
      extras_len = sizeof extras;
    }
    if (stalled_.load(std::memory_order_relaxed)) flags |= kFlagStalled;
    HeartbeatFields fields;
    fields.flags = flags;
    fields.key_id = options_.key_id;
    fields.service = options_.service;
    fields.instance = instance_;
    fields.seq = seq_.load(std::memory_order_relaxed);
    fields.sent_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    read_process_stats(fields.load_avg_milli, fields.rss_bytes, fields.threads);
    fields.extras = extras;
    fields.extras_len = extras_len;
    const std::size_t size = encode_heartbeat(fields, key_, datagram_, sizeof datagram_);
    seq_.fetch_add(1, std::memory_order_relaxed);  // consumed even if the send fails
    if (size == 0 || ::sendto(socket_, datagram_, size, MSG_DONTWAIT,
                              reinterpret_cast<const sockaddr*>(&address_), address_len_) < 0) {
      send_errors_.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void update_stall(std::int64_t age_ns, std::int64_t reference) noexcept {
    const std::int64_t bound =
        std::chrono::duration_cast<std::chrono::nanoseconds>(options_.stall_after).count();
    if (age_ns > bound) {
      // A beat() between two stalled ticks means the loop moved and stuck again: a new stall.
      if (!stalled_.load(std::memory_order_relaxed) || reference != stall_reference_) {
        stalled_.store(true, std::memory_order_relaxed);
        stall_reference_ = reference;
        if (options_.on_stall) {
          try {
            options_.on_stall(std::chrono::milliseconds(age_ns / 1000000));
          } catch (...) {
            // The sender must outlive its hook: a dead sender would page someone for nothing.
          }
        }
      }
    } else {
      stalled_.store(false, std::memory_order_relaxed);
    }
  }

  Options options_;
  HmacKey key_;
  std::array<std::uint8_t, kInstanceSize> instance_{};
  std::atomic<std::int64_t> last_beat_ns_{kNever};
  std::atomic<std::uint64_t> seq_{0};
  std::atomic<std::uint64_t> send_errors_{0};
  std::atomic<bool> stalled_{false};
  std::int64_t armed_ns_ = 0;
  std::int64_t stall_reference_ = kNever;
  sockaddr_storage address_{};
  socklen_t address_len_ = 0;
  int socket_ = -1;
  std::uint8_t datagram_[kMaxDatagram] = {};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace paramedic
