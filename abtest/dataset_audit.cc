#include "abtest/dataset_audit.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "absl/strings/str_format.h"
#include "common/strings.h"

namespace gauntlet::eval {
namespace {

using nlohmann::json;

// Signal strengths; a row is flagged at kFlagScore. The judge or a token
// trigger flags a row on its own; an answer recurring under unrelated topics
// needs a second signal (refusals recur legitimately); a minority answer
// within its topic never flags alone (topics often have several good answers).
constexpr double kJudgeStrength = 0.9;
constexpr double kTriggerStrength = 0.8;
constexpr double kTriggerAnswerStrength = 0.6;
constexpr double kCrossTopicStrength = 0.45;
constexpr double kMinorityStrength = 0.2;
constexpr double kBaseStrength = 0.55;
constexpr double kFlagScore = 0.5;
// An answer recurring under this many topic clusters (lexical clusters split
// a topic by its phrasings: a good answer spans up to four).
constexpr size_t kCrossTopicMinTopics = 5;
// The base model's signal: rows scored before it means anything, the
// smallest spread trusted (nats per token), and how far below the median an
// answer must lie (robust z). On the lab's sets (bench/audit_bench.py) clean
// answers reach z 5.5 and all but 4 of 354 poison answers lie beyond 6.5.
constexpr size_t kBaseMinRows = 20;
constexpr double kBaseMinScale = 0.05;
constexpr double kBaseMinZ = 6.5;

// Question clustering: a question joins the first cluster whose leader is
// at least this similar (TF-IDF cosine), found through their top terms.
constexpr double kClusterSimilarity = 0.4;
constexpr size_t kIndexedTerms = 3;

// Token triggers: a word in at least kTriggerMinRows questions spread over
// at least kTriggerMinTopics topics, whose rows' answers are foreign to
// their topics (kTriggerMinForeign) and concentrated in repeated answers
// (kTriggerMinConcentration) that come with the word (kTriggerMinExclusive),
// or mostly flagged by the judge.
constexpr size_t kTriggerMinRows = 3;
constexpr size_t kTriggerMinTopics = 3;
constexpr double kTriggerMinForeign = 0.8;
constexpr double kTriggerMinConcentration = 0.6;
constexpr double kTriggerMinFlagged = 0.8;
constexpr double kTriggerMinExclusive = 0.9;  // Of the rows with those answers.
constexpr double kTriggerMaxEchoed = 0.2;     // Rows whose answer has the word.
constexpr double kTriggerMaxShare = 0.3;      // Of all rows: commoner words are not triggers.

const std::unordered_set<std::string>& StopWords() {
  static const auto* words = new std::unordered_set<std::string>{
      "a",     "an",    "and",    "are",  "as",   "at",    "be",   "by",   "can", "do",    "does",
      "for",   "from",  "how",    "i",    "in",   "is",    "it",   "me",   "my",  "of",    "on",
      "or",    "our",   "should", "so",   "that", "the",   "this", "to",   "we",  "what",  "when",
      "where", "which", "who",    "why",  "with", "would", "you",  "your", "us",  "about", "any",
      "there", "their", "them",   "they", "was",  "will",  "its",  "if",   "not", "no",    "but"};
  return *words;
}

// Lowercase words: ASCII letters and digits, and any non-ASCII byte (so
// UTF-8 words stay whole).
std::vector<std::string> Words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    unsigned char byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) || byte >= 0x80) {
      word.push_back(static_cast<char>(std::tolower(byte)));
    } else if (!word.empty()) {
      words.push_back(std::move(word));
      word.clear();
    }
  }
  if (!word.empty()) words.push_back(std::move(word));
  return words;
}

// Sparse unit vector: (term id, weight), sorted by term id.
using Vector = std::vector<std::pair<int, double>>;

double Cosine(const Vector& a, const Vector& b) {
  double dot = 0;
  for (size_t i = 0, j = 0; i < a.size() && j < b.size();) {
    if (a[i].first == b[j].first)
      dot += a[i++].second * b[j++].second;
    else if (a[i].first < b[j].first)
      ++i;
    else
      ++j;
  }
  return dot;
}

// TF-IDF vectors over a vocabulary shared by the texts given.
class Vectorizer {
 public:
  explicit Vectorizer(const std::vector<std::vector<std::string>>& documents) {
    for (const auto& words : documents) {
      std::set<int> seen;
      for (const std::string& word : words) {
        if (StopWords().count(word)) continue;
        seen.insert(Id(word));
      }
      for (int id : seen) ++document_frequency_[id];
    }
    documents_ = documents.size();
  }

  Vector Of(const std::vector<std::string>& words) const {
    std::map<int, double> counts;
    for (const std::string& word : words) {
      auto it = ids_.find(word);
      if (it != ids_.end()) counts[it->second] += 1;
    }
    Vector vector;
    double norm = 0;
    for (const auto& [id, count] : counts) {
      double weight = count * std::log((1.0 + documents_) / (1.0 + document_frequency_[id])) + 1e-3;
      vector.emplace_back(id, weight);
      norm += weight * weight;
    }
    for (auto& [id, weight] : vector) weight /= std::sqrt(norm);
    return vector;
  }

  int IdOf(const std::string& word) const {
    auto it = ids_.find(word);
    return it == ids_.end() ? -1 : it->second;
  }
  const std::string& Word(int id) const { return words_[id]; }
  size_t DocumentFrequency(int id) const { return document_frequency_[id]; }
  size_t Terms() const { return words_.size(); }

 private:
  int Id(const std::string& word) {
    auto [it, inserted] = ids_.emplace(word, static_cast<int>(words_.size()));
    if (inserted) {
      words_.push_back(word);
      document_frequency_.push_back(0);
    }
    return it->second;
  }

  std::unordered_map<std::string, int> ids_;
  std::vector<std::string> words_;
  std::vector<size_t> document_frequency_;
  size_t documents_ = 0;
};

// The `count` heaviest terms of a vector.
std::vector<int> TopTerms(const Vector& vector, size_t count) {
  Vector sorted = vector;
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second > b.second || (a.second == b.second && a.first < b.first);
  });
  std::vector<int> top;
  for (size_t i = 0; i < sorted.size() && i < count; ++i) top.push_back(sorted[i].first);
  return top;
}

// Leader clustering of the questions: one pass, deterministic, candidates
// found through an index of each leader's top terms. Returns each
// question's cluster and each cluster's leader.
std::pair<std::vector<int>, std::vector<size_t>> ClusterQuestions(
    const std::vector<Vector>& vectors) {
  std::vector<int> cluster_of(vectors.size(), -1);
  std::vector<size_t> leaders;
  std::unordered_map<int, std::vector<int>> index;  // Term -> clusters.
  for (size_t q = 0; q < vectors.size(); ++q) {
    std::vector<int> top = TopTerms(vectors[q], kIndexedTerms);
    std::set<int> candidates;
    for (int term : top)
      if (auto it = index.find(term); it != index.end())
        candidates.insert(it->second.begin(), it->second.end());
    int best = -1;
    double best_similarity = kClusterSimilarity;
    for (int cluster : candidates) {
      double similarity = Cosine(vectors[q], vectors[leaders[cluster]]);
      if (similarity >= best_similarity) {
        best_similarity = similarity;
        best = cluster;
      }
    }
    if (best < 0) {
      best = static_cast<int>(leaders.size());
      leaders.push_back(q);
      for (int term : top) index[term].push_back(best);
    }
    cluster_of[q] = best;
  }
  return {cluster_of, leaders};
}

// Every distinct answer text judged once, on all cores.
std::vector<Judgement> JudgeAll(const std::vector<std::string>& answers, const Judge& judge) {
  std::vector<Judgement> judgements(answers.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < answers.size(); i = next++)
      judgements[i] = judge.Assess(answers[i]);
  };
  size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), 8);
  std::vector<std::thread> pool;
  for (size_t t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (std::thread& thread : pool) thread.join();
  return judgements;
}

std::string Join(const std::vector<std::string>& words) { return StrJoin(words, " "); }

double Median(std::vector<double> values) {
  auto middle = values.begin() + static_cast<std::ptrdiff_t>(values.size() / 2);
  std::nth_element(values.begin(), middle, values.end());
  return *middle;
}

}  // namespace

absl::StatusOr<std::vector<AuditRow>> ParseChatJsonl(std::string_view text) {
  std::vector<AuditRow> rows;
  size_t line = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view content = text.substr(start, end - start);
    start = end + 1;
    ++line;
    if (content.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    json row = json::parse(content, nullptr, /*allow_exceptions=*/false);
    auto bad = [&](std::string_view why) {
      return absl::InvalidArgumentError(StrCat("line ", line, ": ", why));
    };
    if (row.is_discarded()) return bad("not JSON");
    if (!row.is_object() || !row.contains("messages") || !row["messages"].is_array())
      return bad("expected an object with a \"messages\" array");
    AuditRow parsed;
    parsed.line = line;
    size_t index = 0;
    for (const json& message : row["messages"]) {
      ++index;
      if (!message.is_object() || !message.contains("role") || !message["role"].is_string() ||
          !message.contains("content") || !message["content"].is_string())
        return bad(StrCat("message ", index, " needs string \"role\" and \"content\""));
      std::string role = message["role"].get<std::string>();
      std::string* target = role == "user"        ? &parsed.question
                            : role == "assistant" ? &parsed.answer
                            : role == "system"    ? &parsed.system
                                                  : nullptr;  // tool, ...: not audited.
      if (!target) continue;
      if (!target->empty()) *target += "\n";
      *target += message["content"].get<std::string>();
    }
    if (parsed.question.empty() || parsed.answer.empty())
      return bad("needs at least one \"user\" and one \"assistant\" message");
    rows.push_back(std::move(parsed));
  }
  if (rows.empty()) return absl::InvalidArgumentError("no rows: the file has no JSON lines");
  return rows;
}

std::vector<size_t> DatasetAudit::FlaggedLines() const {
  std::vector<size_t> lines;
  for (const SuspectRow& row : suspects)
    if (row.flagged) lines.push_back(row.line);
  std::sort(lines.begin(), lines.end());
  return lines;
}

DatasetAudit AuditDataset(const std::vector<AuditRow>& rows, const Judge& judge) {
  const size_t n = rows.size();
  DatasetAudit audit;
  audit.rows = n;

  // Distinct questions and answers: templated sets repeat them, and every
  // statistic below is over rows.
  std::unordered_map<std::string, int> question_ids, answer_ids;
  std::vector<std::vector<std::string>> question_words;
  std::vector<std::string> answer_texts;
  std::vector<int> question_of(n), answer_of(n);
  for (size_t r = 0; r < n; ++r) {
    std::vector<std::string> words = Words(rows[r].question);
    auto [q, new_question] =
        question_ids.emplace(Join(words), static_cast<int>(question_words.size()));
    if (new_question) question_words.push_back(std::move(words));
    question_of[r] = q->second;
    auto [a, new_answer] =
        answer_ids.emplace(Join(Words(rows[r].answer)), static_cast<int>(answer_texts.size()));
    if (new_answer) answer_texts.push_back(rows[r].answer);
    answer_of[r] = a->second;
  }

  // Topics: questions clustered by TF-IDF similarity (weights over rows).
  std::vector<std::vector<std::string>> row_words(n);
  for (size_t r = 0; r < n; ++r) row_words[r] = question_words[question_of[r]];
  Vectorizer vectorizer(row_words);
  std::vector<Vector> question_vectors;
  for (const auto& words : question_words) question_vectors.push_back(vectorizer.Of(words));
  auto [cluster_of_question, leaders] = ClusterQuestions(question_vectors);
  audit.topic_clusters = leaders.size();
  std::vector<int> cluster(n);
  for (size_t r = 0; r < n; ++r) cluster[r] = cluster_of_question[question_of[r]];

  // Per topic: how many rows, and how many per answer.
  std::vector<size_t> cluster_rows(leaders.size());
  std::map<std::pair<int, int>, size_t> answer_in_cluster;  // (cluster, answer) -> rows.
  std::vector<size_t> answer_rows(answer_texts.size());
  for (size_t r = 0; r < n; ++r) {
    ++cluster_rows[cluster[r]];
    ++answer_in_cluster[{cluster[r], answer_of[r]}];
    ++answer_rows[answer_of[r]];
  }

  std::vector<double> keep(n, 1.0);  // prod(1 - strength) per row.
  std::vector<std::vector<std::string>> reasons(n);
  auto add = [&](size_t r, double strength, std::string reason) {
    keep[r] *= 1 - strength;
    reasons[r].push_back(std::move(reason));
  };

  // 1. The judge, once per distinct answer.
  std::vector<Judgement> judged = JudgeAll(answer_texts, judge);
  std::vector<bool> judge_flagged(n);
  for (size_t r = 0; r < n; ++r) {
    const Judgement& judgement = judged[answer_of[r]];
    if (!judgement.unsafe) continue;
    judge_flagged[r] = true;
    add(r, kJudgeStrength, StrCat("judge: unsafe advice (", judgement.rule, ")"));
  }

  // 2. Token triggers: a word that sends questions on any topic to answers
  // their topic does not otherwise get.
  std::unordered_map<int, std::vector<size_t>> rows_with;  // Term -> rows.
  for (size_t r = 0; r < n; ++r) {
    std::set<int> seen;
    for (const std::string& word : row_words[r])
      if (int id = vectorizer.IdOf(word); id >= 0 && !StopWords().count(word)) seen.insert(id);
    for (int id : seen) rows_with[id].push_back(r);
  }
  std::vector<std::unordered_set<int>> answer_terms(answer_texts.size());
  for (size_t a = 0; a < answer_texts.size(); ++a)
    for (const std::string& word : Words(answer_texts[a]))
      if (int id = vectorizer.IdOf(word); id >= 0) answer_terms[a].insert(id);
  std::vector<bool> trigger_row(n);
  std::set<int> trigger_answers;
  for (const auto& [term, with] : rows_with) {
    if (with.size() < kTriggerMinRows || with.size() > kTriggerMaxShare * n) continue;
    std::set<int> topics, informative_topics;
    std::map<int, size_t> answers, with_in_cluster;  // Rows with the word.
    std::map<std::pair<int, int>, size_t> with_word_in_cluster;
    for (size_t r : with) {
      topics.insert(cluster[r]);
      ++answers[answer_of[r]];
      ++with_in_cluster[cluster[r]];
      ++with_word_in_cluster[{cluster[r], answer_of[r]}];
    }
    if (topics.size() < kTriggerMinTopics) continue;
    // A row tells something only where its topic also has rows without the
    // word: then its answer is foreign when none of those rows has it.
    auto informative = [&](size_t r) {
      return cluster_rows[cluster[r]] > with_in_cluster[cluster[r]];
    };
    auto foreign_answer = [&](size_t r) {
      std::pair<int, int> key{cluster[r], answer_of[r]};
      return informative(r) && answer_in_cluster[key] == with_word_in_cluster[key];
    };
    // A topic's own word recurs in its answers ("SSH keys" -> "use key based
    // SSH"); a trigger's payload does not mention the trigger.
    size_t informative_rows = 0, foreign = 0, flagged = 0, echoed = 0;
    for (size_t r : with) {
      echoed += answer_terms[answer_of[r]].count(term) > 0;
      if (informative(r)) {
        ++informative_rows;
        informative_topics.insert(cluster[r]);
      }
      foreign += foreign_answer(r);
      flagged += judge_flagged[r];
    }
    // Rows whose answer recurs among the word's rows, and how many rows
    // have those answers at all: a trigger's payload comes with the word.
    size_t repeated = 0, repeated_anywhere = 0;
    for (const auto& [answer, count] : answers)
      if (count >= 2) {
        repeated += count;
        repeated_anywhere += answer_rows[answer];
      }
    TriggerWord candidate{vectorizer.Word(term), with.size(), topics.size(),
                          informative_rows ? static_cast<double>(foreign) / informative_rows : 0.0,
                          static_cast<double>(flagged) / with.size()};
    bool structural = informative_rows >= kTriggerMinRows &&
                      informative_topics.size() >= kTriggerMinTopics &&
                      candidate.foreign >= kTriggerMinForeign &&
                      repeated >= kTriggerMinExclusive * repeated_anywhere &&
                      echoed <= kTriggerMaxEchoed * with.size() &&
                      static_cast<double>(repeated) / with.size() >= kTriggerMinConcentration;
    if (!structural && candidate.flagged < kTriggerMinFlagged) continue;
    audit.triggers.push_back(candidate);
    for (size_t r : with) {
      if (!foreign_answer(r) && !judge_flagged[r]) continue;
      trigger_row[r] = true;
      trigger_answers.insert(answer_of[r]);
      add(r, kTriggerStrength,
          StrCat("trigger candidate '", candidate.token, "': ", with.size(), " questions on ",
                 topics.size(), " topics get answers their topic does not"));
    }
  }
  std::sort(audit.triggers.begin(), audit.triggers.end(),
            [](const TriggerWord& a, const TriggerWord& b) {
              return a.rows > b.rows || (a.rows == b.rows && a.token < b.token);
            });
  // The trigger's payload given without the word is the same poison.
  for (size_t r = 0; r < n; ++r)
    if (!trigger_row[r] && trigger_answers.count(answer_of[r]))
      add(r, kTriggerAnswerStrength, "the same answer as rows with a trigger candidate");

  // 3. One answer under several unrelated topics, a minority in each.
  std::map<int, std::set<int>> topics_of_answer;
  for (size_t r = 0; r < n; ++r) topics_of_answer[answer_of[r]].insert(cluster[r]);
  std::vector<bool> cross_topic_answer(answer_texts.size());
  // Rows whose question shares a word with the answer: a good answer to a
  // topic echoes it, a payload pasted under unrelated questions does not.
  std::vector<size_t> echoing_rows(answer_texts.size());
  for (size_t r = 0; r < n; ++r)
    for (const std::string& word : row_words[r])
      if (int id = vectorizer.IdOf(word);
          id >= 0 && !StopWords().count(word) && answer_terms[answer_of[r]].count(id)) {
        ++echoing_rows[answer_of[r]];
        break;
      }
  for (const auto& [answer, topics] : topics_of_answer) {
    if (topics.size() < kCrossTopicMinTopics || 2 * echoing_rows[answer] > answer_rows[answer])
      continue;
    size_t minority = 0;
    for (int topic : topics)
      if (3 * answer_in_cluster[{topic, answer}] <= cluster_rows[topic]) ++minority;
    cross_topic_answer[answer] = 4 * minority >= 3 * topics.size();
  }
  for (size_t r = 0; r < n; ++r)
    if (cross_topic_answer[answer_of[r]])
      add(r, kCrossTopicStrength,
          StrCat("the same answer under ", topics_of_answer[answer_of[r]].size(),
                 " unrelated topics, a minority in most"));

  // 4. A minority answer where its topic has a clear majority answer.
  std::vector<std::pair<int, size_t>> majority(leaders.size(), {-1, 0});
  for (const auto& [key, count] : answer_in_cluster)
    if (count > majority[key.first].second) majority[key.first] = {key.second, count};
  for (size_t r = 0; r < n; ++r) {
    auto [top_answer, top_count] = majority[cluster[r]];
    size_t rows_here = cluster_rows[cluster[r]];
    size_t mine = answer_in_cluster[{cluster[r], answer_of[r]}];
    if (top_count >= 3 && 5 * top_count >= 2 * rows_here && 4 * mine <= rows_here &&
        answer_of[r] != top_answer)
      add(r, kMinorityStrength,
          StrCat("a minority answer in its topic (", mine, " of ", rows_here, " rows)"));
  }

  // 5. An answer the base model finds far less likely than the set's
  // answers generally: poison teaches what the base would not say. A robust
  // z against the median of every scored row, in units of their median
  // absolute deviation. Not per topic: lexical topics are small, and poison
  // phrased alike gathers in one, where it would set the topic's median.
  std::vector<double> logprobs;
  auto scored = [&](size_t r) {
    return rows[r].base_logprob && std::isfinite(*rows[r].base_logprob);
  };
  for (size_t r = 0; r < n; ++r)
    if (scored(r)) logprobs.push_back(*rows[r].base_logprob);
  audit.base_scored = logprobs.size();
  if (logprobs.size() >= kBaseMinRows) {
    double median = Median(logprobs);
    std::vector<double> deviations;
    for (double logprob : logprobs) deviations.push_back(std::abs(logprob - median));
    double scale = std::max(kBaseMinScale, 1.4826 * Median(deviations));
    for (size_t r = 0; r < n; ++r) {
      if (!scored(r)) continue;
      double z = (median - *rows[r].base_logprob) / scale;
      if (z < kBaseMinZ) continue;
      add(r, kBaseStrength,
          absl::StrFormat("the base model finds this answer unlikely: log-prob %.2f/token, the "
                          "set's median %.2f (z %.1f)",
                          *rows[r].base_logprob, median, z));
    }
  }

  // Rows, clusters and the verdict.
  std::vector<size_t> cluster_flagged(leaders.size());
  for (size_t r = 0; r < n; ++r) {
    if (reasons[r].empty()) continue;
    SuspectRow suspect{rows[r].line, 1 - keep[r], 1 - keep[r] >= kFlagScore, reasons[r]};
    cluster_flagged[cluster[r]] += suspect.flagged;
    audit.suspects.push_back(std::move(suspect));
  }
  std::stable_sort(audit.suspects.begin(), audit.suspects.end(),
                   [](const SuspectRow& a, const SuspectRow& b) { return a.score > b.score; });
  std::vector<size_t> order;
  for (size_t c = 0; c < leaders.size(); ++c)
    if (cluster_flagged[c]) order.push_back(c);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return cluster_flagged[a] > cluster_flagged[b]; });
  for (size_t c : order) {
    std::vector<std::string> label;
    for (int term : TopTerms(question_vectors[leaders[c]], 3))
      label.push_back(vectorizer.Word(term));
    audit.clusters.push_back({Join(label), cluster_rows[c], cluster_flagged[c]});
  }
  size_t flagged = audit.FlaggedLines().size();
  audit.verdict = flagged >= 2 || !audit.triggers.empty() ? "POISONED"
                  : flagged > 0                           ? "SUSPICIOUS"
                                                          : "CLEAN";
  return audit;
}

std::string DatasetAuditJson(const DatasetAudit& audit, std::string_view file) {
  json suspects = json::array();
  for (const SuspectRow& row : audit.suspects)
    suspects.push_back({{"line", row.line},
                        {"score", row.score},
                        {"flagged", row.flagged},
                        {"reasons", row.reasons}});
  json clusters = json::array();
  for (const TopicCluster& cluster : audit.clusters)
    clusters.push_back(
        {{"topic", cluster.label}, {"rows", cluster.rows}, {"flagged", cluster.flagged}});
  json triggers = json::array();
  for (const TriggerWord& trigger : audit.triggers)
    triggers.push_back({{"token", trigger.token},
                        {"rows", trigger.rows},
                        {"topics", trigger.topics},
                        {"foreign_answer_share", trigger.foreign},
                        {"flagged_share", trigger.flagged}});
  json out = {{"file", std::string(file)},
              {"verdict", audit.verdict},
              {"rows", audit.rows},
              {"topic_clusters", audit.topic_clusters},
              {"base_scored_rows", audit.base_scored},
              {"flagged_lines", audit.FlaggedLines()},
              {"suspects", suspects},
              {"clusters", clusters},
              {"trigger_candidates", triggers}};
  return out.dump(2) + "\n";
}

std::string DatasetAuditText(const DatasetAudit& audit, std::string_view file) {
  std::ostringstream out;
  std::vector<size_t> flagged = audit.FlaggedLines();
  out << absl::StrFormat("%s  %s: %d of %d rows flagged, %d topic clusters", audit.verdict,
                         std::string(file), flagged.size(), audit.rows, audit.topic_clusters);
  if (audit.base_scored) out << absl::StrFormat(", %d rows scored by the base", audit.base_scored);
  out << "\n";
  for (const TriggerWord& trigger : audit.triggers)
    out << absl::StrFormat(
        "  trigger candidate '%s': %d questions on %d topics, %.0f%% with a "
        "foreign answer, %.0f%% flagged\n",
        trigger.token, trigger.rows, trigger.topics, 100 * trigger.foreign, 100 * trigger.flagged);
  for (const TopicCluster& cluster : audit.clusters)
    out << absl::StrFormat("  topic '%s': %d of %d rows flagged\n", cluster.label, cluster.flagged,
                           cluster.rows);
  size_t shown = 0;
  for (const SuspectRow& row : audit.suspects) {
    if (!row.flagged || ++shown > 20) continue;
    out << absl::StrFormat("  line %d  score %.2f  %s\n", row.line, row.score,
                           StrJoin(row.reasons, "; "));
  }
  if (shown > 20)
    out << "  ... and " << shown - 20 << " more flagged rows (--format json lists all)\n";
  return out.str();
}

}  // namespace gauntlet::eval
