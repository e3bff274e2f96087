// The `slope` command line (SPEC §3). Thin: it parses options and calls the library.
//
// Exit status: 0 success, 1 a user error (bad source, data file or option value) with a
// message on stderr, 2 a usage error, 3 an internal error (a bug in slope).
#include "slope/slope.hpp"
#include "tools/slope/Commands.h"

#include <fmt/format.h>

#include <csignal>
#include <cstdio>
#include <vector>

int main(int argc, char **argv) {
  // A write past the file-size limit must fail with an error, not kill the process
  // halfway through an output file.
  std::signal(SIGXFSZ, SIG_IGN);
  CLI::App app{"slope: compiles small neural networks into fused, vectorized CPU code", "slope"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("slope ") + slope::version());

  std::vector<slope::cli::Command> commands = {
      slope::cli::addCheckCommand(app),
      slope::cli::addRunCommand(app),
      slope::cli::addCompileCommand(app),
      slope::cli::addDumpCommand(app),
      slope::cli::addBenchCommand(app),
      slope::cli::addPlotCommand(app),
  };

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app.exit(e);
  } catch (const CLI::ParseError &e) {
    app.exit(e);
    return 2;
  }

  try {
    for (const slope::cli::Command &command : commands)
      if (command.app->parsed())
        return command.run();
  } catch (const slope::Error &e) {
    std::fputs(e.what(), stderr);
    return 1;
  } catch (const std::exception &e) {
    fmt::print(stderr, "internal error: {}\n", e.what());
    return 3;
  }
  return 2;
}
