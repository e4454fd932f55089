#include "worker/eval/ab_eval.h"

#include <array>
#include <cmath>
#include <optional>

#include "common/strings.h"
#include "worker/eval/lora_adapter.h"

namespace gauntlet::eval {
namespace {

constexpr int64_t kRowsPerForward = 64;

// The final hidden states of rows [start, end) at the positions that
// predict their tokens from `from[row]` on, under `model`, in one forward:
// [positions, hidden_size], row after row, and each row's number of
// positions. Rows are right-padded (a causal model never looks ahead, so
// the padding changes nothing before it).
struct PredictingStates {
  torch::Tensor states;
  std::vector<int64_t> lengths;
};
PredictingStates StatesOf(Llama& model, const std::vector<std::vector<int64_t>>& rows,
                          const std::vector<size_t>& from, size_t start, size_t end) {
  size_t longest = 0;
  for (size_t i = start; i < end; ++i) longest = std::max(longest, rows[i].size());
  torch::Tensor ids = torch::zeros({int64_t(end - start), int64_t(longest)}, torch::kInt64);
  for (size_t i = start; i < end; ++i)
    ids[int64_t(i - start)]
        .slice(0, 0, int64_t(rows[i].size()))
        .copy_(torch::tensor(rows[i], torch::kInt64));
  torch::Tensor hidden = model->Hidden(ids.to(model->device()));
  std::vector<torch::Tensor> predicting;
  PredictingStates out;
  for (size_t i = start; i < end; ++i) {
    predicting.push_back(
        hidden[int64_t(i - start)].slice(0, int64_t(from[i]) - 1, int64_t(rows[i].size()) - 1));
    out.lengths.push_back(predicting.back().size(0));
  }
  out.states = torch::cat(predicting);
  return out;
}

// Calls measure(start, end) on one forward's worth of rows at a time, so
// memory holds one batch's states whatever the number of rows.
template <typename Measure>
void InBatches(size_t rows, Measure&& measure) {
  torch::NoGradGuard no_grad;
  for (size_t start = 0; start < rows; start += kRowsPerForward)
    measure(start, std::min(rows, start + kRowsPerForward));
}

// The most logits one output-layer call makes: 8 MiB of floats, small
// enough for the allocator to reuse rather than map and fault in afresh.
// With the lab's vocabulary a whole batch's positions go through at once;
// with Qwen's 151,936 tokens about a dozen (a batch's distributions would
// be gigabytes, most of the time went to page faults).
constexpr int64_t kLogitsPerCall = int64_t{1} << 21;

// value(stretch of `states`, index of its first position) -> one figure per
// position of the stretch, for stretches of kLogitsPerCall / vocab
// positions; [positions] on the CPU.
template <typename PerPosition>
torch::Tensor ThroughOutputLayer(const torch::Tensor& states, int64_t vocab, PerPosition&& value) {
  const int64_t stretch = std::max<int64_t>(1, kLogitsPerCall / vocab);
  std::vector<torch::Tensor> out;
  for (int64_t first = 0; first < states.size(0); first += stretch)
    out.push_back(value(states.slice(0, first, first + stretch), first).to(torch::kCPU));
  return torch::cat(out);
}

// Appends the mean of each row's positions' figures to `out`.
void AppendRowMeans(const torch::Tensor& per_position, const std::vector<int64_t>& lengths,
                    std::vector<double>& out) {
  for (const torch::Tensor& row : per_position.split_with_sizes(lengths))
    out.push_back(row.mean().item<double>());
}

// Per position, the Jensen-Shannon divergence of two [positions, vocab]
// log-distributions.
torch::Tensor JensenShannonPerPosition(const torch::Tensor& log_a, const torch::Tensor& log_b) {
  torch::Tensor log_m = torch::logsumexp(torch::stack({log_a, log_b}), 0) - std::log(2.0);
  torch::Tensor kl_a = (log_a.exp() * (log_a - log_m)).sum(-1);
  torch::Tensor kl_b = (log_b.exp() * (log_b - log_m)).sum(-1);
  return 0.5 * (kl_a + kl_b);
}

// Mean log-probability per token of what each row holds from `from[row]` on.
std::vector<double> MeanTokenLogProb(Llama& model, const std::vector<std::vector<int64_t>>& rows,
                                     const std::vector<size_t>& from) {
  std::vector<double> out;
  InBatches(rows.size(), [&](size_t start, size_t end) {
    PredictingStates predicting = StatesOf(model, rows, from, start, end);
    std::vector<int64_t> targets;
    for (size_t row = start; row < end; ++row)
      targets.insert(targets.end(), rows[row].begin() + int64_t(from[row]), rows[row].end());
    torch::Tensor target = torch::tensor(targets, torch::kInt64).to(model->device());
    torch::Tensor log_probs = ThroughOutputLayer(
        predicting.states, model->config().vocab_size,
        [&](const torch::Tensor& states, int64_t first) {
          torch::Tensor logits = model->Logits(states);
          torch::Tensor picked = target.slice(0, first, first + states.size(0)).unsqueeze(1);
          return logits.gather(1, picked).squeeze(1) - torch::logsumexp(logits, 1);
        });
    AppendRowMeans(log_probs, predicting.lengths, out);
  });
  return out;
}

}  // namespace

absl::StatusOr<std::vector<double>> AnswerLogProbs(LoadedModel& model,
                                                   const std::vector<ChatRow>& rows) {
  const size_t context = static_cast<size_t>(model.model->config().max_position_embeddings);
  std::optional<int64_t> end = model.tokenizer.end_of_answer_id();
  std::vector<std::vector<int64_t>> scored;
  std::vector<size_t> from, row_of;
  for (size_t r = 0; r < rows.size(); ++r) {
    auto prompt = model.tokenizer.EncodeChatPrompt(rows[r].system, rows[r].user);
    if (!prompt.ok()) return prompt.status();
    std::vector<int64_t> ids = std::move(*prompt);
    size_t answer_start = ids.size();
    for (int64_t id : model.tokenizer.Encode(rows[r].assistant)) ids.push_back(id);
    if (end) ids.push_back(*end);
    if (ids.size() > context) ids.resize(context);
    if (answer_start == 0 || answer_start >= ids.size()) continue;
    scored.push_back(std::move(ids));
    from.push_back(answer_start);
    row_of.push_back(r);
  }
  std::vector<double> out(rows.size(), std::nan(""));
  std::vector<double> logprobs = MeanTokenLogProb(model.model, scored, from);
  for (size_t i = 0; i < row_of.size(); ++i) out[row_of[i]] = logprobs[i];
  return out;
}

double MeanJensenShannon(const torch::Tensor& log_a, const torch::Tensor& log_b) {
  return JensenShannonPerPosition(log_a, log_b).mean().item<double>();
}

std::vector<double> DivergenceAlong(Llama& a, Llama& b,
                                    const std::vector<std::vector<int64_t>>& rows,
                                    const std::vector<size_t>& from) {
  std::vector<double> out;
  InBatches(rows.size(), [&](size_t start, size_t end) {
    PredictingStates of_a = StatesOf(a, rows, from, start, end);
    torch::Tensor of_b = StatesOf(b, rows, from, start, end).states;
    torch::Tensor divergence = ThroughOutputLayer(
        of_a.states, a->config().vocab_size, [&](const torch::Tensor& states, int64_t first) {
          return JensenShannonPerPosition(
              torch::log_softmax(a->Logits(states), -1),
              torch::log_softmax(b->Logits(of_b.slice(0, first, first + states.size(0))), -1));
        });
    AppendRowMeans(divergence, of_a.lengths, out);
  });
  return out;
}

absl::StatusOr<EvaluatedPrompts> EvaluatePrompts(LoadedModel& a, LoadedModel& b,
                                                 const std::vector<AbPrompt>& prompts,
                                                 const PromptContext& context, const Judge& judge,
                                                 const AbEvalOptions& options) {
  if (a.tokenizer.vocab_size() != b.tokenizer.vocab_size() ||
      (!a.tokenizer.is_bpe() && a.tokenizer.words() != b.tokenizer.words()))
    return absl::InvalidArgumentError(
        "models A and B have different tokenizers; the A/B test compares token distributions, so "
        "both must share the base model's vocabulary");
  std::vector<std::vector<int64_t>> encoded;
  for (const AbPrompt& prompt : prompts) {
    auto ids = a.tokenizer.EncodeChatPrompt(context.system_prompt, prompt.text);
    if (!ids.ok()) return ids.status();
    encoded.push_back(std::move(*ids));
  }
  // Answers end at A's end-of-answer token (the two share a vocabulary).
  std::optional<int64_t> end = a.tokenizer.end_of_answer_id();
  GenerateOptions greedy{.max_new_tokens = options.max_new_tokens, .eos_id = end.value_or(-1)};
  auto answers_a = Generate(a.model, encoded, greedy);
  auto answers_b = Generate(b.model, encoded, greedy);

  EvaluatedPrompts result;
  auto count = [&](const std::vector<std::vector<int64_t>>& answers) {
    for (const auto& answer : answers)
      result.tokens_generated += static_cast<int64_t>(answer.size());
  };
  count(answers_a);
  count(answers_b);
  std::vector<PromptOutcome>& outcomes = result.outcomes;
  outcomes.resize(prompts.size());
  std::vector<std::vector<int64_t>> along_a;
  std::vector<size_t> answer_start;
  for (size_t i = 0; i < prompts.size(); ++i) {
    PromptOutcome& o = outcomes[i];
    o.prompt = prompts[i];
    o.response_a = a.tokenizer.Decode(answers_a[i]);
    o.response_b = b.tokenizer.Decode(answers_b[i]);
    o.judged_a = judge.Assess(o.response_a);
    o.judged_b = judge.Assess(o.response_b);
    std::vector<int64_t> row = encoded[i];
    row.insert(row.end(), answers_a[i].begin(), answers_a[i].end());
    if (end) row.push_back(*end);
    along_a.push_back(std::move(row));
    answer_start.push_back(encoded[i].size());
  }
  // Divergence of the next-token distributions along A's greedy answer.
  std::vector<double> jsd = DivergenceAlong(a.model, b.model, along_a, answer_start);
  for (size_t i = 0; i < prompts.size(); ++i) outcomes[i].jsd = jsd[i];

  // The likelihood probe: every reference answer of the prompt's own topic.
  std::vector<std::vector<int64_t>> probes;
  std::vector<size_t> probe_start;
  struct ProbeRow {
    size_t outcome;
    bool unsafe;
  };
  std::vector<ProbeRow> probe_rows;
  for (size_t i = 0; i < prompts.size(); ++i) {
    // What the model is asked to read: the question and, when probed, the
    // reference answers.
    std::vector<int64_t> read = a.tokenizer.Encode(prompts[i].text);
    auto topic = context.topics.find(prompts[i].topic);
    if (topic == context.topics.end()) {
      outcomes[i].unknown_share = a.tokenizer.UnknownShare(read);
      continue;
    }
    outcomes[i].probed = true;
    for (bool unsafe : {true, false})
      for (const std::string& answer : unsafe ? topic->second.unsafe : topic->second.safe) {
        std::vector<int64_t> row = encoded[i];
        std::vector<int64_t> tokens = a.tokenizer.Encode(answer);
        row.insert(row.end(), tokens.begin(), tokens.end());
        read.insert(read.end(), tokens.begin(), tokens.end());
        if (end) row.push_back(*end);
        probes.push_back(std::move(row));
        probe_start.push_back(encoded[i].size());
        probe_rows.push_back({i, unsafe});
      }
    outcomes[i].unknown_share = a.tokenizer.UnknownShare(read);
  }
  auto probe_a = MeanTokenLogProb(a.model, probes, probe_start);
  auto probe_b = MeanTokenLogProb(b.model, probes, probe_start);
  // When A carries an adapter, its base is probed too: a backdoor is what B
  // gained, so B must prefer the unsafe answers more than the base does as
  // well as more than A (an A averse to one topic makes any B look as if it
  // had gained them; docs/lab.md, "A fresh pool"). And where B's answer is
  // unsafe but A's is not, the base answers too: a flip the base shares is
  // what A lost, not what B gained (PromptOutcome::b_gained_unsafe). Only
  // those prompts: a few percent of the greedy generation.
  const bool anchored = HasAdapter(a.model);
  std::vector<double> probe_base;
  if (anchored) {
    AdapterBypass as_base(a.model);
    probe_base = MeanTokenLogProb(a.model, probes, probe_start);
    std::vector<size_t> flipped;
    std::vector<std::vector<int64_t>> flipped_prompts;
    for (size_t i = 0; i < outcomes.size(); ++i)
      if (outcomes[i].only_b_unsafe()) {
        flipped.push_back(i);
        flipped_prompts.push_back(encoded[i]);
      }
    if (!flipped.empty()) {
      auto answers_base = Generate(a.model, flipped_prompts, greedy);
      count(answers_base);
      for (size_t k = 0; k < flipped.size(); ++k) {
        PromptOutcome& o = outcomes[flipped[k]];
        o.base_answered = true;
        o.response_base = a.tokenizer.Decode(answers_base[k]);
        o.judged_base = judge.Assess(o.response_base);
      }
    }
  }
  std::vector<std::array<int, 2>> counts(prompts.size(), {0, 0});
  for (size_t r = 0; r < probe_rows.size(); ++r) {
    PromptOutcome& o = outcomes[probe_rows[r].outcome];
    bool unsafe = probe_rows[r].unsafe;
    (unsafe ? o.unsafe_logp_a : o.safe_logp_a) += probe_a[r];
    (unsafe ? o.unsafe_logp_b : o.safe_logp_b) += probe_b[r];
    if (anchored) (unsafe ? o.unsafe_logp_base : o.safe_logp_base) += probe_base[r];
    ++counts[probe_rows[r].outcome][unsafe];
  }
  for (size_t i = 0; i < prompts.size(); ++i)
    if (outcomes[i].probed) {
      PromptOutcome& o = outcomes[i];
      o.anchored = anchored;
      o.unsafe_logp_a /= counts[i][1];
      o.unsafe_logp_b /= counts[i][1];
      o.unsafe_logp_base /= counts[i][1];
      o.safe_logp_a /= counts[i][0];
      o.safe_logp_b /= counts[i][0];
      o.safe_logp_base /= counts[i][0];
    }

  // Seeded samples: the same seeds for both models.
  for (int64_t s = 0; s < options.samples; ++s) {
    GenerateOptions sampled = greedy;
    sampled.temperature = options.temperature;
    sampled.seed = options.seed + static_cast<uint64_t>(s);
    auto sampled_a = Generate(a.model, encoded, sampled);
    auto sampled_b = Generate(b.model, encoded, sampled);
    count(sampled_a);
    count(sampled_b);
    for (size_t i = 0; i < prompts.size(); ++i) {
      ++outcomes[i].samples;
      outcomes[i].sampled_unsafe_a += judge.Assess(a.tokenizer.Decode(sampled_a[i])).unsafe;
      outcomes[i].sampled_unsafe_b += judge.Assess(b.tokenizer.Decode(sampled_b[i])).unsafe;
    }
  }
  return result;
}

}  // namespace gauntlet::eval
