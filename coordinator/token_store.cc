#include "coordinator/token_store.h"

#include <openssl/crypto.h>

#include <chrono>

#include "absl/strings/escaping.h"
#include "common/digest.h"
#include "common/random_id.h"
#include "common/strings.h"

namespace gauntlet {
namespace {

constexpr std::string_view kPrefix = "gauntlet_";
constexpr size_t kIdBytes = 8, kSecretBytes = 32;

double WallNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TokenInfo Row(SqliteStatement& row) {
  TokenInfo info;
  info.id = std::string(row.Text(0));
  info.role = ParseRole(row.Text(1)).value_or(Role::kTenant);
  info.subject = std::string(row.Text(2));
  info.created_unix_seconds = row.Double(3);
  info.revoked_unix_seconds = row.Double(4);
  return info;
}

}  // namespace

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kAdmin:
      return "admin";
    case Role::kWorker:
      return "worker";
    case Role::kTenant:
      break;
  }
  return "tenant";
}

absl::StatusOr<Role> ParseRole(std::string_view name) {
  for (Role role : {Role::kAdmin, Role::kTenant, Role::kWorker})
    if (RoleName(role) == name) return role;
  return absl::InvalidArgumentError(StrCat("unknown role '", name, "': admin, tenant or worker"));
}

absl::Status ValidSubjectName(std::string_view name, std::string_view what) {
  if (name.empty() || name.size() > 64)
    return absl::InvalidArgumentError(StrCat(what, " names are 1 to 64 characters"));
  for (char c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
      return absl::InvalidArgumentError(StrCat(what, " '", absl::CEscape(std::string(name)),
                                               "' may only use letters, digits, '-', '_' and '.'"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<TokenStore>> TokenStore::Open(const std::string& db_path) {
  auto db = Sqlite::Open(db_path);
  if (!db.ok()) return db.status();
  if (auto status = (*db)->Exec(R"sql(
        CREATE TABLE IF NOT EXISTS tokens (
          id TEXT PRIMARY KEY, hash TEXT NOT NULL, role TEXT NOT NULL, subject TEXT NOT NULL,
          created REAL NOT NULL, revoked REAL NOT NULL DEFAULT 0);
      )sql");
      !status.ok())
    return status;
  return std::unique_ptr<TokenStore>(new TokenStore(std::move(*db)));
}

absl::StatusOr<std::pair<std::string, TokenInfo>> TokenStore::Create(Role role,
                                                                     const std::string& subject) {
  if (auto status = ValidSubjectName(subject, role == Role::kWorker ? "worker" : "tenant");
      !status.ok())
    return status;
  TokenInfo info{RandomHex(kIdBytes), role, subject, WallNow(), 0};
  std::string token = StrCat(kPrefix, info.id, "_", RandomHex(kSecretBytes));
  std::lock_guard lock(mu_);
  auto insert =
      db_->Prepare("INSERT INTO tokens (id, hash, role, subject, created) VALUES (?, ?, ?, ?, ?)");
  if (!insert.ok()) return insert.status();
  if (auto status = insert->Bind(1, info.id)
                        .Bind(2, Sha256Hex(token))
                        .Bind(3, RoleName(role))
                        .Bind(4, subject)
                        .Bind(5, info.created_unix_seconds)
                        .Run();
      !status.ok())
    return status;
  return std::pair{token, info};
}

absl::StatusOr<std::vector<TokenInfo>> TokenStore::List() {
  std::lock_guard lock(mu_);
  auto rows =
      db_->Prepare("SELECT id, role, subject, created, revoked FROM tokens ORDER BY created, id");
  if (!rows.ok()) return rows.status();
  std::vector<TokenInfo> tokens;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    tokens.push_back(Row(*rows));
  }
  return tokens;
}

absl::StatusOr<TokenInfo> TokenStore::Revoke(const std::string& id) {
  std::lock_guard lock(mu_);
  auto update = db_->Prepare("UPDATE tokens SET revoked = ? WHERE id = ? AND revoked = 0");
  if (!update.ok()) return update.status();
  if (auto status = update->Bind(1, WallNow()).Bind(2, id).Run(); !status.ok()) return status;
  auto row = db_->Prepare("SELECT id, role, subject, created, revoked FROM tokens WHERE id = ?");
  if (!row.ok()) return row.status();
  row->Bind(1, id);
  auto found = row->Step();
  if (!found.ok()) return found.status();
  if (!*found) return absl::NotFoundError(StrCat("no token with id '", absl::CEscape(id), "'"));
  TokenInfo info = Row(*row);
  row->Reset();
  return info;
}

absl::StatusOr<TokenInfo> TokenStore::Verify(std::string_view token) {
  const auto invalid = absl::UnauthenticatedError(
      "the token is not valid (unknown, revoked or mistyped): ask an admin for one "
      "(gauntlet-coordinator tokens create)");
  if (!StartsWith(token, kPrefix)) return invalid;
  std::string_view rest = token.substr(kPrefix.size());
  size_t separator = rest.find('_');
  if (separator == std::string_view::npos) return invalid;
  std::string id(rest.substr(0, separator));
  std::lock_guard lock(mu_);
  auto row =
      db_->Prepare("SELECT id, role, subject, created, revoked, hash FROM tokens WHERE id = ?");
  if (!row.ok()) return row.status();
  row->Bind(1, id);
  auto found = row->Step();
  if (!found.ok()) return absl::UnavailableError(StrCat("token store: ", found.status().message()));
  if (!*found) return invalid;
  TokenInfo info = Row(*row);
  std::string stored(row->Text(5));
  row->Reset();
  std::string presented = Sha256Hex(token);
  bool matches = stored.size() == presented.size() &&
                 CRYPTO_memcmp(stored.data(), presented.data(), stored.size()) == 0;
  if (!matches || info.revoked_unix_seconds > 0) return invalid;
  return info;
}

absl::StatusOr<bool> TokenStore::Empty() {
  std::lock_guard lock(mu_);
  auto row = db_->Prepare("SELECT COUNT(*) FROM tokens WHERE revoked = 0");
  if (!row.ok()) return row.status();
  auto found = row->Step();
  if (!found.ok()) return found.status();
  bool empty = row->Int(0) == 0;
  row->Reset();
  return empty;
}

}  // namespace gauntlet
