// Tokens to syntax tree. The parser reports every syntax error of a file: after one, it
// skips to the next line that can begin a statement and goes on.
#pragma once

#include "frontend/Ast.h"
#include "frontend/Lexer.h"

namespace slope {

ast::File parse(const Source &source, DiagnosticEngine &diags);

} // namespace slope
