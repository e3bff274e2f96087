// `slope plot EXPR... -o FILE.svg [--derivative] [--range -5,5]`: draws activations (or
// their derivatives) with the reference evaluator. Each EXPR is a call with keyword
// arguments, `leaky_relu(alpha = 0.1)`, or a bare name, `elu`; it is checked by the
// frontend as the statement `y = EXPR` of a one-input network, so its diagnostics are
// the language's.
#include "compiler/eval/Derivatives.h"
#include "compiler/eval/Reference.h"
#include "compiler/plot/Svg.h"
#include "runtime/DataFile.h"
#include "src/Driver.h"
#include "tools/slope/Commands.h"

#include "slope/slope.hpp"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

namespace slope::cli {

namespace {

constexpr int kPoints = 1001;
/// prelu's slope when plotted: PyTorch's initial value for nn.PReLU.
constexpr float kPreluSlope = 0.25f;

struct PlotOptions {
  std::vector<std::string> expressions;
  std::string output;
  bool derivative = false;
  std::string range = "-5,5";
};

/// "elu" -> "elu(x)", "leaky_relu(alpha = 0.1)" -> "leaky_relu(x, alpha = 0.1)".
std::string withInput(const std::string &expr) {
  size_t open = expr.find('(');
  if (open == std::string::npos)
    return expr + "(x)";
  size_t body = expr.find_first_not_of(" \t", open + 1);
  bool empty = body != std::string::npos && expr[body] == ')';
  return expr.substr(0, open + 1) + (empty ? "x" : "x, ") + expr.substr(open + 1);
}

/// The activation node an expression names, checked by the frontend.
ir::Node activationOf(const std::string &expr) {
  std::string text =
      "network p {\n  input x : f32[1]\n  y = " + withInput(expr) + "\n  output y\n}\n";
  Source source("<plot expression '" + expr + "'>", text);
  ir::Module module = driver::compileSource(source);
  const ir::Graph &graph = module.networks.front();
  const ir::Node &node = graph.node(graph.output);
  bool oneToOne = node.op != ir::Op::Input && ir::isActivation(node.op) &&
                  ir::opInfo(node.op).fusion == ir::FusionKind::Elementwise &&
                  graph.nodes.size() == 2;
  if (!oneToOne)
    fail("cannot plot `" + expr + "`: only activations of one value are plotted (not "
         "`crelu`, `softmax`, `dense` or `add`)");
  return node;
}

void parseRange(const std::string &text, double &lo, double &hi) {
  size_t comma = text.find(',');
  auto number = [&](const std::string &s, double &out) {
    size_t used = 0;
    try {
      out = std::stod(s, &used);
    } catch (const std::exception &) {
      return false;
    }
    return used == s.size() && std::isfinite(out);
  };
  if (comma == std::string::npos || !number(text.substr(0, comma), lo) ||
      !number(text.substr(comma + 1), hi) || !(lo < hi))
    fail("invalid --range '" + text + "'; expected two finite numbers LO,HI with LO < HI, "
         "e.g. --range -5,5");
}

int runPlot(const PlotOptions &options) {
  double lo = 0, hi = 0;
  parseRange(options.range, lo, hi);
  std::vector<ir::Node> nodes;
  for (const std::string &expr : options.expressions)
    nodes.push_back(activationOf(expr));
  std::vector<plot::Curve> curves;
  for (size_t i = 0; i < nodes.size(); ++i) {
    plot::Curve curve;
    curve.label = options.expressions[i] + (options.derivative ? " (derivative)" : "");
    for (int p = 0; p < kPoints; ++p) {
      auto x = static_cast<float>(lo + (hi - lo) * p / (kPoints - 1));
      float y = options.derivative ? eval::activationDerivative(nodes[i], x, kPreluSlope)
                                   : eval::applyActivation(nodes[i], x, kPreluSlope);
      curve.x.push_back(x);
      curve.y.push_back(y);
    }
    curves.push_back(std::move(curve));
  }
  std::string title = options.derivative ? "Derivatives of activations" : "Activations";
  plot::Frame frame = plot::frameFor(curves, lo, hi);
  std::string svg = plot::renderSvg(curves, title, frame);
  runtime::detail::OutputFile file{options.output, svg};
  try {
    runtime::detail::writeFilesAtomically({&file, 1});
  } catch (const runtime::DataError &e) {
    fail(e.what());
  }
  return 0;
}

} // namespace

Command addPlotCommand(CLI::App &app) {
  auto options = std::make_shared<PlotOptions>();
  CLI::App *cmd = app.add_subcommand("plot", "Plot activations (or their derivatives) as SVG");
  cmd->add_option("EXPR", options->expressions,
                  "activations, e.g. \"leaky_relu(alpha = 0.1)\" elu")
      ->required();
  cmd->add_option("-o,--output", options->output, "the SVG file to write")->required();
  cmd->add_flag("--derivative", options->derivative, "plot the derivatives instead");
  cmd->add_option("--range", options->range, "the x range LO,HI (default -5,5)");
  return {cmd, [options] { return runPlot(*options); }};
}

} // namespace slope::cli
