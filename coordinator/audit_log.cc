#include "coordinator/audit_log.h"

#include <cerrno>
#include <chrono>
#include <cstring>
#include <nlohmann/json.hpp>

#include "common/strings.h"

namespace gauntlet {

absl::StatusOr<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  if (path == "-") return std::unique_ptr<AuditLog>(new AuditLog(stderr, false));
  std::FILE* out = std::fopen(path.c_str(), "ae");
  if (!out)
    return absl::InvalidArgumentError(
        StrCat("cannot open the audit log ", path, ": ", std::strerror(errno)));
  return std::unique_ptr<AuditLog>(new AuditLog(out, true));
}

AuditLog::~AuditLog() {
  if (owned_) std::fclose(out_);
}

void AuditLog::Record(const AuditEvent& event) {
  nlohmann::json line = {
      {"time",
       std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()},
      {"action", event.action},
      {"outcome", event.outcome}};
  for (auto [key, value] : {std::pair{"tenant", &event.tenant}, std::pair{"role", &event.role},
                            std::pair{"identity", &event.identity}, std::pair{"peer", &event.peer},
                            std::pair{"job_id", &event.job_id}, std::pair{"detail", &event.detail}})
    if (!value->empty()) line[key] = *value;
  // Names come from clients: bytes that are not UTF-8 are replaced, never fatal.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard lock(mu_);
  std::fprintf(out_, "%s\n", text.c_str());
  std::fflush(out_);
}

}  // namespace gauntlet
