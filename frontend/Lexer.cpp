#include "frontend/Lexer.h"

#include <cstdlib>
#include <optional>

namespace slope {

namespace {

bool isIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isIdentChar(char c) { return isIdentStart(c) || isDigit(c); }

TokenKind keywordOrIdentifier(std::string_view word) {
  if (word == "network")
    return TokenKind::KwNetwork;
  if (word == "input")
    return TokenKind::KwInput;
  if (word == "output")
    return TokenKind::KwOutput;
  if (word == "true")
    return TokenKind::KwTrue;
  if (word == "false")
    return TokenKind::KwFalse;
  return TokenKind::Identifier;
}

class Lexer {
public:
  Lexer(const Source &source, DiagnosticEngine &diags)
      : text_(source.text()), diags_(diags) {}

  std::vector<Token> run() {
    std::vector<Token> tokens;
    bool atLineStart = true;
    while (true) {
      atLineStart |= skipTrivia();
      if (pos_ >= text_.size())
        break;
      std::optional<Token> token = next();
      if (!token)
        continue; // an invalid character, reported and dropped
      token->atLineStart = atLineStart;
      atLineStart = false;
      tokens.push_back(std::move(*token));
      if (unterminated_) {
        // What follows an unterminated string on its line is lost: an Error token
        // makes the parser skip to the next statement without another report.
        Token lost;
        lost.kind = TokenKind::Error;
        lost.range = range(pos_, pos_);
        tokens.push_back(lost);
        unterminated_ = false;
      }
    }
    Token eof;
    eof.kind = TokenKind::Eof;
    eof.range = {static_cast<uint32_t>(text_.size()), 0};
    eof.atLineStart = true;
    tokens.push_back(eof);
    return tokens;
  }

private:
  /// Skips white space and comments; returns whether a line break was crossed.
  bool skipTrivia() {
    bool newline = false;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == '\n') {
        newline = true;
        ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '#') {
        bool reported = false;
        while (pos_ < text_.size() && text_[pos_] != '\n') {
          size_t n = utf8Length(text_, pos_);
          if (n == 0 && !reported) {
            diags_.report(DiagKind::InvalidUtf8, range(pos_, pos_ + 1));
            reported = true; // once per comment
          }
          pos_ += n == 0 ? 1 : n;
        }
      } else {
        break;
      }
    }
    return newline;
  }

  Token make(TokenKind kind, size_t begin) {
    Token t;
    t.kind = kind;
    t.range = range(begin, pos_);
    return t;
  }

  static SourceRange range(size_t begin, size_t end) {
    return {static_cast<uint32_t>(begin), static_cast<uint32_t>(end - begin)};
  }

  std::optional<Token> next() {
    size_t begin = pos_;
    char c = text_[pos_];
    if (isIdentStart(c)) {
      while (pos_ < text_.size() && isIdentChar(text_[pos_]))
        ++pos_;
      Token t = make(keywordOrIdentifier(text_.substr(begin, pos_ - begin)), begin);
      t.text = std::string(text_.substr(begin, pos_ - begin));
      return t;
    }
    if (isDigit(c) || ((c == '-' || c == '.') && pos_ + 1 < text_.size() &&
                       (isDigit(text_[pos_ + 1]) || (text_[pos_ + 1] == '.' && c == '-'))))
      return number();
    if (c == '"')
      return string();
    ++pos_;
    switch (c) {
    case '{':
      return make(TokenKind::LBrace, begin);
    case '}':
      return make(TokenKind::RBrace, begin);
    case '(':
      return make(TokenKind::LParen, begin);
    case ')':
      return make(TokenKind::RParen, begin);
    case '[':
      return make(TokenKind::LBracket, begin);
    case ']':
      return make(TokenKind::RBracket, begin);
    case ',':
      return make(TokenKind::Comma, begin);
    case ':':
      return make(TokenKind::Colon, begin);
    case '=':
      return make(TokenKind::Equal, begin);
    case '|':
      if (pos_ < text_.size() && text_[pos_] == '>') {
        ++pos_;
        return make(TokenKind::Pipe, begin);
      }
      break;
    default:
      break;
    }
    return invalidCharacter(begin);
  }

  std::nullopt_t invalidCharacter(size_t begin) {
    size_t n = utf8Length(text_, begin);
    if (n == 0) {
      pos_ = begin + 1;
      diags_.report(DiagKind::InvalidUtf8, range(begin, pos_));
      // One report per run of bad bytes is enough.
      while (pos_ < text_.size() && utf8Length(text_, pos_) == 0)
        ++pos_;
      return std::nullopt;
    }
    pos_ = begin + n;
    std::string shown(text_.substr(begin, n));
    unsigned char c = static_cast<unsigned char>(text_[begin]);
    if (n == 1 && (c < 0x20 || c == 0x7f))
      shown = fmt::format("\\x{:02x}", c);
    diags_.report(DiagKind::InvalidCharacter, range(begin, pos_), shown);
    return std::nullopt;
  }

  Token number() {
    size_t begin = pos_;
    if (text_[pos_] == '-')
      ++pos_;
    while (pos_ < text_.size() && isDigit(text_[pos_]))
      ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      while (pos_ < text_.size() && isDigit(text_[pos_]))
        ++pos_;
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-'))
        ++pos_;
      while (pos_ < text_.size() && isDigit(text_[pos_]))
        ++pos_;
    }
    // Letters glued to a number ("3x", "1e", "0x10") make it one malformed token.
    size_t scanned = pos_;
    while (pos_ < text_.size() && (isIdentChar(text_[pos_]) || text_[pos_] == '.'))
      ++pos_;
    std::string spelling(text_.substr(begin, pos_ - begin));
    char *end = nullptr;
    double value = std::strtod(spelling.c_str(), &end);
    if (scanned != pos_ || end != spelling.c_str() + spelling.size() || spelling.back() == '.' ||
        spelling.find(".e") != std::string::npos || spelling.find(".E") != std::string::npos) {
      // Kept as an Error token: the parser takes it as an argument it need not check.
      diags_.report(DiagKind::InvalidNumber, range(begin, pos_), spelling);
      return make(TokenKind::Error, begin);
    }
    Token t = make(TokenKind::Number, begin);
    t.number = value;
    t.text = std::move(spelling);
    return t;
  }

  Token string() {
    size_t begin = pos_++;
    std::string contents;
    while (pos_ < text_.size() && text_[pos_] != '"' && text_[pos_] != '\n') {
      if (text_[pos_] == '\\' && pos_ + 1 < text_.size() &&
          (text_[pos_ + 1] == '"' || text_[pos_ + 1] == '\\'))
        ++pos_;
      contents += text_[pos_++];
    }
    if (pos_ >= text_.size() || text_[pos_] != '"') {
      diags_.report(DiagKind::UnterminatedString, range(begin, pos_));
      unterminated_ = true;
    } else {
      ++pos_;
    }
    Token t = make(TokenKind::String, begin);
    t.text = std::move(contents);
    return t;
  }

  std::string_view text_;
  DiagnosticEngine &diags_;
  size_t pos_ = 0;
  bool unterminated_ = false;
};

} // namespace

std::vector<Token> lex(const Source &source, DiagnosticEngine &diags) {
  return Lexer(source, diags).run();
}

std::string describeToken(const Token &token) {
  switch (token.kind) {
  case TokenKind::Identifier:
    return fmt::format("'{}'", token.text);
  case TokenKind::Number:
    return fmt::format("number {}", token.text);
  case TokenKind::String:
    return fmt::format("string \"{}\"", token.text);
  case TokenKind::KwNetwork:
    return "`network`";
  case TokenKind::KwInput:
    return "`input`";
  case TokenKind::KwOutput:
    return "`output`";
  case TokenKind::KwTrue:
    return "`true`";
  case TokenKind::KwFalse:
    return "`false`";
  case TokenKind::LBrace:
    return "`{`";
  case TokenKind::RBrace:
    return "`}`";
  case TokenKind::LParen:
    return "`(`";
  case TokenKind::RParen:
    return "`)`";
  case TokenKind::LBracket:
    return "`[`";
  case TokenKind::RBracket:
    return "`]`";
  case TokenKind::Comma:
    return "`,`";
  case TokenKind::Colon:
    return "`:`";
  case TokenKind::Equal:
    return "`=`";
  case TokenKind::Pipe:
    return "`|>`";
  case TokenKind::Error:
    return "an invalid token";
  case TokenKind::Eof:
    return "the end of the file";
  }
  return "a token";
}

} // namespace slope
