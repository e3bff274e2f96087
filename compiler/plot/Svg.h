// Line plots as self-contained SVG, written by hand: axes through the origin with ticks
// and labels, a grid, one coloured polyline per curve, a legend and a title. Used by
// `slope plot` to draw activations and their derivatives.
#pragma once

#include <string>
#include <vector>

namespace slope::plot {

struct Curve {
  std::string label;     // the legend entry
  std::vector<double> x; // increasing
  std::vector<double> y; // non-finite values break the line
};

/// Where data coordinates land on the page: px = left + (x - xMin) * width / (xMax - xMin),
/// py = top + (yMax - y) * height / (yMax - yMin). The SVG records it on its plot group
/// (data-x-range, data-y-range, data-box), so a reader can map points back.
struct Frame {
  double xMin, xMax, yMin, yMax;
  double left, top, width, height;
  double toPixelX(double x) const { return left + (x - xMin) * width / (xMax - xMin); }
  double toPixelY(double y) const { return top + (yMax - y) * height / (yMax - yMin); }
};

/// The frame for `curves` over [xMin, xMax]: the y range covers every finite value and 0,
/// with a margin.
Frame frameFor(const std::vector<Curve> &curves, double xMin, double xMax);

/// The SVG document.
std::string renderSvg(const std::vector<Curve> &curves, const std::string &title,
                      const Frame &frame);

} // namespace slope::plot
