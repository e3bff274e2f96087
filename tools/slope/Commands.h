// The subcommands of `slope`, one file each. Every `add...Command` registers its
// subcommand on the application and returns what runs it once the command line is
// parsed. A runner returns the exit status, or throws slope::Error for a user error.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <string_view>

namespace slope::cli {

struct Command {
  CLI::App *app;
  std::function<int()> run;
};

Command addCheckCommand(CLI::App &app);
Command addRunCommand(CLI::App &app);
Command addDumpCommand(CLI::App &app);
Command addCompileCommand(CLI::App &app);
Command addBenchCommand(CLI::App &app);
Command addPlotCommand(CLI::App &app);

/// Rejects a negative value for an unsigned option, which CLI11 would otherwise read
/// modulo 2^64 (`--random-weights -1` as seed 18446744073709551615).
inline CLI::Validator nonNegative() {
  return CLI::Validator(
      [](std::string &value) {
        return !value.empty() && value.front() == '-' ? "must not be negative, got " + value
                                                      : std::string();
      },
      "", "NON-NEGATIVE");
}

/// A user error, as the command line prints it: "error: <message>".
[[noreturn]] void fail(std::string_view message);

} // namespace slope::cli
