#include "frontend/Parser.h"

namespace slope {

namespace {

SourceRange join(SourceRange a, SourceRange b) {
  uint32_t end = std::max(a.offset + a.length, b.offset + b.length);
  return {a.offset, end - a.offset};
}

class Parser {
public:
  Parser(std::vector<Token> tokens, DiagnosticEngine &diags)
      : tokens_(std::move(tokens)), diags_(diags) {}

  ast::File file() {
    ast::File file;
    while (!at(TokenKind::Eof)) {
      if (at(TokenKind::KwNetwork)) {
        file.networks.push_back(network());
        continue;
      }
      expected(DiagKind::ExpectedNetwork);
      do
        ++pos_;
      while (!at(TokenKind::Eof) && !at(TokenKind::KwNetwork));
    }
    return file;
  }

private:
  const Token &peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  bool at(TokenKind kind) const { return peek().kind == kind; }
  const Token &take() {
    const Token &t = peek();
    if (pos_ < tokens_.size() - 1)
      ++pos_;
    return t;
  }

  /// Reports that something else was expected at the current token. A malformed token
  /// has been reported by the lexer already, so it is not reported twice.
  template <typename... Args> void expected(DiagKind kind, const Args &...args) {
    if (at(TokenKind::Error))
      return;
    if constexpr (sizeof...(Args) == 0)
      diags_.report(kind, peek().range, describeToken(peek()));
    else
      diags_.report(kind, peek().range, args..., describeToken(peek()));
  }

  bool expect(TokenKind kind, std::string_view what) {
    if (at(kind)) {
      take();
      return true;
    }
    expected(DiagKind::ExpectedToken, what);
    return false;
  }

  /// After a syntax error: skip to the first token of a line that can begin a
  /// statement, or to the end of the network. The token the error was found at may
  /// itself begin the next statement (`a = relu(x` followed by `output a`), so it is
  /// kept, unless nothing at all was consumed since `start` (then it must go, or the
  /// parser would not make progress).
  void recover(size_t start) {
    if (pos_ == start)
      take();
    while (true) {
      const Token &t = peek();
      if (t.kind == TokenKind::Eof || t.kind == TokenKind::RBrace || t.kind == TokenKind::KwNetwork)
        return;
      if (t.atLineStart && (t.kind == TokenKind::Identifier || t.kind == TokenKind::KwInput ||
                            t.kind == TokenKind::KwOutput))
        return;
      take();
    }
  }

  ast::Network network() {
    take(); // `network`
    ast::Network net;
    if (at(TokenKind::Identifier)) {
      net.name = peek().text;
      net.nameRange = take().range;
    } else {
      net.nameRange = peek().range;
      expected(DiagKind::ExpectedToken, "a network name");
      if (!at(TokenKind::LBrace)) {
        recover(pos_);
        net.skippedTokens = true;
        if (at(TokenKind::RBrace))
          take();
        return net;
      }
    }
    if (!expect(TokenKind::LBrace, "`{` after the network name")) {
      recover(pos_);
      net.skippedTokens = true;
    }
    while (!at(TokenKind::RBrace) && !at(TokenKind::Eof) && !at(TokenKind::KwNetwork)) {
      size_t start = pos_;
      std::optional<ast::Stmt> stmt = statement();
      if (stmt) {
        net.stmts.push_back(std::move(*stmt));
        continue;
      }
      if (broken_) {
        // Keep the name of a definition whose expression is broken, so that its uses
        // are not reported as undefined too.
        net.stmts.push_back(std::move(*broken_));
        broken_.reset();
      }
      recover(start);
      net.skippedTokens = true;
    }
    expect(TokenKind::RBrace, "`}` at the end of the network");
    return net;
  }

  std::optional<ast::Stmt> statement() {
    const Token &first = peek();
    if (first.kind == TokenKind::KwInput)
      return inputStatement();
    if (first.kind == TokenKind::KwOutput) {
      ast::Stmt stmt;
    stmt.kind = ast::Stmt::Kind::Output;
      SourceRange start = take().range;
      if (!at(TokenKind::Identifier)) {
        expected(DiagKind::ExpectedToken, "the name of the output value");
        return std::nullopt;
      }
      stmt.name = peek().text;
      stmt.nameRange = take().range;
      stmt.range = join(start, stmt.nameRange);
      return stmt;
    }
    if (first.kind == TokenKind::Identifier) {
      ast::Stmt stmt;
    stmt.kind = ast::Stmt::Kind::Assign;
      stmt.name = first.text;
      stmt.nameRange = take().range;
      if (!at(TokenKind::Equal)) {
        // Point at the name, not at what follows: that is often the next line.
        if (!at(TokenKind::Error))
          diags_.report(DiagKind::ExpectedEquals, stmt.nameRange, stmt.name, describeToken(peek()));
        return std::nullopt;
      }
      take();
      stmt.value = expression();
      if (!stmt.value)
        return brokenAfterName(std::move(stmt));
      stmt.range = join(stmt.nameRange, stmt.value->range);
      return stmt;
    }
    expected(DiagKind::ExpectedStatement);
    return std::nullopt;
  }

  std::optional<ast::Stmt> inputStatement() {
    ast::Stmt stmt;
    stmt.kind = ast::Stmt::Kind::Input;
    SourceRange start = take().range;
    if (!at(TokenKind::Identifier)) {
      expected(DiagKind::ExpectedToken, "the name of the input");
      return std::nullopt;
    }
    stmt.name = peek().text;
    stmt.nameRange = take().range;
    if (!expect(TokenKind::Colon, "`:` and a type"))
      return brokenAfterName(std::move(stmt));
    if (!at(TokenKind::Identifier)) {
      expected(DiagKind::ExpectedToken, "a type such as `f32[64]`");
      return brokenAfterName(std::move(stmt));
    }
    if (peek().text != "f32") {
      diags_.report(DiagKind::UnsupportedElementType, peek().range, peek().text);
      // Go on reading the width: the rest of the statement can still be checked.
    }
    take();
    if (!expect(TokenKind::LBracket, "`[` and the width"))
      return brokenAfterName(std::move(stmt));
    if (!at(TokenKind::Number)) {
      expected(DiagKind::ExpectedToken, "the width");
      return brokenAfterName(std::move(stmt));
    }
    stmt.width = peek().number;
    stmt.widthRange = take().range;
    SourceRange end = peek().range;
    if (!expect(TokenKind::RBracket, "`]`"))
      return brokenAfterName(std::move(stmt));
    stmt.range = join(start, end);
    return stmt;
  }

  std::nullopt_t brokenAfterName(ast::Stmt stmt) {
    stmt.range = stmt.nameRange;
    stmt.broken = true;
    broken_ = std::move(stmt);
    return std::nullopt;
  }

  /// expr = (call | name) { "|>" call }, where a bare name must be followed by a pipe.
  std::unique_ptr<ast::Call> expression() {
    DepthGuard guard(depth_);
    ast::Arg head;
    if (at(TokenKind::Identifier) && peek(1).kind != TokenKind::LParen) {
      if (peek(1).kind != TokenKind::Pipe) {
        diags_.report(DiagKind::ExpectedCall, peek().range, describeToken(peek()),
                      fmt::format("; write `identity({})` to copy a value", peek().text));
        return nullptr;
      }
      head.kind = ast::Arg::Kind::Name;
      head.text = peek().text;
      head.range = take().range;
    } else {
      std::unique_ptr<ast::Call> first = call();
      if (!first)
        return nullptr;
      head.kind = ast::Arg::Kind::Call;
      head.range = first->range;
      head.call = std::move(first);
    }
    // Every stage nests what came before one level deeper; the calls of later stages
    // count as that deep too (a bound on the depth of each, not its exact value).
    while (at(TokenKind::Pipe)) {
      take();
      std::unique_ptr<ast::Call> next = call();
      if (!next)
        return nullptr;
      ++depth_;
      SourceRange whole = join(head.range, next->range);
      head.piped = true;
      next->args.insert(next->args.begin(), std::move(head));
      next->range = whole;
      head = ast::Arg{};
      head.kind = ast::Arg::Kind::Call;
      head.range = whole;
      head.call = std::move(next);
    }
    return std::move(head.call);
  }

  std::unique_ptr<ast::Call> call() {
    if (!at(TokenKind::Identifier)) {
      if (!at(TokenKind::Error))
        diags_.report(DiagKind::ExpectedCall, peek().range, describeToken(peek()), "");
      return nullptr;
    }
    if (depth_ >= kMaxDepth) {
      diags_.report(DiagKind::NestedTooDeeply, peek().range, kMaxDepth);
      return nullptr;
    }
    DepthGuard nested(depth_);
    ++depth_;
    auto c = std::make_unique<ast::Call>();
    c->callee = peek().text;
    c->calleeRange = take().range;
    if (!expect(TokenKind::LParen, fmt::format("`(` after '{}'", c->callee)))
      return nullptr;
    bool sawKeyword = false;
    if (!at(TokenKind::RParen)) {
      while (true) {
        std::optional<ast::Arg> arg = argument();
        if (!arg)
          return nullptr;
        if (arg->keyword)
          sawKeyword = true;
        else if (sawKeyword)
          diags_.report(DiagKind::PositionalAfterKeyword, arg->range);
        c->args.push_back(std::move(*arg));
        if (at(TokenKind::Comma)) {
          take();
          continue;
        }
        break;
      }
    }
    SourceRange end = peek().range;
    if (!expect(TokenKind::RParen, "`,` or `)`"))
      return nullptr;
    c->range = join(c->calleeRange, end);
    return c;
  }

  std::optional<ast::Arg> argument() {
    ast::Arg arg;
    const Token &t = peek();
    if (t.kind == TokenKind::Identifier && peek(1).kind == TokenKind::Equal) {
      arg.keyword = t.text;
      arg.keywordRange = take().range;
      take(); // `=`
      if (!literal(arg)) {
        expected(DiagKind::ExpectedKeywordValue, *arg.keyword);
        return std::nullopt;
      }
      arg.range = join(arg.keywordRange, arg.range);
      return arg;
    }
    if (t.kind == TokenKind::Identifier &&
        (peek(1).kind == TokenKind::LParen || peek(1).kind == TokenKind::Pipe)) {
      arg.call = expression();
      if (!arg.call)
        return std::nullopt;
      arg.kind = ast::Arg::Kind::Call;
      arg.range = arg.call->range;
      return arg;
    }
    if (t.kind == TokenKind::Identifier) {
      arg.kind = ast::Arg::Kind::Name;
      arg.text = t.text;
      arg.range = take().range;
      return arg;
    }
    if (literal(arg))
      return arg;
    expected(DiagKind::ExpectedArgument);
    return std::nullopt;
  }

  bool literal(ast::Arg &arg) {
    const Token &t = peek();
    switch (t.kind) {
    case TokenKind::Number:
      arg.kind = ast::Arg::Kind::Number;
      arg.number = t.number;
      arg.text = t.text;
      break;
    case TokenKind::KwTrue:
    case TokenKind::KwFalse:
      arg.kind = ast::Arg::Kind::Bool;
      arg.boolean = t.kind == TokenKind::KwTrue;
      break;
    case TokenKind::String:
      arg.kind = ast::Arg::Kind::String;
      arg.text = t.text;
      break;
    case TokenKind::Error:
      arg.kind = ast::Arg::Kind::Invalid;
      break;
    default:
      return false;
    }
    arg.range = take().range;
    return true;
  }

  /// How deeply calls may nest, pipe stages included. The tree is walked recursively
  /// here, by Lower and by the AST printer: 256 levels need under 300 KiB of stack in a
  /// release build (an AddressSanitizer build about ten times that), where 10,000 levels
  /// overflowed the main thread's 8 MiB.
  static constexpr int kMaxDepth = 256;

  /// Restores the nesting depth when a call or an expression has been parsed.
  struct DepthGuard {
    explicit DepthGuard(int &d) : depth(d), saved(d) {}
    ~DepthGuard() { depth = saved; }
    DepthGuard(const DepthGuard &) = delete;
    DepthGuard &operator=(const DepthGuard &) = delete;
    int &depth;
    int saved;
  };

  std::vector<Token> tokens_;
  DiagnosticEngine &diags_;
  size_t pos_ = 0;
  int depth_ = 0; // calls and pipe stages around the call being parsed
  std::optional<ast::Stmt> broken_;
};

} // namespace

ast::File parse(const Source &source, DiagnosticEngine &diags) {
  return Parser(lex(source, diags), diags).file();
}

} // namespace slope
