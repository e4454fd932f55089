#include "coordinator/store_migrations.h"

#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "coordinator/job_store.h"
#include "gauntlet/v1/gauntlet.pb.h"
#include "proto/convert.h"

namespace gauntlet {
namespace {

// Version 1 stored an eval batch as a FileResult whose metadata held the
// outcomes as JSON under this key, in the A/B report's "prompts" format.
constexpr char kLegacyOutcomesKey[] = "ab_outcomes_json";

absl::StatusOr<v1::PromptOutcome> LegacyOutcome(const nlohmann::json& json) {
  try {
    v1::PromptOutcome out;
    out.mutable_prompt()->set_prompt(json.at("prompt").get<std::string>());
    out.mutable_prompt()->set_set(json.at("set").get<std::string>());
    out.mutable_prompt()->set_topic(json.value("topic", ""));
    for (bool b : {false, true}) {
      const nlohmann::json& side = json.at(b ? "b" : "a");
      v1::Judgement* judged = b ? out.mutable_judged_b() : out.mutable_judged_a();
      judged->set_unsafe(side.at("unsafe").get<bool>());
      judged->set_rule(side.value("rule", ""));
      (b ? out.mutable_response_b() : out.mutable_response_a())
          ->assign(side.at("response").get<std::string>());
      uint32_t sampled = side.value("sampled_unsafe", 0u);
      b ? out.set_sampled_unsafe_b(sampled) : out.set_sampled_unsafe_a(sampled);
      if (side.contains("unsafe_logp")) {
        out.set_probed(true);
        double unsafe = side.at("unsafe_logp"), safe = side.at("safe_logp");
        b ? out.set_unsafe_logp_b(unsafe) : out.set_unsafe_logp_a(unsafe);
        b ? out.set_safe_logp_b(safe) : out.set_safe_logp_a(safe);
      }
    }
    out.set_jsd(json.at("jsd").get<double>());
    out.set_samples(json.value("samples", 0u));
    return out;
  } catch (const nlohmann::json::exception& error) {
    return absl::DataLossError(StrCat("a stored eval outcome does not read: ", error.what()));
  }
}

// Version 2: typed eval batches. A row whose JSON does not read keeps its
// FileResult, and its job's report says the batch is unreadable (ERROR).
absl::Status TypedEvalBatches(Sqlite& db) {
  auto rows = db.Prepare(StrCat(
      "SELECT t.id, t.result FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE j.kind = ",
      static_cast<int64_t>(v1::EVAL), " AND t.state = ", static_cast<int64_t>(TaskState::kDone),
      " AND t.batch IS NULL AND t.result IS NOT NULL"));
  if (!rows.ok()) return rows.status();
  std::vector<std::pair<int64_t, std::string>> converted;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    v1::FileResult legacy;
    if (!legacy.ParseFromString(std::string(rows->Text(1)))) continue;
    v1::EvalBatchResult batch;
    bool read = false;
    for (const v1::KeyValue& kv : legacy.metadata()) {
      if (kv.key() == "tokens_generated")
        batch.set_tokens_generated(ParseInt<uint64_t>(kv.value()).value_or(0));
      if (kv.key() != kLegacyOutcomesKey) continue;
      auto json = nlohmann::json::parse(kv.value(), nullptr, false);
      read = json.is_array();
      for (const auto& item : read ? json : nlohmann::json::array()) {
        auto outcome = LegacyOutcome(item);
        if (!outcome.ok()) {
          read = false;
          break;
        }
        *batch.add_outcomes() = std::move(*outcome);
      }
    }
    if (read) converted.emplace_back(rows->Int(0), batch.SerializeAsString());
  }
  auto update = db.Prepare(StrCat("UPDATE tasks SET batch = ?, result = NULL, verdict = ",
                                  static_cast<int64_t>(v1::VERDICT_UNSPECIFIED), " WHERE id = ?"));
  if (!update.ok()) return update.status();
  for (const auto& [id, batch] : converted)
    if (auto status = update->BindBlob(1, batch).Bind(2, id).Run(); !status.ok()) return status;
  return absl::OkStatus();
}

// Version 3: the worst severity of each finished task's findings.
absl::Status TaskSeverities(Sqlite& db) {
  auto rows = db.Prepare("SELECT id, result FROM tasks WHERE result IS NOT NULL");
  if (!rows.ok()) return rows.status();
  std::vector<std::pair<int64_t, int64_t>> severities;
  while (true) {
    auto row = rows->Step();
    if (!row.ok()) return row.status();
    if (!*row) break;
    v1::FileResult result;
    if (!result.ParseFromString(std::string(rows->Text(1)))) continue;
    if (const v1::Severity worst = WorstSeverity(result); worst != v1::SEVERITY_UNSPECIFIED)
      severities.emplace_back(rows->Int(0), worst);
  }
  auto update = db.Prepare("UPDATE tasks SET severity = ? WHERE id = ?");
  if (!update.ok()) return update.status();
  for (const auto& [id, severity] : severities)
    if (auto status = update->Bind(1, severity).Bind(2, id).Run(); !status.ok()) return status;
  return absl::OkStatus();
}

}  // namespace

absl::Status MigrateStore(Sqlite& db) {
  auto version_row = db.Prepare("PRAGMA user_version");
  if (!version_row.ok()) return version_row.status();
  auto stepped = version_row->Step();
  if (!stepped.ok()) return stepped.status();
  int version = static_cast<int>(version_row->Int(0));
  version_row->Reset();
  if (version > kStoreSchemaVersion)
    return absl::FailedPreconditionError(
        StrCat("the store is at schema version ", version, "; this coordinator knows up to ",
               kStoreSchemaVersion, ": it was written by a newer gauntlet-coordinator"));
  struct Step {
    int to;
    absl::Status (*apply)(Sqlite&);
  };
  static constexpr Step kSteps[] = {
      {1, [](Sqlite&) { return absl::OkStatus(); }},  // The tables and columns, made above.
      {2, TypedEvalBatches},
      {3, TaskSeverities},
  };
  for (const Step& step : kSteps) {
    if (version >= step.to) continue;
    if (auto status = db.Exec("BEGIN"); !status.ok()) return status;
    absl::Status status = step.apply(db);
    if (status.ok()) status = db.Exec(StrCat("PRAGMA user_version = ", step.to));
    if (status.ok()) status = db.Exec("COMMIT");
    if (!status.ok()) {
      db.Exec("ROLLBACK").IgnoreError();
      return status;
    }
    version = step.to;
  }
  return absl::OkStatus();
}

}  // namespace gauntlet
