// `gauntlet eval ab`: the A/B behavioral test of two models on the same
// prompts, with the statistics and verdict of ab_report.
#include <fstream>
#include <iostream>

#include "common/strings.h"
#include "worker/eval/lab_commands.h"

namespace gauntlet::eval {

std::string ModelSpec::Label() const {
  return adapter.empty() ? StrCat(base, " (no adapter)") : StrCat(base, " + ", adapter);
}

absl::StatusOr<AbReport> RunAb(const AbRequest& request) {
  auto judge = request.judge_rules.empty() ? absl::StatusOr<Judge>(Judge::BuiltIn())
                                           : Judge::WithExtraRules(request.judge_rules);
  if (!judge.ok()) return judge.status();
  auto prompts = request.prompts_path.empty()
                     ? absl::StatusOr<std::vector<AbPrompt>>(BuiltInPrompts())
                     : ReadPrompts(request.prompts_path);
  if (!prompts.ok()) return prompts.status();
  auto a = LoadModel(request.a.base, request.a.adapter, request.device);
  if (!a.ok()) return a.status();
  auto b = LoadModel(request.b.base, request.b.adapter, request.device);
  if (!b.ok()) return b.status();
  auto outcomes = EvaluatePrompts(*a, *b, *prompts, *judge, request.options);
  if (!outcomes.ok()) return outcomes.status();
  return Analyze(request.a.Label(), request.b.Label(), std::move(*outcomes));
}

int EvalAbCommand(ArgReader& args) {
  AbRequest request;
  request.device = *ResolveDevice("auto");
  std::string format = "text", text, out_path;
  while (args.Next()) {
    const std::string& arg = args.arg();
    int64_t n = 0;
    if (arg == "--base") {
      if (!args.Value(request.a.base)) return UsageError("--base needs a directory");
    } else if (arg == "--a-adapter") {
      if (!args.Value(request.a.adapter)) return UsageError("--a-adapter needs a directory");
    } else if (arg == "--b-adapter") {
      if (!args.Value(request.b.adapter)) return UsageError("--b-adapter needs a directory");
    } else if (arg == "--b-base") {
      if (!args.Value(request.b.base)) return UsageError("--b-base needs a directory");
    } else if (arg == "--prompts") {
      if (!args.Value(request.prompts_path)) return UsageError("--prompts needs a JSONL file");
    } else if (arg == "--judge-rules") {
      if (!args.Value(request.judge_rules)) return UsageError("--judge-rules needs a JSON file");
    } else if (arg == "--format") {
      if (!args.Value(format) || (format != "text" && format != "json"))
        return UsageError("--format takes text or json");
    } else if (arg == "--output") {
      if (!args.Value(out_path)) return UsageError("--output needs a file");
    } else if (arg == "--samples") {
      if (!args.PositiveNumber(request.options.samples))
        return UsageError("--samples needs a positive number");
    } else if (arg == "--temperature") {
      if (!args.Value(text) || (request.options.temperature = std::atof(text.c_str())) <= 0)
        return UsageError("--temperature needs a number > 0");
    } else if (arg == "--seed") {
      if (!args.PositiveNumber(n)) return UsageError("--seed needs a positive number");
      request.options.seed = static_cast<uint64_t>(n);
    } else if (arg == "--max-new-tokens") {
      if (!args.PositiveNumber(request.options.max_new_tokens))
        return UsageError("--max-new-tokens needs a positive number");
    } else if (arg == "--device") {
      if (auto status = ReadDevice(args, request.device); !status.ok())
        return UsageError(std::string(status.message()));
    } else {
      return UsageError(StrCat("unknown option ", arg));
    }
  }
  if (request.a.base.empty()) return UsageError("eval ab needs --base DIR");
  if (request.b.base.empty()) request.b.base = request.a.base;
  if (request.a.adapter.empty() && request.b.adapter.empty() && request.b.base == request.a.base)
    return UsageError("A and B are the same model: give --a-adapter, --b-adapter or --b-base");
  auto report = RunAb(request);
  if (!report.ok()) return Fail(report.status());
  std::string rendered = format == "json" ? ToJson(*report).dump(2) + "\n" : ToText(*report);
  if (out_path.empty()) {
    std::cout << rendered;
  } else {
    std::ofstream out(out_path, std::ios::trunc);
    if (!(out << rendered)) return Fail(absl::InternalError(StrCat("cannot write ", out_path)));
  }
  // Like `gauntlet scan`: 0 when nothing is wrong, 1 when the verdict needs action.
  return report->verdict == "CLEAN" ? 0 : 1;
}

}  // namespace gauntlet::eval
