// The coordinator's bearer tokens: who may call it, as which tenant and in
// which role. Tokens live in the job store's SQLite file, hashed (SHA-256 of
// the whole token; the token carries 256 random bits, so a slow hash would
// add nothing) and never in clear: the secret is shown once, at creation.
//
// A token reads "gauntlet_<id>_<secret>": the id (64 bits, hex) finds the
// row and names the token in listings and the audit log; the secret (256
// bits, hex) proves it. Revoked tokens stay listed, with the time.
#ifndef GAUNTLET_COORDINATOR_TOKEN_STORE_H_
#define GAUNTLET_COORDINATOR_TOKEN_STORE_H_

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/sqlite.h"

namespace gauntlet {

enum class Role { kAdmin, kTenant, kWorker };

std::string_view RoleName(Role role);
absl::StatusOr<Role> ParseRole(std::string_view name);

struct TokenInfo {
  std::string id;
  Role role = Role::kTenant;
  // The tenant for admin and tenant tokens; the worker's name for worker
  // tokens (its identity is "worker:<name>").
  std::string subject;
  double created_unix_seconds = 0;
  double revoked_unix_seconds = 0;  // 0 while valid.
};

// Tenant and worker names: 1-64 letters, digits, '-', '_', '.'.
absl::Status ValidSubjectName(std::string_view name, std::string_view what);

class TokenStore {
 public:
  // Opens (and creates, if missing) the token table in the SQLite file at
  // `db_path`. Its own connection: lookups never wait on the job store's lock.
  static absl::StatusOr<std::unique_ptr<TokenStore>> Open(const std::string& db_path);

  // The new token in clear (shown once) and its record.
  absl::StatusOr<std::pair<std::string, TokenInfo>> Create(Role role, const std::string& subject);
  absl::StatusOr<std::vector<TokenInfo>> List();
  // NOT_FOUND for an unknown id; revoking twice is not an error.
  absl::StatusOr<TokenInfo> Revoke(const std::string& id);
  // The token's record if it is valid (known, the secret matches, not
  // revoked); UNAUTHENTICATED otherwise, with a message that does not say
  // which of those failed.
  absl::StatusOr<TokenInfo> Verify(std::string_view token);
  // Whether any token exists (a coordinator with none can serve nobody).
  absl::StatusOr<bool> Empty();

 private:
  explicit TokenStore(std::unique_ptr<Sqlite> db) : db_(std::move(db)) {}
  std::mutex mu_;
  std::unique_ptr<Sqlite> db_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_TOKEN_STORE_H_
