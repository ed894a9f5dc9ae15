// A minimal "trading engine" supervised by paramedic through the C++ heartbeat sender.
//
// Like examples/engine.py it takes its heartbeat target from the environment that
// paramedic's `process.env` sets:
//   PARAMEDIC_HEARTBEAT_ADDR      host:port of paramedic's heartbeat listener
//   PARAMEDIC_HEARTBEAT_KEY_FILE  the key file (its text, whitespace stripped, is the key)
//   PARAMEDIC_SERVICE             the service id (default "engine")
// Its loop calls beat() every millisecond. With `--hang-after SECONDS` the loop stops
// calling beat() after that long but the process stays alive: the sender flags the stall
// and paramedic convicts a hang. SIGTERM or SIGINT stops it cleanly (last heartbeat says
// "shutting down").
//
// Build: g++ -std=c++17 -O2 -pthread -I clients/cpp clients/cpp/examples/engine.cpp -o engine
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>

#include "paramedic/heartbeat.hpp"

namespace {

volatile std::sig_atomic_t stop_requested = 0;

void on_signal(int) { stop_requested = 1; }

std::string strip(const std::string& text) {
  const char* space = " \t\r\n\f\v";
  const auto first = text.find_first_not_of(space);
  if (first == std::string::npos) return "";
  return text.substr(first, text.find_last_not_of(space) - first + 1);
}

const char* env_or(const char* name, const char* fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  double hang_after = -1.0;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--hang-after") == 0) hang_after = std::atof(argv[++i]);
  }
  const std::string target = env_or("PARAMEDIC_HEARTBEAT_ADDR", "");
  const auto colon = target.rfind(':');
  const char* key_file = env_or("PARAMEDIC_HEARTBEAT_KEY_FILE", "");
  if (colon == std::string::npos || *key_file == '\0') {
    std::fprintf(stderr, "engine: set PARAMEDIC_HEARTBEAT_ADDR=host:port and "
                         "PARAMEDIC_HEARTBEAT_KEY_FILE\n");
    return 2;
  }
  std::ifstream key_stream(key_file, std::ios::binary);
  if (!key_stream) {
    std::fprintf(stderr, "engine: cannot read the key file %s\n", key_file);
    return 2;
  }

  paramedic::HeartbeatSender::Options options;
  options.host = target.substr(0, colon);
  options.port = static_cast<std::uint16_t>(std::atoi(target.c_str() + colon + 1));
  options.service = env_or("PARAMEDIC_SERVICE", "engine");
  options.key = strip(std::string(std::istreambuf_iterator<char>(key_stream), {}));
  options.expect_beats = true;
  options.on_stall = [](std::chrono::milliseconds age) {
    std::fprintf(stderr, "engine: trading loop stalled, no beat() for %lld ms\n",
                 static_cast<long long>(age.count()));
  };

  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  try {
    paramedic::HeartbeatSender sender(options);
    sender.start();
    std::fprintf(stderr, "engine: heartbeating to %s as %s\n", target.c_str(),
                 options.service.c_str());
    const auto started = std::chrono::steady_clock::now();
    while (stop_requested == 0) {
      const std::chrono::duration<double> running = std::chrono::steady_clock::now() - started;
      if (hang_after < 0 || running.count() < hang_after) sender.beat();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    sender.stop();
    std::fprintf(stderr, "engine: stopped cleanly after %llu heartbeats\n",
                 static_cast<unsigned long long>(sender.seq()));
  } catch (const std::exception& error) {
    std::fprintf(stderr, "engine: %s\n", error.what());
    return 1;
  }
  return 0;
}
