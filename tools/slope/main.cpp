// The `slope` command line (SPEC §3). Thin: it parses options and calls the library.
//
// Exit status: 0 success, 1 a user error (bad source, data file or option value) with a
// message on stderr, 2 a usage error (an unknown command or option, a missing argument,
// options that exclude each other), 3 an internal error (a bug in slope).
#include "slope/slope.hpp"
#include "frontend/Diagnostics.h"
#include "tools/slope/Commands.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <new>
#include <string_view>
#include <vector>

namespace {

/// `status`, or 1 when what the command printed did not all reach standard output (a
/// full disk, a closed descriptor): results that were lost are an error, not a success.
int finishStandardOutput(int status) {
  errno = 0;
  bool failed = std::fflush(stdout) != 0;
  int error = errno;
  if (!failed && !std::ferror(stdout))
    return status;
  fmt::print(stderr, "error: cannot write to standard output: {}\n",
             error != 0 ? std::strerror(error) : "write error");
  return status == 0 ? 1 : status;
}

/// A bad option value (OptionValues.cpp) is a user error, exit 1; the shape of the
/// command line (an unknown option, a missing one, two that exclude each other) is a
/// usage error, exit 2, which CLI11 reports.
int badOptionValue(const CLI::ParseError &e) {
  fmt::print(stderr, "error: {}\n", e.what());
  return 1;
}

} // namespace

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

  // CLI11 reports a word that names no command as a missing command; name the word.
  if (argc > 1 && argv[1][0] != '-') {
    std::string_view word = argv[1];
    std::vector<std::string_view> names;
    for (const slope::cli::Command &command : commands)
      names.push_back(command.app->get_name());
    if (std::find(names.begin(), names.end(), word) == names.end()) {
      std::string hint = slope::didYouMean(word, names);
      if (hint.empty())
        hint = fmt::format("; the commands are {}", fmt::join(names, ", "));
      fmt::print(stderr, "unknown command '{}'{}\nRun with --help for more information.\n", word,
                 hint);
      return 2;
    }
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp &e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion &e) {
    return app.exit(e);
  } catch (const CLI::ValidationError &e) {
    return badOptionValue(e);
  } catch (const CLI::ConversionError &e) { // a value no validator saw, e.g. --json=maybe
    return badOptionValue(e);
  } catch (const CLI::ParseError &e) {
    app.exit(e);
    return 2;
  }

  try {
    for (const slope::cli::Command &command : commands)
      if (command.app->parsed())
        return finishStandardOutput(command.run());
  } catch (const slope::Error &e) {
    std::fputs(e.what(), stderr);
    return 1;
  } catch (const std::bad_alloc &) {
    // Not a bug: the input asked for more memory than the machine grants.
    std::fputs("error: out of memory\n", stderr);
    return 1;
  } catch (const std::exception &e) {
    fmt::print(stderr, "internal error: {}\n", e.what());
    return 3;
  }
  return 2;
}
