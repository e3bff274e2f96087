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

/// A user error, as the command line prints it: "error: <message>".
[[noreturn]] void fail(std::string_view message);

} // namespace slope::cli
