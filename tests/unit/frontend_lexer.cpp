// The lexer alone: token kinds, spellings and values, line-start flags, and the
// diagnostics of malformed tokens.
#include "frontend/Lexer.h"

#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

namespace {

using slope::Token;
using slope::TokenKind;

struct Lexed {
  std::vector<Token> tokens;
  std::string diagnostics;
  size_t errors = 0;
};

Lexed lexText(const std::string &text) {
  slope::Source source("t.slope", text);
  slope::DiagnosticEngine diags(source);
  Lexed out;
  out.tokens = slope::lex(source, diags);
  out.diagnostics = diags.render();
  out.errors = diags.errorCount();
  return out;
}

std::vector<TokenKind> kinds(const Lexed &lexed) {
  std::vector<TokenKind> k;
  for (const Token &t : lexed.tokens)
    k.push_back(t.kind);
  return k;
}

/// The single number token of `text`.
Token number(const std::string &text) {
  Lexed lexed = lexText(text);
  INFO("text: ", text, "\n", lexed.diagnostics);
  REQUIRE(lexed.errors == 0);
  REQUIRE(lexed.tokens.size() == 2);
  REQUIRE(lexed.tokens[0].kind == TokenKind::Number);
  CHECK(lexed.tokens[0].text == text);
  CHECK(lexed.tokens[0].range.offset == 0);
  CHECK(lexed.tokens[0].range.length == text.size());
  return lexed.tokens[0];
}

} // namespace

TEST_CASE("lexer: numbers in every accepted form") {
  CHECK(number("1").number == 1.0);
  CHECK(number("64").number == 64.0);
  CHECK(number("-0.5").number == -0.5);
  CHECK(number("1e-2").number == 1e-2);
  CHECK(number("1E+3").number == 1e3);
  CHECK(number(".5").number == 0.5);
  CHECK(number("-.25").number == -0.25);
  CHECK(number("2.5e1").number == 25.0);
  Token negZero = number("-0");
  CHECK(negZero.number == 0.0);
  CHECK(std::signbit(negZero.number));
}

TEST_CASE("lexer: malformed numbers are one error token each") {
  for (const char *text : {"5.", "1e", "3x", "1.e5", "1_000", "1.2.3"}) {
    CAPTURE(text);
    Lexed lexed = lexText(text);
    REQUIRE(lexed.tokens.size() == 2);
    CHECK(lexed.tokens[0].kind == TokenKind::Error);
    CHECK(lexed.errors == 1);
    std::string caret(std::string(text).size() - 1, '~');
    CHECK(lexed.diagnostics == std::string("t.slope:1:1: error: invalid number '") + text + "'\n" +
                                   "   1 | " + text + "\n" + "     | ^" + caret + "\n");
  }
}

// Regression: the lexer once took whatever strtod accepts, so `0x10` was 16. The
// grammar's numbers are decimal only (`1`, `-0.5`, `1e-2`, `.5`).
TEST_CASE("lexer: hexadecimal numbers are not accepted") {
  for (const char *text : {"0x10", "0x1p3", "-0x4"}) {
    CAPTURE(text);
    Lexed lexed = lexText(text);
    REQUIRE(lexed.tokens.size() == 2);
    CHECK(lexed.tokens[0].kind == TokenKind::Error);
    CHECK(lexed.diagnostics.rfind(std::string("t.slope:1:1: error: invalid number '") + text + "'\n", 0) == 0);
  }
}

TEST_CASE("lexer: punctuation, the pipe, keywords and identifiers") {
  Lexed lexed = lexText("network n { input x : f32[3] y = f(x, a = true) |> g(false) output y }");
  CHECK(lexed.errors == 0);
  std::vector<TokenKind> expected = {
      TokenKind::KwNetwork, TokenKind::Identifier, TokenKind::LBrace,   TokenKind::KwInput,
      TokenKind::Identifier, TokenKind::Colon,     TokenKind::Identifier, TokenKind::LBracket,
      TokenKind::Number,     TokenKind::RBracket,  TokenKind::Identifier, TokenKind::Equal,
      TokenKind::Identifier, TokenKind::LParen,    TokenKind::Identifier, TokenKind::Comma,
      TokenKind::Identifier, TokenKind::Equal,     TokenKind::KwTrue,    TokenKind::RParen,
      TokenKind::Pipe,       TokenKind::Identifier, TokenKind::LParen,   TokenKind::KwFalse,
      TokenKind::RParen,     TokenKind::KwOutput,  TokenKind::Identifier, TokenKind::RBrace,
      TokenKind::Eof};
  CHECK(kinds(lexed) == expected);
  CHECK(lexed.tokens[1].text == "n");
  CHECK(lexed.tokens[6].text == "f32");
  CHECK(lexed.tokens[8].number == 3.0);
  // The pipe is one two-byte token.
  CHECK(lexed.tokens[20].range.length == 2);
  // Keywords are whole words only.
  Lexed words = lexText("inputs network_ _output True x1");
  std::vector<TokenKind> five(5, TokenKind::Identifier);
  five.push_back(TokenKind::Eof);
  CHECK(kinds(words) == five);
  CHECK(words.tokens[0].text == "inputs");
}

TEST_CASE("lexer: a lone `|` is an invalid character") {
  Lexed lexed = lexText("a | b");
  CHECK(kinds(lexed) == std::vector<TokenKind>{TokenKind::Identifier, TokenKind::Identifier, TokenKind::Eof});
  CHECK(lexed.diagnostics == "t.slope:1:3: error: invalid character '|' in source\n"
                             "   1 | a | b\n"
                             "     |   ^\n");
}

TEST_CASE("lexer: comments run to the end of the line") {
  Lexed lexed = lexText("# a comment with | and \"quotes\n  x = # another ) (\n  y\n");
  CHECK(lexed.errors == 0);
  REQUIRE(kinds(lexed) == std::vector<TokenKind>{TokenKind::Identifier, TokenKind::Equal,
                                                 TokenKind::Identifier, TokenKind::Eof});
  CHECK(lexed.tokens[0].text == "x");
  CHECK(lexed.tokens[2].text == "y");
}

TEST_CASE("lexer: line-start flags") {
  Lexed lexed = lexText("a b\n  c # comment\n\n d e\n# only a comment\nf");
  REQUIRE(lexed.tokens.size() == 7);
  std::vector<bool> flags;
  for (const Token &t : lexed.tokens)
    flags.push_back(t.atLineStart);
  CHECK(flags == std::vector<bool>{true, false, true, true, false, true, true});
  CHECK(lexed.tokens[5].text == "f");
}

TEST_CASE("lexer: strings") {
  Lexed lexed = lexText(R"(approximate = "tanh" "" "a\"b\\c")");
  CHECK(lexed.errors == 0);
  REQUIRE(kinds(lexed) == std::vector<TokenKind>{TokenKind::Identifier, TokenKind::Equal, TokenKind::String,
                                                 TokenKind::String, TokenKind::String, TokenKind::Eof});
  CHECK(lexed.tokens[2].text == "tanh");
  CHECK(lexed.tokens[2].range.length == 6);
  CHECK(lexed.tokens[3].text == "");
  CHECK(lexed.tokens[4].text == "a\"b\\c");
}

TEST_CASE("lexer: an unterminated string ends at the line, followed by an error token") {
  Lexed lexed = lexText("f(\"tanh)\nx");
  CHECK(kinds(lexed) == std::vector<TokenKind>{TokenKind::Identifier, TokenKind::LParen, TokenKind::String,
                                               TokenKind::Error, TokenKind::Identifier, TokenKind::Eof});
  CHECK(lexed.tokens[2].text == "tanh)");
  CHECK(lexed.tokens[4].atLineStart);
  CHECK(lexed.diagnostics ==
        "t.slope:1:3: error: unterminated string; strings end with `\"` on the same line\n"
        "   1 | f(\"tanh)\n"
        "     |   ^~~~~~\n");
}

TEST_CASE("lexer: invalid bytes") {
  Lexed lexed = lexText("a $ b\x01 \xff\xfe c");
  CHECK(kinds(lexed) == std::vector<TokenKind>{TokenKind::Identifier, TokenKind::Identifier,
                                               TokenKind::Identifier, TokenKind::Eof});
  CHECK(lexed.errors == 3);
  CHECK(lexed.diagnostics.find("error: invalid character '$' in source") != std::string::npos);
  CHECK(lexed.diagnostics.find("error: invalid character '\\x01' in source") != std::string::npos);
  CHECK(lexed.diagnostics.find("error: source is not valid UTF-8") != std::string::npos);
}

TEST_CASE("lexer: a snippet shows bad UTF-8 as U+FFFD and places carets by character") {
  // The diagnostic is valid UTF-8 whatever the source holds.
  Lexed bad = lexText("a \xff b");
  CHECK(bad.diagnostics == "t.slope:1:3: error: source is not valid UTF-8\n"
                           "   1 | a \xEF\xBF\xBD b\n"
                           "     |   ^\n");
  // A two-byte and a three-byte character before the error take one column each on the
  // caret line; the error's column stays a byte count.
  Lexed wide = lexText("\xC3\xA9\xE2\x86\x92 $");
  CHECK(wide.diagnostics == "t.slope:1:1: error: invalid character '\xC3\xA9' in source\n"
                            "   1 | \xC3\xA9\xE2\x86\x92 $\n"
                            "     | ^\n"
                            "t.slope:1:3: error: invalid character '\xE2\x86\x92' in source\n"
                            "   1 | \xC3\xA9\xE2\x86\x92 $\n"
                            "     |  ^\n"
                            "t.slope:1:7: error: invalid character '$' in source\n"
                            "   1 | \xC3\xA9\xE2\x86\x92 $\n"
                            "     |    ^\n");
}

TEST_CASE("lexer: the end of the file") {
  Lexed empty = lexText("");
  REQUIRE(empty.tokens.size() == 1);
  CHECK(empty.tokens[0].kind == TokenKind::Eof);
  Lexed trailing = lexText("x  \n");
  REQUIRE(trailing.tokens.size() == 2);
  CHECK(trailing.tokens[1].kind == TokenKind::Eof);
  CHECK(trailing.tokens[1].range.offset == 4);
}
