// The syntax tree of a `.slope` file, as written. Pipes are already desugared
// (`a |> f(b)` is the call `f(a, b)`, its first argument marked `piped`); names and
// operations are not yet resolved: that is Lower's job.
#pragma once

#include "frontend/Source.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace slope::ast {

struct Call;

struct Arg {
  enum class Kind {
    Call,    // a nested call: `add(dense(x, 3), y)`
    Name,    // a value: `x`
    Number,  // `1`, `-0.5`, `1e-2`, `.5`
    Bool,    // `true`, `false`
    String,  // `"tanh"`
    Invalid, // a malformed token, already diagnosed
  };
  Kind kind = Kind::Invalid;
  SourceRange range;
  /// Set for keyword arguments (`alpha = 0.2`).
  std::optional<std::string> keyword;
  SourceRange keywordRange;
  /// The left side of a pipe, passed as the first argument.
  bool piped = false;

  std::unique_ptr<Call> call; // Kind::Call
  std::string text;           // Name: the name; Number: the spelling; String: the contents
  double number = 0;          // Number
  bool boolean = false;       // Bool
};

struct Call {
  std::string callee;
  SourceRange calleeRange;
  std::vector<Arg> args;
  SourceRange range;
};

struct Stmt {
  enum class Kind { Input, Assign, Output };
  Kind kind = Kind::Input;
  std::string name;
  SourceRange nameRange;
  SourceRange range;
  // Input: the declared width.
  double width = 0;
  SourceRange widthRange;
  // Assign: the value.
  std::unique_ptr<Call> value;
  /// A syntax error follows the name (reported already): the name is declared, so that
  /// its uses report nothing more, and nothing else of the statement is known.
  bool broken = false;
};

struct Network {
  std::string name;
  SourceRange nameRange;
  std::vector<Stmt> stmts;
  /// A syntax error was reported in the body, and the parser skipped tokens to recover:
  /// a missing `input` or `output` may be among them, so none is reported.
  bool skippedTokens = false;
};

struct File {
  std::vector<Network> networks;
};

/// Prints the tree for `slope dump --stage ast`.
std::string print(const File &file, const Source &source);

} // namespace slope::ast
