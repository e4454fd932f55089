// The command-line conventions every binary shares (common/command_line.h):
// both flag forms, `--`, help and version exit 0, usage errors exit 2 with
// the closest known flag or command named.
#include "common/command_line.h"

#include <gtest/gtest.h>

#include <sstream>

namespace gauntlet {
namespace {

// A two-level command tree like the binaries' own.
struct Tree {
  std::unique_ptr<CLI::App> owner = MakeApp("test", "tool");
  CLI::App& app = *owner;
  std::vector<std::string> paths;
  std::string format = "text";
  int jobs = 0;
  bool quiet = false;
  CLI::App* scan;
  CLI::App* get;
  std::string job;

  Tree() {
    app.require_subcommand(1);
    scan = app.add_subcommand("scan", "Scan.");
    scan->add_option("PATH", paths)->required();
    scan->add_option("--format", format);
    scan->add_option("-j,--jobs", jobs)->check(PositiveWholeNumber());
    scan->add_flag("--quiet", quiet);
    CLI::App* jobs_command = app.add_subcommand("jobs", "Jobs.");
    jobs_command->require_subcommand(1);
    get = jobs_command->add_subcommand("get", "Get.");
    get->add_option("JOB", job)->required();
    jobs_command->add_subcommand("list", "List.");
  }

  // The exit code (nullopt: parsed, run) and what went to stdout and stderr.
  std::optional<int> Parse(std::vector<const char*> args, std::string* out = nullptr,
                           std::string* err = nullptr) {
    args.insert(args.begin(), "tool");
    std::stringstream out_buffer, err_buffer;
    auto* old_out = std::cout.rdbuf(out_buffer.rdbuf());
    auto* old_err = std::cerr.rdbuf(err_buffer.rdbuf());
    auto result = ParseCommandLine(app, static_cast<int>(args.size()), args.data());
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    if (out) *out = out_buffer.str();
    if (err) *err = err_buffer.str();
    return result;
  }
};

TEST(CommandLineTest, BothFlagFormsAndDoubleDash) {
  Tree t;
  EXPECT_EQ(t.Parse({"scan", "--format=json", "-j", "3", "--quiet", "a", "--", "--not-a-flag"}),
            std::nullopt);
  EXPECT_TRUE(t.scan->parsed());
  EXPECT_EQ(t.format, "json");
  EXPECT_EQ(t.jobs, 3);
  EXPECT_TRUE(t.quiet);
  EXPECT_EQ(t.paths, (std::vector<std::string>{"a", "--not-a-flag"}));
  Tree u;
  EXPECT_EQ(u.Parse({"scan", "--jobs=4", "--format", "sarif", "b"}), std::nullopt);
  EXPECT_EQ(u.jobs, 4);
  EXPECT_EQ(u.format, "sarif");
}

TEST(CommandLineTest, HelpOfEverySubcommandAndVersionExitZero) {
  std::string out;
  EXPECT_EQ(Tree().Parse({"--help"}, &out), 0);
  EXPECT_NE(out.find("scan"), std::string::npos) << out;
  EXPECT_EQ(Tree().Parse({"scan", "--help"}, &out), 0);
  EXPECT_NE(out.find("--format"), std::string::npos) << out;
  EXPECT_EQ(Tree().Parse({"jobs", "get", "-h"}, &out), 0);
  EXPECT_NE(out.find("Usage: tool jobs get"), std::string::npos) << out;
  EXPECT_EQ(Tree().Parse({"--version"}, &out), 0);
  EXPECT_EQ(out, std::string("tool ") + GAUNTLET_VERSION + "\n");
}

TEST(CommandLineTest, UsageErrorsExitTwoWithASuggestion) {
  struct Case {
    std::vector<const char*> args;
    std::string message;
  } cases[] = {
      {{"scan", "--formt", "json", "a"}, "tool: unknown option --formt (did you mean --format?)"},
      {{"scan", "--jobz=2", "a"}, "unknown option --jobz (did you mean --jobs?)"},
      {{"scan", "--zzzzzz", "a"}, "unknown option --zzzzzz\n"},
      {{"scna", "a"}, "unknown command 'scna' (did you mean scan?)"},
      {{"jobs", "lst"}, "unknown command 'lst' (did you mean list?)"},
      {{"jobs"}, "tool: jobs needs a command: get, list"},
      {{"jobs", "get", "a", "b"}, "unexpected argument 'b'"},
      {{"jobs", "get"}, "JOB is required"},
      {{"scan", "--jobs", "0", "a"}, "--jobs: needs a whole number > 0, not '0'"},
      {{"scan", "--jobs", "many", "a"}, "--jobs: needs a whole number > 0, not 'many'"},
      {{"scan", "--format"}, "--format"},
  };
  for (const Case& c : cases) {
    std::string err;
    EXPECT_EQ(Tree().Parse(c.args, nullptr, &err), kUsageExitCode) << c.message;
    EXPECT_NE(err.find(c.message), std::string::npos) << c.message << " -> " << err;
    EXPECT_NE(err.find(" --help' for usage."), std::string::npos) << err;
  }
  std::string err;
  Tree().Parse({"jobs", "get", "a", "b"}, nullptr, &err);
  EXPECT_NE(err.find("Run 'tool jobs get --help'"), std::string::npos) << err;
}

TEST(CommandLineTest, ClosestMatchNamesOnlyLikelyTypos) {
  std::vector<std::string> flags = {"--coordinator", "--tenant", "--format", "--fail-on"};
  EXPECT_EQ(ClosestMatch("--cordinator", flags), "--coordinator");
  EXPECT_EQ(ClosestMatch("--tennant", flags), "--tenant");
  EXPECT_EQ(ClosestMatch("--FORMAT", flags), "--format");
  EXPECT_EQ(ClosestMatch("--format", flags), "");  // Known: nothing to suggest.
  EXPECT_EQ(ClosestMatch("--failon", flags), "--fail-on");
  EXPECT_EQ(ClosestMatch("--output", flags), "");
  EXPECT_EQ(ClosestMatch("x", {}), "");
}

}  // namespace
}  // namespace gauntlet
