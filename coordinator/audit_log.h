// The coordinator's audit trail: one JSON object per line for every submit,
// cancel, token change, cache drop and refused call (no credentials, bad
// token, outside the role), with who (tenant, role, identity), from where
// (peer) and on what (job id). Appended and flushed per event, so `tail -f`
// and log shippers see it at once; "-" writes to standard error.
#ifndef GAUNTLET_COORDINATOR_AUDIT_LOG_H_
#define GAUNTLET_COORDINATOR_AUDIT_LOG_H_

#include <cstdio>
#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"

namespace gauntlet {

struct AuditEvent {
  std::string action;          // submit_scan, submit_eval, cancel, token_create, authentication...
  std::string outcome = "ok";  // ok, unauthenticated, permission_denied, or an error code.
  std::string tenant, role, identity, peer, job_id;
  std::string detail;  // A person-readable reason, for refusals.
};

class AuditLog {
 public:
  static absl::StatusOr<std::unique_ptr<AuditLog>> Open(const std::string& path);
  ~AuditLog();
  void Record(const AuditEvent& event);

 private:
  explicit AuditLog(std::FILE* out, bool owned) : out_(out), owned_(owned) {}
  std::mutex mu_;
  std::FILE* out_;
  bool owned_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_AUDIT_LOG_H_
