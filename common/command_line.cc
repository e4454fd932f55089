#include "common/command_line.h"

#include <algorithm>
#include <cstring>
#include <iostream>
#include <sstream>

#include "common/strings.h"

namespace gauntlet {
namespace {

// Edits (insert, delete, substitute, swap two neighbours) from a to b.
size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i)
    for (size_t j = 1; j <= b.size(); ++j) {
      d[i][j] = std::min(
          {d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  return d[a.size()][b.size()];
}

// CLI11 2.1 hands `--` back to the parent command once a subcommand's
// positionals hold their minimum, so `scan a -- -b` failed. A hidden
// positional that never fills (the one before it takes every value) keeps
// `--` in commands whose last positional takes a list.
void KeepDoubleDashInListCommands(CLI::App& command) {
  const CLI::Option* last_positional = nullptr;
  for (const CLI::Option* option : command.get_options())
    if (option->get_positional()) last_positional = option;
  if (last_positional &&
      last_positional->get_items_expected_max() >= CLI::detail::expected_max_vector_size)
    command.add_option("DOUBLE_DASH_HOLDER")->expected(1)->group("");
  for (CLI::App* sub : command.get_subcommands([](const CLI::App*) { return true; }))
    KeepDoubleDashInListCommands(*sub);
}

std::vector<std::string> FlagNames(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::Option* option : command.get_options()) {
    for (const std::string& name : option->get_lnames()) names.push_back("--" + name);
    for (const std::string& name : option->get_snames()) names.push_back("-" + name);
  }
  return names;
}

std::vector<std::string> SubcommandNames(const CLI::App& command) {
  std::vector<std::string> names;
  for (const CLI::App* sub : command.get_subcommands([](const CLI::App*) { return true; }))
    names.push_back(sub->get_name());
  return names;
}

std::string WithSuggestion(std::string message, std::string_view word,
                           const std::vector<std::string>& candidates) {
  std::string closest = ClosestMatch(word, candidates);
  if (!closest.empty()) message += StrCat(" (did you mean ", closest, "?)");
  return message;
}

// The argument the parser could not place, said the way a person reads it.
std::string UnplacedArgument(const CLI::App& command, const std::string& argument) {
  if (argument.size() > 1 && argument[0] == '-') {
    std::string flag = argument.substr(0, argument.find('='));
    return WithSuggestion(StrCat("unknown option ", flag), flag, FlagNames(command));
  }
  std::vector<std::string> subcommands = SubcommandNames(command);
  if (!subcommands.empty())
    return WithSuggestion(StrCat("unknown command '", argument, "'"), argument, subcommands);
  return StrCat("unexpected argument '", argument, "'");
}

std::string ParseErrorMessage(CLI::App& app, const CLI::ParseError& error) {
  CLI::App* command = ChosenCommand(app);
  std::vector<std::string> unplaced = command->remaining();
  bool missing_command = dynamic_cast<const CLI::RequiredError*>(&error) &&
                         command->get_require_subcommand_min() > 0 &&
                         command->get_subcommands().empty();
  if (!unplaced.empty() && (dynamic_cast<const CLI::ExtrasError*>(&error) || missing_command))
    return UnplacedArgument(*command, unplaced.front());
  if (missing_command)
    return StrCat(command->get_name(),
                  " needs a command: ", StrJoin(SubcommandNames(*command), ", "));
  return error.what();
}

std::string Lowercase(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

// Breaks text into lines of at most `width` characters at spaces.
std::string Wrap(std::string_view text, size_t width) {
  std::string wrapped;
  size_t line = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = std::min(text.find(' ', start), text.size());
    std::string_view word = text.substr(start, end - start);
    start = end + 1;
    if (word.empty()) continue;
    if (line > 0 && line + 1 + word.size() > width) {
      wrapped += '\n';
      line = 0;
    } else if (line > 0) {
      wrapped += ' ';
      ++line;
    }
    wrapped.append(word);
    line += word.size();
  }
  return wrapped;
}

// CLI11's formatter with descriptions wrapped to fit 100 columns.
class WrappingFormatter : public CLI::Formatter {
 public:
  static constexpr size_t kNameColumns = 30, kDescriptionColumns = 70;
  WrappingFormatter() { column_width(kNameColumns); }
  std::string make_option_desc(const CLI::Option* option) const override {
    return Wrap(CLI::Formatter::make_option_desc(option), kDescriptionColumns);
  }
  // Values named N, X or TEXT rather than C++ types.
  std::string make_option_opts(const CLI::Option* option) const override {
    std::string opts = CLI::Formatter::make_option_opts(option);
    for (auto [type, word] : {std::pair{" UINT", " N"}, {" INT", " N"}, {" FLOAT", " X"}})
      if (StartsWith(opts, type)) return word + opts.substr(strlen(type));
    return opts;
  }
  std::string make_description(const CLI::App* app) const override {
    return Wrap(CLI::Formatter::make_description(app), kNameColumns + kDescriptionColumns);
  }
  // Without the hidden positional of KeepDoubleDashInListCommands.
  std::string make_usage(const CLI::App* app, std::string name) const override {
    std::string usage = CLI::Formatter::make_usage(app, std::move(name));
    if (size_t hidden = usage.find(" []"); hidden != std::string::npos) usage.erase(hidden, 3);
    return usage;
  }
  std::string make_subcommand(const CLI::App* sub) const override {
    std::stringstream out;
    CLI::detail::format_help(out, sub->get_display_name(true),
                             Wrap(sub->get_description(), kDescriptionColumns), column_width_);
    return out.str();
  }
};

}  // namespace

std::unique_ptr<CLI::App> MakeApp(std::string description, std::string name) {
  auto app = std::make_unique<CLI::App>(std::move(description), name);
  app->set_version_flag("--version", StrCat(name, " ", GAUNTLET_VERSION));
  app->formatter(std::make_shared<WrappingFormatter>());
  return app;
}

std::optional<int> ParseCommandLine(CLI::App& app, int argc, const char* const* argv) {
  KeepDoubleDashInListCommands(app);
  try {
    app.parse(argc, argv);
    return std::nullopt;
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return 0;
  } catch (const CLI::CallForAllHelp&) {
    std::cout << app.help("", CLI::AppFormatMode::All);
    return 0;
  } catch (const CLI::CallForVersion& version) {
    std::cout << version.what() << "\n";
    return 0;
  } catch (const CLI::ParseError& error) {
    return UsageError(*ChosenCommand(app), ParseErrorMessage(app, error));
  }
}

int UsageError(const CLI::App& command, std::string_view message) {
  const CLI::App* top = &command;
  while (top->get_parent()) top = top->get_parent();
  std::cerr << top->get_name() << ": " << message << "\nRun '" << CommandPath(command)
            << " --help' for usage.\n";
  return kUsageExitCode;
}

std::string CommandPath(const CLI::App& command) {
  std::string path = command.get_name();
  for (const CLI::App* parent = command.get_parent(); parent; parent = parent->get_parent())
    path = StrCat(parent->get_name(), " ", path);
  return path;
}

CLI::App* ChosenCommand(CLI::App& app) {
  CLI::App* command = &app;
  while (!command->get_subcommands().empty()) command = command->get_subcommands().front();
  return command;
}

std::string ClosestMatch(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = SIZE_MAX;
  std::string lower = Lowercase(word);
  for (const std::string& candidate : candidates) {
    size_t distance = EditDistance(lower, Lowercase(candidate));
    if (distance < best_distance) {
      best_distance = distance;
      best = candidate;
    }
  }
  // A typo, a dropped or doubled letter: at most a third of the word changed.
  size_t core = word.size() - std::min(word.find_first_not_of('-'), word.size());
  if (best == word || best_distance > std::max<size_t>(1, core / 3)) return "";
  return best;
}

CLI::Validator PositiveWholeNumber() {
  return Checked([](const std::string& text) {
    auto number = ParseInt<int64_t>(text);
    return number && *number > 0 ? std::string()
                                 : StrCat("needs a whole number > 0, not '", text, "'");
  });
}

CLI::Validator PositiveReal() {
  return Checked([](const std::string& text) {
    char* end = nullptr;
    double value = std::strtod(text.c_str(), &end);
    return !text.empty() && *end == '\0' && value > 0
               ? std::string()
               : StrCat("needs a number > 0, not '", text, "'");
  });
}

void AddLogLevelFlag(CLI::App& app, LogLevel& level) {
  app.add_option_function<std::string>(
         "--log-level", [&level](const std::string& text) { level = *ParseLogLevel(text); },
         "JSON log records on stderr at this level and above: debug, info, warning, error or off "
         "(default info).")
      ->option_text("LEVEL")
      ->check(Checked([](const std::string& text) {
        return ParseLogLevel(text)
                   ? std::string()
                   : StrCat("takes debug, info, warning, error or off, not '", text, "'");
      }));
}

CLI::Validator NonEmpty() {
  return Checked([](const std::string& text) {
    return text.empty() ? std::string("needs a value") : std::string();
  });
}

CLI::Validator Checked(std::function<std::string(const std::string&)> check) {
  return CLI::Validator([check = std::move(check)](std::string& text) { return check(text); }, "");
}

}  // namespace gauntlet
