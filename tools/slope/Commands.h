// The subcommands of `slope`, one file each. Every `add...Command` registers its
// subcommand on the application and returns what runs it once the command line is
// parsed. A runner returns the exit status, or throws slope::Error for a user error.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

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

// Checks of option values (OptionValues.cpp). A value they reject is a user error:
// main() prints "error: --OPTION: expected ..., got 'VALUE'" and exits with 1.

/// Decimal digits for a value from 0 to `max`: no sign, fraction or exponent.
CLI::Validator wholeNumber(uint64_t max);

/// A finite decimal number from `low` to `high`.
CLI::Validator numberIn(double low, double high);

/// One of `names`, with a suggestion for a misspelling.
CLI::Validator oneOf(std::vector<std::string_view> names);

/// Whether two paths name the same file, whether or not it exists yet: "x.o", "./x.o",
/// "$PWD/x.o" and "d/../x.o" all do (symbolic links resolved where they exist).
bool samePath(const std::string &a, const std::string &b);

/// Fails when the output `path` (the "output", the "header") is the source or the
/// weights file (none when `weights` is empty): writing it would destroy an input.
void checkNotAnInput(std::string_view what, const std::string &path, const std::string &source,
                     const std::string &weights);

/// A user error, as the command line prints it: "error: <message>".
[[noreturn]] void fail(std::string_view message);

} // namespace slope::cli
