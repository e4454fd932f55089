// Structured logs for the servers: one JSON object a line on standard error
// ({"ts": "...", "level": "info", "component": "coordinator", "event":
// "job_finished", ...fields}), so that an operator's log pipeline (Loki,
// Elasticsearch, `kubectl logs | jq`) can filter by event, tenant or job.
// Off until a server's main calls StartLogging: the CLI's embedded cluster
// runs the same code and must not print JSON on a user's terminal.
#ifndef GAUNTLET_COMMON_LOG_H_
#define GAUNTLET_COMMON_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace gauntlet {

enum class LogLevel { kDebug, kInfo, kWarning, kError, kOff };

// "debug", "info", "warning", "error" or "off"; nullopt for anything else.
std::optional<LogLevel> ParseLogLevel(std::string_view name);

// Logs records at `level` and above, naming `component` in each.
void StartLogging(std::string component, LogLevel level);

bool LogEnabled(LogLevel level);

using LogValue = std::variant<std::string, int64_t, uint64_t, double, bool>;
using LogField = std::pair<std::string_view, LogValue>;

// Writes one record (a whole line, atomically with respect to other
// records) when `level` is enabled.
void Log(LogLevel level, std::string_view event, std::initializer_list<LogField> fields = {});

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_LOG_H_
