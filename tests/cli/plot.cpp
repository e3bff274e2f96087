// `slope plot`: the SVG is well-formed XML (checked by a small parser here), has one
// legend entry and one curve per expression, and its polyline points map back through
// the axis transform recorded in the file to the reference evaluator's values within a
// pixel; bad expressions, ranges and unplottable ops are clear errors that write nothing.
#include "TestUtil.h"

#include "compiler/eval/Derivatives.h"
#include "compiler/eval/Reference.h"

#include <doctest/doctest.h>

#include <cmath>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace slope;
namespace fs = std::filesystem;

namespace {

struct Element {
  std::string name;
  std::map<std::string, std::string> attrs;
};

/// A minimal XML well-formedness check: a prolog, balanced and properly nested tags,
/// quoted attributes without duplicates, known entities only, one root. Returns the
/// elements in document order; fails the test on the first problem.
std::vector<Element> parseXml(const std::string &text) {
  std::vector<Element> elements;
  std::vector<std::string> open;
  size_t i = 0, roots = 0;
  REQUIRE(text.rfind("<?xml", 0) == 0);
  i = text.find("?>");
  REQUIRE(i != std::string::npos);
  i += 2;
  auto checkIn = [](const std::string &in, size_t from, size_t to) {
    for (size_t j = from; j < to; ++j) {
      REQUIRE(in[j] != '<');
      if (in[j] == '&') {
        size_t semi = in.find(';', j);
        REQUIRE(semi != std::string::npos);
        std::string entity = in.substr(j, semi - j + 1);
        bool known = entity == "&amp;" || entity == "&lt;" || entity == "&gt;" ||
                     entity == "&quot;" || entity == "&apos;";
        INFO(entity);
        REQUIRE(known);
      }
    }
  };
  auto checkText = [&](size_t from, size_t to) { checkIn(text, from, to); };
  while (true) {
    size_t lt = text.find('<', i);
    if (lt == std::string::npos) {
      checkText(i, text.size());
      break;
    }
    checkText(i, lt);
    if (!open.empty() || elements.empty()) {
    } else {
      REQUIRE(text.substr(i, lt - i).find_first_not_of(" \n\t\r") == std::string::npos);
    }
    size_t gt = lt + 1;
    char quote = 0;
    for (; gt < text.size(); ++gt) {
      if (quote) {
        if (text[gt] == quote)
          quote = 0;
        else
          REQUIRE(text[gt] != '<');
      } else if (text[gt] == '"' || text[gt] == '\'') {
        quote = text[gt];
      } else if (text[gt] == '>') {
        break;
      }
    }
    REQUIRE(gt < text.size());
    std::string tag = text.substr(lt + 1, gt - lt - 1);
    i = gt + 1;
    if (tag[0] == '/') {
      REQUIRE(!open.empty());
      REQUIRE(open.back() == tag.substr(1));
      open.pop_back();
      continue;
    }
    bool selfClosing = tag.back() == '/';
    if (selfClosing)
      tag.pop_back();
    Element e;
    size_t p = tag.find_first_of(" \n\t");
    e.name = tag.substr(0, p);
    REQUIRE(!e.name.empty());
    while (p != std::string::npos) {
      p = tag.find_first_not_of(" \n\t", p);
      if (p == std::string::npos)
        break;
      size_t eq = tag.find('=', p);
      REQUIRE(eq != std::string::npos);
      std::string name = tag.substr(p, eq - p);
      REQUIRE(eq + 1 < tag.size());
      char q = tag[eq + 1];
      REQUIRE((q == '"' || q == '\''));
      size_t end = tag.find(q, eq + 2);
      REQUIRE(end != std::string::npos);
      checkIn(tag, eq + 2, end);
      REQUIRE(e.attrs.count(name) == 0);
      e.attrs[name] = tag.substr(eq + 2, end - eq - 2);
      p = end + 1;
      REQUIRE((p >= tag.size() || tag[p] == ' ' || tag[p] == '\n'));
    }
    if (open.empty())
      ++roots;
    elements.push_back(e);
    if (!selfClosing)
      open.push_back(e.name);
  }
  REQUIRE(open.empty());
  REQUIRE(roots == 1);
  return elements;
}

std::vector<double> numbers(const std::string &s) {
  std::vector<double> v;
  std::istringstream in(s);
  double d;
  while (in >> d)
    v.push_back(d);
  return v;
}

using testutil::opNode;

/// Checks the curves of `svg` against `expected` (label, node) pairs.
void checkCurves(const std::string &svg, const std::vector<std::pair<std::string, ir::Node>> &expected,
                 double lo, double hi, bool derivative) {
  std::vector<Element> elements = parseXml(svg);
  REQUIRE(elements.front().name == "svg");
  const Element *plot = nullptr;
  for (const Element &e : elements)
    if (e.attrs.count("id") && e.attrs.at("id") == "plot")
      plot = &e;
  REQUIRE(plot);
  std::vector<double> xr = numbers(plot->attrs.at("data-x-range"));
  std::vector<double> yr = numbers(plot->attrs.at("data-y-range"));
  std::vector<double> box = numbers(plot->attrs.at("data-box"));
  REQUIRE(xr.size() == 2);
  REQUIRE(yr.size() == 2);
  REQUIRE(box.size() == 4);
  CHECK(xr[0] == lo);
  CHECK(xr[1] == hi);
  size_t curve = 0;
  for (size_t k = 0; k < elements.size(); ++k) {
    const Element &e = elements[k];
    if (!(e.name == "g" && e.attrs.count("class") && e.attrs.at("class") == "curve"))
      continue;
    REQUIRE(curve < expected.size());
    std::string label = expected[curve].first + (derivative ? " (derivative)" : "");
    // The label as XML text: the expression's quotes are entities.
    std::string escaped;
    for (char ch : label)
      escaped += ch == '"' ? std::string("&quot;") : std::string(1, ch);
    CHECK(e.attrs.at("data-label") == escaped);
    CHECK(svg.find(">" + escaped + "</text>") != std::string::npos); // the legend entry
    const ir::Node &n = expected[curve].second;
    int points = 0;
    for (size_t j = k + 1; j < elements.size() && elements[j].name == "polyline"; ++j) {
      std::istringstream in(elements[j].attrs.at("points"));
      std::string pair;
      while (in >> pair) {
        size_t comma = pair.find(',');
        double px = std::stod(pair.substr(0, comma)), py = std::stod(pair.substr(comma + 1));
        double x = xr[0] + (px - box[0]) * (xr[1] - xr[0]) / box[2];
        // The sample this point stands for: 1001 evenly spaced x.
        double step = (hi - lo) / 1000;
        double sample = lo + step * std::round((x - lo) / step);
        auto xs = static_cast<float>(sample);
        double y = derivative ? eval::activationDerivative(n, xs, 0.25f)
                              : eval::applyActivation(n, xs, 0.25f);
        double expectPx = box[0] + (double(xs) - xr[0]) * box[2] / (xr[1] - xr[0]);
        double expectPy = box[1] + (yr[1] - y) * box[3] / (yr[1] - yr[0]);
        INFO(label << " at x = " << xs);
        CHECK(std::fabs(px - expectPx) <= 1.0);
        CHECK(std::fabs(py - expectPy) <= 1.0);
        ++points;
      }
    }
    CHECK(points >= 990);
    ++curve;
  }
  CHECK(curve == expected.size());
}

} // namespace

TEST_CASE("slope plot: activations, their legend, and points that match the evaluator") {
  fs::path dir = testutil::scratchDir("plot");
  std::string out = (dir / "act.svg").string();
  auto r = testutil::runSlope({"plot", "leaky_relu(alpha = 0.1)", "elu", "relu", "gelu(approximate = \"tanh\")",
                               "softplus(beta = 2)", "-o", out});
  INFO(r.err);
  REQUIRE(r.status == 0);
  checkCurves(testutil::readBytes(out),
              {{"leaky_relu(alpha = 0.1)", opNode(ir::Op::LeakyRelu, {0.1})},
               {"elu", opNode(ir::Op::Elu)},
               {"relu", opNode(ir::Op::Relu)},
               {"gelu(approximate = \"tanh\")", opNode(ir::Op::Gelu, {1})},
               {"softplus(beta = 2)", opNode(ir::Op::Softplus, {2})}},
              -5, 5, false);
}

TEST_CASE("slope plot: derivatives over a range") {
  fs::path dir = testutil::scratchDir("plot-derivative");
  std::string out = (dir / "d.svg").string();
  auto r = testutil::runSlope({"plot", "sigmoid", "tanh()", "prelu", "relu6", "--derivative",
                               "--range=-8,8", "-o", out});
  INFO(r.err);
  REQUIRE(r.status == 0);
  checkCurves(testutil::readBytes(out),
              {{"sigmoid", opNode(ir::Op::Sigmoid)},
               {"tanh()", opNode(ir::Op::Tanh)},
               {"prelu", opNode(ir::Op::Prelu)},
               {"relu6", opNode(ir::Op::Relu6)}},
              -8, 8, true);
  r = testutil::runSlope({"plot", "silu", "--range", "-3,2.5", "-o", out});
  INFO(r.err);
  REQUIRE(r.status == 0);
  checkCurves(testutil::readBytes(out), {{"silu", opNode(ir::Op::Silu)}}, -3, 2.5, false);
}

TEST_CASE("slope plot: errors are clear and write nothing") {
  fs::path dir = testutil::scratchDir("plot-errors");
  std::string out = (dir / "never.svg").string();
  struct Bad {
    std::vector<std::string> args;
    int status;
    std::string message;
  };
  std::vector<Bad> cases = {
      {{"plot", "leaky_rleu", "-o", out}, 1, "unknown activation 'leaky_rleu'"},
      {{"plot", "elu(alpha = )", "-o", out}, 1, "error:"},
      {{"plot", "gelu(approximate = \"cubic\")", "-o", out}, 1, "error:"},
      {{"plot", "crelu", "-o", out}, 1, "cannot plot `crelu`"},
      {{"plot", "softmax", "-o", out}, 1, "cannot plot `softmax`"},
      {{"plot", "dense(units = 3)", "-o", out}, 1, "cannot plot `dense(units = 3)`"},
      {{"plot", "elu", "--range=5,-5", "-o", out}, 1, "invalid --range '5,-5'"},
      {{"plot", "elu", "--range=a,b", "-o", out}, 1, "invalid --range"},
      {{"plot", "elu", "--range=1", "-o", out}, 1, "invalid --range"},
      {{"plot", "elu", "--range=0,inf", "-o", out}, 1, "invalid --range"},
      {{"plot", "elu"}, 2, ""},
      {{"plot", "-o", out}, 2, ""},
      {{"plot", "elu", "-o", (dir / "missing" / "x.svg").string()}, 1,
       "error: " + (dir / "missing" / "x.svg").string() +
           ": cannot write file: No such file or directory\n"},
  };
  for (const Bad &b : cases) {
    auto r = testutil::runSlope(b.args);
    INFO(b.args[1] << " " << (b.args.size() > 2 ? b.args[2] : "") << ": " << r.err);
    CHECK(r.status == b.status);
    CHECK(r.err.find(b.message) != std::string::npos);
    CHECK(!fs::exists(out));
  }
  CHECK(fs::is_empty(dir));
}

// Regression: plot had its own writer, which replaced a symbolic link (or, as root, a
// device such as /dev/null) with a regular file. It now shares writeFilesAtomically.
TEST_CASE("plot -o follows a symbolic link, through the shared writer") {
  fs::path dir = testutil::scratchDir("cli_plot_output_kinds");
  testutil::writeBytes(dir / "target.svg", "old\n");
  fs::create_symlink("target.svg", dir / "link.svg");
  auto r = testutil::runSlope({"plot", "elu", "-o", "link.svg"}, dir.string());
  CHECK(r.status == 0);
  CHECK(fs::is_symlink(dir / "link.svg"));
  CHECK(testutil::readBytes(dir / "target.svg").find("<svg ") != std::string::npos);
}
