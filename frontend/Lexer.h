// Source text to tokens. The lexer reports malformed tokens itself and always makes
// progress, so the parser sees a complete token stream ending in `Eof`.
#pragma once

#include "frontend/Diagnostics.h"

#include <string>
#include <vector>

namespace slope {

enum class TokenKind {
  Identifier,
  Number,
  String,
  KwNetwork,
  KwInput,
  KwOutput,
  KwTrue,
  KwFalse,
  LBrace,
  RBrace,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Colon,
  Equal,
  Pipe, // |>
  Error,
  Eof,
};

struct Token {
  TokenKind kind = TokenKind::Eof;
  SourceRange range;
  /// The first token on its line; statements begin there when the parser recovers.
  bool atLineStart = false;
  /// Number: its value. String: unused.
  double number = 0;
  /// Identifier and Number: the spelling. String: the contents without quotes.
  std::string text;
};

std::vector<Token> lex(const Source &source, DiagnosticEngine &diags);

/// A description of a token for "expected X, found Y" messages, e.g. "'foo'", "`)`",
/// "the end of the file".
std::string describeToken(const Token &token);

} // namespace slope
