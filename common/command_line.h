// Command lines for every Gauntlet binary, on CLI11 (Debian's libcli11-dev):
// each binary declares its commands and flags on a CLI::App and parses with
// ParseCommandLine, so all behave alike: --flag=value and --flag value, `--`
// ends the flags, --help on every command and subcommand, --version, and a
// usage error (exit 2) that names the closest known flag or command.
#ifndef GAUNTLET_COMMON_COMMAND_LINE_H_
#define GAUNTLET_COMMON_COMMAND_LINE_H_

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/log.h"

namespace gauntlet {

inline constexpr int kUsageExitCode = 2;

// An App with Gauntlet's defaults: `name` in usage lines and messages,
// --version printing "name version", options listed in declaration order.
std::unique_ptr<CLI::App> MakeApp(std::string description, std::string name);

// Parses `argv`. Returns the exit code when the process should stop now
// (0 after --help or --version, 2 after a usage error, whose message went to
// stderr with a hint), nullopt when the chosen command should run.
std::optional<int> ParseCommandLine(CLI::App& app, int argc, const char* const* argv);

// Prints "name: message" and where to find the command's help; returns 2.
// For errors found after parsing (a file that cannot be read, flags that
// conflict), so they read like the parser's own.
int UsageError(const CLI::App& command, std::string_view message);

// The App's full command name, e.g. "gauntlet jobs get".
std::string CommandPath(const CLI::App& command);

// The parsed subcommand of `app` at the deepest level (`app` itself when
// none was given).
CLI::App* ChosenCommand(CLI::App& app);

// The candidate closest to `word` by edit distance, when it is close enough
// to be a likely typo; empty otherwise.
std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates);

// Validators with messages a person can act on.
CLI::Validator PositiveWholeNumber();
CLI::Validator PositiveReal();
CLI::Validator NonEmpty();

// The servers' --log-level (debug, info, warning, error, off), into `level`.
void AddLogLevelFlag(CLI::App& app, LogLevel& level);
// Wraps a parse function: an error message (non-empty) refuses the value.
CLI::Validator Checked(std::function<std::string(const std::string&)> check);

}  // namespace gauntlet

#endif  // GAUNTLET_COMMON_COMMAND_LINE_H_
