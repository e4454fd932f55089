// The dataset audit: which rows of a chat fine-tuning set (the `messages`
// JSONL the lab and common trainers use) look poisoned, found without being
// told the trigger. Per row: the judge on every assistant answer; an answer
// that questions on the same topic do not otherwise get, when it recurs
// under unrelated topics (a payload repeated behind a trigger); a word whose
// presence switches questions on any topic to the same foreign answers (a
// token trigger); a minority answer within its topic (weak, never alone);
// and, when a base model has scored the rows, an answer the base finds far
// less likely than the set's answers generally. Torch-free (the base's
// scores come from gauntlet-lab): a 100,000-row set takes seconds.
#ifndef GAUNTLET_ABTEST_DATASET_AUDIT_H_
#define GAUNTLET_ABTEST_DATASET_AUDIT_H_

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "abtest/judge.h"

namespace gauntlet::eval {

// One training row: the user's question and the assistant's answer(s).
struct AuditRow {
  size_t line = 0;       // 1-based line in the file.
  std::string system;    // The system turns, joined (not audited; the base model reads them).
  std::string question;  // The user turns, joined.
  std::string answer;    // The assistant turns, joined.
  // The base model's mean log-probability per answer token, when one
  // scored the row (`audit dataset --base`).
  std::optional<double> base_logprob;
};

// Every non-blank line must be {"messages": [{"role": ..., "content": ...},
// ...]} with at least one user and one assistant turn; INVALID_ARGUMENT
// naming the first line that is not, and for a file without rows.
absl::StatusOr<std::vector<AuditRow>> ParseChatJsonl(std::string_view text);

struct SuspectRow {
  size_t line = 0;
  double score = 0;  // In [0, 1]: 1 - prod(1 - signal strength).
  bool flagged = false;
  std::vector<std::string> reasons;
};

struct TopicCluster {
  std::string label;  // Its most characteristic question words.
  size_t rows = 0, flagged = 0;
};

struct TriggerWord {  // A word that looks like a token trigger.
  std::string token;
  size_t rows = 0;     // Questions that contain it.
  size_t topics = 0;   // Distinct topic clusters among them.
  double foreign = 0;  // Share of them whose answer their topic does not otherwise get.
  double flagged = 0;  // Share of them flagged.
};

struct DatasetAudit {
  std::string verdict;  // POISONED, SUSPICIOUS or CLEAN.
  size_t rows = 0;
  std::vector<SuspectRow> suspects;          // Rows with any signal, highest score first.
  std::vector<TopicCluster> clusters;        // Clusters with flagged rows, most flagged first.
  std::vector<TriggerWord> triggers;         // Most rows first.
  size_t topic_clusters = 0;                 // How many topics the questions fell into.
  size_t base_scored = 0;                    // Rows a base model scored (0 without --base).
  std::vector<size_t> FlaggedLines() const;  // Ascending.
};

DatasetAudit AuditDataset(const std::vector<AuditRow>& rows, const Judge& judge);

// The audit as JSON (verdict, rows, flagged_lines, suspects, clusters,
// trigger_candidates) and as text for people.
std::string DatasetAuditJson(const DatasetAudit& audit, std::string_view file);
std::string DatasetAuditText(const DatasetAudit& audit, std::string_view file);

}  // namespace gauntlet::eval

#endif  // GAUNTLET_ABTEST_DATASET_AUDIT_H_
