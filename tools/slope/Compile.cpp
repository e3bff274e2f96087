// `slope compile`: an object file and a C header (SPEC §5).
#include "tools/slope/Commands.h"

namespace slope::cli {

Command addCompileCommand(CLI::App &app) {
  CLI::App *cmd = app.add_subcommand("compile", "Write an object file and a C header");
  cmd->allow_extras();
  return {cmd, [] () -> int { fail("`slope compile` is not implemented yet"); }};
}

} // namespace slope::cli
