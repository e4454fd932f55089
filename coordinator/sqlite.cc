#include "coordinator/sqlite.h"

#include "common/strings.h"

namespace gauntlet {

SqliteStatement::SqliteStatement(SqliteStatement&& other) noexcept
    : db_(other.db_), stmt_(other.stmt_) {
  other.stmt_ = nullptr;
}

SqliteStatement::~SqliteStatement() {
  if (stmt_) Reset();
}

SqliteStatement& SqliteStatement::Bind(int index, int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}
SqliteStatement& SqliteStatement::Bind(int index, double value) {
  sqlite3_bind_double(stmt_, index, value);
  return *this;
}
SqliteStatement& SqliteStatement::Bind(int index, std::string_view text) {
  // An empty view may have no data pointer, which SQLite would store as NULL.
  sqlite3_bind_text(stmt_, index, text.data() ? text.data() : "", static_cast<int>(text.size()),
                    SQLITE_TRANSIENT);
  return *this;
}
SqliteStatement& SqliteStatement::BindBlob(int index, std::string_view bytes) {
  sqlite3_bind_blob(stmt_, index, bytes.data() ? bytes.data() : "", static_cast<int>(bytes.size()),
                    SQLITE_TRANSIENT);
  return *this;
}
SqliteStatement& SqliteStatement::BindNull(int index) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

absl::StatusOr<bool> SqliteStatement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return absl::InternalError(StrCat("sqlite: ", sqlite3_errmsg(db_)));
}

absl::Status SqliteStatement::Run() {
  auto row = Step();
  Reset();
  return row.ok() ? absl::OkStatus() : row.status();
}

void SqliteStatement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

int64_t SqliteStatement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }
double SqliteStatement::Double(int column) const { return sqlite3_column_double(stmt_, column); }
std::string_view SqliteStatement::Text(int column) const {
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  return data ? std::string_view(static_cast<const char*>(data), static_cast<size_t>(size))
              : std::string_view();
}
bool SqliteStatement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

absl::StatusOr<std::unique_ptr<Sqlite>> Sqlite::Open(const std::string& path) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(
      path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return absl::FailedPreconditionError(StrCat("cannot open database ", path, ": ", message));
  }
  std::unique_ptr<Sqlite> sqlite(new Sqlite(db));
  if (path != ":memory:") {
    if (auto status = sqlite->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
        !status.ok())
      return status;
  }
  if (auto status = sqlite->Exec("PRAGMA busy_timeout=5000;"); !status.ok()) return status;
  return sqlite;
}

Sqlite::~Sqlite() {
  for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
  sqlite3_close(db_);
}

absl::Status Sqlite::Exec(std::string_view sql) {
  char* error = nullptr;
  std::string text(sql);
  if (sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    return absl::InternalError(StrCat("sqlite: ", message));
  }
  return absl::OkStatus();
}

absl::StatusOr<SqliteStatement> Sqlite::Prepare(std::string_view sql) {
  auto cached = statements_.find(std::string(sql));
  if (cached != statements_.end()) return SqliteStatement(db_, cached->second);
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &stmt, nullptr) !=
      SQLITE_OK)
    return absl::InternalError(StrCat("sqlite: ", sqlite3_errmsg(db_)));
  statements_.emplace(std::string(sql), stmt);
  return SqliteStatement(db_, stmt);
}

int64_t Sqlite::Changes() const { return sqlite3_changes(db_); }
int64_t Sqlite::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }

}  // namespace gauntlet
