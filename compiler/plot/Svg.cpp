#include "compiler/plot/Svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace slope::plot {

namespace {

constexpr double kPageWidth = 820, kPageHeight = 520;
constexpr double kLeft = 60, kTop = 50, kRight = 220, kBottom = 40;

// Colour-blind-safe palette (Okabe and Ito).
const char *const kColours[] = {"#0072B2", "#D55E00", "#009E73", "#CC79A7",
                                "#E69F00", "#56B4E9", "#F0E442", "#000000"};

std::string escapeXml(const std::string &text) {
  std::string out;
  for (char c : text) {
    switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    case '\'': out += "&apos;"; break;
    default: out += c; break;
    }
  }
  return out;
}

std::string number(double v) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.2f", v);
  return buffer;
}

/// A tick label: the shortest of %g that reads as the tick.
std::string tickLabel(double v) {
  if (std::fabs(v) < 1e-12)
    v = 0;
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%g", v);
  return buffer;
}

/// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `count` ticks.
double tickStep(double span, int count) {
  double raw = span / count;
  double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (m * magnitude >= raw)
      return m * magnitude;
  return 10 * magnitude;
}

} // namespace

Frame frameFor(const std::vector<Curve> &curves, double xMin, double xMax) {
  double lo = 0, hi = 0;
  for (const Curve &c : curves)
    for (double y : c.y)
      if (std::isfinite(y)) {
        lo = std::min(lo, y);
        hi = std::max(hi, y);
      }
  if (hi - lo < 1e-9) {
    hi += 1;
    lo -= 1;
  }
  double pad = 0.05 * (hi - lo);
  return Frame{xMin, xMax, lo - pad, hi + pad, kLeft, kTop,
               kPageWidth - kLeft - kRight, kPageHeight - kTop - kBottom};
}

std::string renderSvg(const std::vector<Curve> &curves, const std::string &title,
                      const Frame &f) {
  std::ostringstream s;
  s << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kPageWidth << "\" height=\""
    << kPageHeight << "\" viewBox=\"0 0 " << kPageWidth << " " << kPageHeight
    << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
    << "  <title>" << escapeXml(title) << "</title>\n"
    << "  <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    << "  <text x=\"" << number(f.left + f.width / 2) << "\" y=\"28\" text-anchor=\"middle\" "
    << "font-size=\"16\">" << escapeXml(title) << "</text>\n";

  // Grid and ticks.
  double xStep = tickStep(f.xMax - f.xMin, 10), yStep = tickStep(f.yMax - f.yMin, 8);
  double xAxis = std::clamp(0.0, f.yMin, f.yMax), yAxis = std::clamp(0.0, f.xMin, f.xMax);
  double axisY = f.toPixelY(xAxis), axisX = f.toPixelX(yAxis);
  s << "  <g id=\"grid\" stroke=\"#e0e0e0\" stroke-width=\"1\">\n";
  for (double x = std::ceil(f.xMin / xStep) * xStep; x <= f.xMax + 1e-9 * xStep; x += xStep)
    s << "    <line x1=\"" << number(f.toPixelX(x)) << "\" y1=\"" << number(f.top) << "\" x2=\""
      << number(f.toPixelX(x)) << "\" y2=\"" << number(f.top + f.height) << "\"/>\n";
  for (double y = std::ceil(f.yMin / yStep) * yStep; y <= f.yMax + 1e-9 * yStep; y += yStep)
    s << "    <line x1=\"" << number(f.left) << "\" y1=\"" << number(f.toPixelY(y)) << "\" x2=\""
      << number(f.left + f.width) << "\" y2=\"" << number(f.toPixelY(y)) << "\"/>\n";
  s << "  </g>\n";
  s << "  <g id=\"axes\" stroke=\"black\" stroke-width=\"1.2\">\n"
    << "    <line x1=\"" << number(f.left) << "\" y1=\"" << number(axisY) << "\" x2=\""
    << number(f.left + f.width) << "\" y2=\"" << number(axisY) << "\"/>\n"
    << "    <line x1=\"" << number(axisX) << "\" y1=\"" << number(f.top) << "\" x2=\""
    << number(axisX) << "\" y2=\"" << number(f.top + f.height) << "\"/>\n";
  for (double x = std::ceil(f.xMin / xStep) * xStep; x <= f.xMax + 1e-9 * xStep; x += xStep)
    s << "    <line x1=\"" << number(f.toPixelX(x)) << "\" y1=\"" << number(axisY - 4)
      << "\" x2=\"" << number(f.toPixelX(x)) << "\" y2=\"" << number(axisY + 4) << "\"/>\n";
  for (double y = std::ceil(f.yMin / yStep) * yStep; y <= f.yMax + 1e-9 * yStep; y += yStep)
    s << "    <line x1=\"" << number(axisX - 4) << "\" y1=\"" << number(f.toPixelY(y))
      << "\" x2=\"" << number(axisX + 4) << "\" y2=\"" << number(f.toPixelY(y)) << "\"/>\n";
  s << "  </g>\n  <g id=\"tick-labels\" fill=\"#333333\">\n";
  for (double x = std::ceil(f.xMin / xStep) * xStep; x <= f.xMax + 1e-9 * xStep; x += xStep)
    if (std::fabs(x) > 1e-9 * xStep)
      s << "    <text x=\"" << number(f.toPixelX(x)) << "\" y=\"" << number(axisY + 16)
        << "\" text-anchor=\"middle\">" << tickLabel(x) << "</text>\n";
  for (double y = std::ceil(f.yMin / yStep) * yStep; y <= f.yMax + 1e-9 * yStep; y += yStep)
    if (std::fabs(y) > 1e-9 * yStep)
      s << "    <text x=\"" << number(axisX - 7) << "\" y=\"" << number(f.toPixelY(y) + 4)
        << "\" text-anchor=\"end\">" << tickLabel(y) << "</text>\n";
  s << "    <text x=\"" << number(axisX - 7) << "\" y=\"" << number(axisY + 16)
    << "\" text-anchor=\"end\">0</text>\n  </g>\n";

  // The curves, clipped to the plot box.
  s << "  <defs><clipPath id=\"box\"><rect x=\"" << number(f.left) << "\" y=\"" << number(f.top)
    << "\" width=\"" << number(f.width) << "\" height=\"" << number(f.height)
    << "\"/></clipPath></defs>\n";
  s << "  <g id=\"plot\" clip-path=\"url(#box)\" fill=\"none\" stroke-width=\"2\" "
    << "data-x-range=\"" << f.xMin << " " << f.xMax << "\" data-y-range=\"" << f.yMin << " "
    << f.yMax << "\" data-box=\"" << f.left << " " << f.top << " " << f.width << " " << f.height
    << "\">\n";
  for (size_t c = 0; c < curves.size(); ++c) {
    const Curve &curve = curves[c];
    const char *colour = kColours[c % std::size(kColours)];
    s << "    <g class=\"curve\" stroke=\"" << colour << "\" data-label=\""
      << escapeXml(curve.label) << "\">\n";
    std::string points;
    auto flush = [&] {
      if (!points.empty())
        s << "      <polyline points=\"" << points << "\"/>\n";
      points.clear();
    };
    for (size_t i = 0; i < curve.x.size(); ++i) {
      if (!std::isfinite(curve.y[i])) {
        flush();
        continue;
      }
      if (!points.empty())
        points += ' ';
      // Far outside the box is clipped anyway; keep coordinates printable.
      double py = std::clamp(f.toPixelY(curve.y[i]), -1e6, 1e6);
      points += number(f.toPixelX(curve.x[i])) + "," + number(py);
    }
    flush();
    s << "    </g>\n";
  }
  s << "  </g>\n";
  s << "  <rect x=\"" << number(f.left) << "\" y=\"" << number(f.top) << "\" width=\""
    << number(f.width) << "\" height=\"" << number(f.height)
    << "\" fill=\"none\" stroke=\"#999999\"/>\n";

  // Legend, right of the plot.
  double lx = f.left + f.width + 16;
  s << "  <g id=\"legend\">\n";
  for (size_t c = 0; c < curves.size(); ++c) {
    double ly = f.top + 10 + 22.0 * static_cast<double>(c);
    s << "    <line x1=\"" << number(lx) << "\" y1=\"" << number(ly) << "\" x2=\""
      << number(lx + 24) << "\" y2=\"" << number(ly) << "\" stroke=\""
      << kColours[c % std::size(kColours)] << "\" stroke-width=\"2\"/>\n"
      << "    <text x=\"" << number(lx + 30) << "\" y=\"" << number(ly + 4) << "\">"
      << escapeXml(curves[c].label) << "</text>\n";
  }
  s << "  </g>\n</svg>\n";
  return s.str();
}

} // namespace slope::plot
