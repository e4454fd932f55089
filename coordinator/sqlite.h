// A thin RAII layer over SQLite: one connection, prepared statements, errors
// as absl::Status. The coordinator's durable state lives behind it.
#ifndef GAUNTLET_COORDINATOR_SQLITE_H_
#define GAUNTLET_COORDINATOR_SQLITE_H_

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace gauntlet {

// A prepared statement borrowed from its connection's cache: it is reset
// (bindings cleared) when the borrower is done, and finalized with the
// connection. One borrower per SQL text at a time.
class SqliteStatement {
 public:
  SqliteStatement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  SqliteStatement(SqliteStatement&& other) noexcept;
  SqliteStatement(const SqliteStatement&) = delete;
  ~SqliteStatement();

  // Binds are 1-based, as in SQLite. Each returns *this for chaining.
  SqliteStatement& Bind(int index, int64_t value);
  SqliteStatement& Bind(int index, double value);
  SqliteStatement& Bind(int index, std::string_view text);
  SqliteStatement& BindBlob(int index, std::string_view bytes);
  SqliteStatement& BindNull(int index);

  // True while a row is available; Done() afterwards tells an error apart.
  absl::StatusOr<bool> Step();
  // Runs a statement that returns no rows.
  absl::Status Run();
  void Reset();

  int64_t Int(int column) const;
  double Double(int column) const;
  std::string_view Text(int column) const;
  bool IsNull(int column) const;

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_;
};

class Sqlite {
 public:
  // ":memory:" for a private in-memory database. A file database runs in WAL
  // mode with synchronous=NORMAL: a crash loses at most the transactions
  // after the last WAL sync, never consistency.
  static absl::StatusOr<std::unique_ptr<Sqlite>> Open(const std::string& path);
  ~Sqlite();

  absl::Status Exec(std::string_view sql);
  // Compiled once per SQL text, then reused.
  absl::StatusOr<SqliteStatement> Prepare(std::string_view sql);
  int64_t Changes() const;
  int64_t LastInsertId() const;

 private:
  explicit Sqlite(sqlite3* db) : db_(db) {}
  sqlite3* db_;
  std::unordered_map<std::string, sqlite3_stmt*> statements_;
};

}  // namespace gauntlet

#endif  // GAUNTLET_COORDINATOR_SQLITE_H_
