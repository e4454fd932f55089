// Who is calling the coordinator, and whether that role may make the call.
//
// A call authenticates with a bearer token (`authorization: Bearer <token>`,
// checked against the TokenStore on every call, so a revocation takes effect
// at once) or, for workers, with a client certificate that the TLS handshake
// verified against --tls-client-ca (identity "cert:<common name>"). Anything
// else is UNAUTHENTICATED; a valid caller outside its role is
// PERMISSION_DENIED. Every refusal goes to the audit log.
#ifndef GAUNTLET_COORDINATOR_AUTHENTICATOR_H_
#define GAUNTLET_COORDINATOR_AUTHENTICATOR_H_

#include <grpcpp/grpcpp.h>

#include <initializer_list>
#include <string>

#include "absl/status/statusor.h"
#include "coordinator/audit_log.h"
#include "coordinator/coordinator.h"
#include "coordinator/coordinator_metrics.h"
#include "coordinator/token_store.h"

namespace gauntlet {

struct Caller {
  Role role = Role::kTenant;
  std::string tenant;    // Admin and tenant callers.
  std::string identity;  // "tenant:T", "admin:T", "worker:NAME" or "cert:CN".
  std::string peer;

  ClientScope scope() const { return ClientScope{tenant, role == Role::kAdmin}; }
  // An audit event about this caller.
  AuditEvent Event(std::string action) const;
};

class Authenticator {
 public:
  // `certificate_workers`: client certificates verified by the TLS layer
  // authenticate as workers.
  Authenticator(TokenStore& tokens, AuditLog& audit, CoordinatorMetrics& metrics,
                bool certificate_workers)
      : tokens_(tokens),
        audit_(audit),
        metrics_(metrics),
        certificate_workers_(certificate_workers) {}

  absl::StatusOr<Caller> Authorize(const grpc::ServerContext& context, std::string_view method,
                                   std::initializer_list<Role> allowed);
  AuditLog& audit() { return audit_; }

 private:
  absl::StatusOr<Caller> Authenticate(const grpc::ServerContext& context);
  absl::Status Refuse(absl::Status status, std::string_view method, const std::string& peer,
                      const Caller* caller);

  TokenStore& tokens_;
  AuditLog& audit_;
  CoordinatorMetrics& metrics_;
  bool certificate_workers_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_AUTHENTICATOR_H_
