#include "coordinator/authenticator.h"

#include "common/strings.h"

namespace gauntlet {
namespace {

constexpr std::string_view kBearer = "Bearer ";

}  // namespace

AuditEvent Caller::Event(std::string action) const {
  AuditEvent event;
  event.action = std::move(action);
  event.tenant = tenant;
  event.role = std::string(RoleName(role));
  event.identity = identity;
  event.peer = peer;
  return event;
}

absl::StatusOr<Caller> Authenticator::Authenticate(const grpc::ServerContext& context) {
  Caller caller;
  caller.peer = context.peer();
  const auto& metadata = context.client_metadata();
  auto header = metadata.find("authorization");
  if (header != metadata.end()) {
    std::string_view value(header->second.data(), header->second.size());
    if (!StartsWith(value, kBearer))
      return absl::UnauthenticatedError("the authorization header must be 'Bearer <token>'");
    auto token = tokens_.Verify(value.substr(kBearer.size()));
    if (!token.ok()) return token.status();
    caller.role = token->role;
    if (token->role == Role::kWorker) {
      caller.identity = StrCat("worker:", token->subject);
    } else {
      caller.tenant = token->subject;
      caller.identity = StrCat(RoleName(token->role), ":", token->subject);
    }
    return caller;
  }
  auto auth = context.auth_context();
  if (certificate_workers_ && auth && auth->IsPeerAuthenticated()) {
    auto names = auth->FindPropertyValues("x509_common_name");
    if (!names.empty() && !names.front().empty()) {
      caller.role = Role::kWorker;
      caller.identity = StrCat("cert:", std::string(names.front().data(), names.front().size()));
      return caller;
    }
  }
  return absl::UnauthenticatedError(
      "no credentials: send a bearer token (--token-file, GAUNTLET_TOKEN) or, for workers, a "
      "client certificate");
}

absl::Status Authenticator::Refuse(absl::Status status, std::string_view method,
                                   const std::string& peer, const Caller* caller) {
  AuditEvent event =
      caller ? caller->Event("authorization") : AuditEvent{.action = "authentication"};
  event.peer = peer;
  event.outcome = absl::IsPermissionDenied(status) ? "permission_denied" : "unauthenticated";
  event.detail = StrCat(method, ": ", status.message());
  audit_.Record(event);
  metrics_.CallRefused(event.outcome);
  return status;
}

absl::StatusOr<Caller> Authenticator::Authorize(const grpc::ServerContext& context,
                                                std::string_view method,
                                                std::initializer_list<Role> allowed) {
  auto caller = Authenticate(context);
  if (!caller.ok()) {
    // A token store that cannot answer is the coordinator's fault, not the caller's.
    if (absl::IsUnavailable(caller.status())) return caller.status();
    return Refuse(caller.status(), method, context.peer(), nullptr);
  }
  for (Role role : allowed)
    if (caller->role == role) return caller;
  return Refuse(absl::PermissionDeniedError(
                    StrCat(method, " is not open to ", RoleName(caller->role), " credentials")),
                method, caller->peer, &*caller);
}

}  // namespace gauntlet
