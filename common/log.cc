#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

namespace gauntlet {
namespace {

std::atomic<LogLevel> g_level{LogLevel::kOff};
std::mutex g_mu;
std::string g_component;

constexpr const char* kNames[] = {"debug", "info", "warning", "error", "off"};

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()) % 1000;
  char text[40];
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  size_t length = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &utc);
  std::snprintf(text + length, sizeof text - length, ".%03dZ", static_cast<int>(millis.count()));
  return text;
}

}  // namespace

std::optional<LogLevel> ParseLogLevel(std::string_view name) {
  for (int i = 0; i < 5; ++i)
    if (name == kNames[i]) return static_cast<LogLevel>(i);
  return std::nullopt;
}

void StartLogging(std::string component, LogLevel level) {
  std::lock_guard lock(g_mu);
  g_component = std::move(component);
  g_level = level;
}

bool LogEnabled(LogLevel level) { return level != LogLevel::kOff && level >= g_level.load(); }

void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields) {
  if (!LogEnabled(level)) return;
  nlohmann::ordered_json record;
  record["ts"] = Timestamp();
  record["level"] = kNames[static_cast<int>(level)];
  std::lock_guard lock(g_mu);
  record["component"] = g_component;
  record["event"] = event;
  for (const auto& [key, value] : fields)
    std::visit([&record, key = std::string(key)](const auto& v) { record[key] = v; }, value);
  // Names and messages come from clients and files: never let bad UTF-8
  // throw or break the line.
  std::string line = record.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  (void)!write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace gauntlet
