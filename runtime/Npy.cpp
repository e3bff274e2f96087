#include "runtime/Npy.h"

#include "runtime/DataFile.h"

#include <array>
#include <bit>
#include <charconv>
#include <cstring>

namespace slope::runtime {

namespace {

constexpr std::string_view kMagic{"\x93NUMPY", 6};
// Float arrays need a few dozen bytes of header; numpy itself refuses more
// than 10000 unless told otherwise. The cap bounds the work on hostile files.
constexpr uint64_t kMaxHeaderBytes = 1 << 20;
constexpr size_t kMaxRank = 64; // NumPy 2's limit
constexpr int kMaxNesting = 32;
constexpr size_t kMaxLiteralValues = 10000;

// The Python literals that ast.literal_eval accepts in an .npy header.
struct PyValue {
  enum class Kind { String, Int, Float, Bool, None, Tuple, List, Dict };
  Kind kind = Kind::None;
  std::string text;           // String: the value; Int, Float: the literal as written
  int64_t integer = 0;        // Int, when `fits`
  bool fits = true;           // Int: whether it fits in int64_t
  bool boolean = false;       // Bool
  std::vector<PyValue> items; // Tuple, List; Dict: key, value, key, value, ...
};

void appendRepr(std::string &out, const PyValue &v) {
  using Kind = PyValue::Kind;
  switch (v.kind) {
  case Kind::String:
    out += detail::quoted(v.text);
    return;
  case Kind::Int:
  case Kind::Float:
    out += v.text;
    return;
  case Kind::Bool:
    out += v.boolean ? "True" : "False";
    return;
  case Kind::None:
    out += "None";
    return;
  case Kind::Tuple:
  case Kind::List:
  case Kind::Dict: {
    bool isDict = v.kind == Kind::Dict;
    out += v.kind == Kind::Tuple ? '(' : isDict ? '{' : '[';
    for (size_t i = 0; i < v.items.size(); ++i) {
      if (out.size() > 200)
        break;
      if (i)
        out += isDict && i % 2 ? ": " : ", ";
      appendRepr(out, v.items[i]);
    }
    if (v.kind == Kind::Tuple && v.items.size() == 1)
      out += ',';
    out += v.kind == Kind::Tuple ? ')' : isDict ? '}' : ']';
    return;
  }
  }
}

std::string repr(const PyValue &v) {
  std::string out;
  appendRepr(out, v);
  if (out.size() > 100)
    out = out.substr(0, 100) + "...";
  return out;
}

class LiteralParser {
public:
  LiteralParser(std::string_view text, const std::string &name) : text_(text), name_(name) {}

  PyValue parse() {
    PyValue v = parseValue(0);
    skipSpace();
    if (pos_ != text_.size())
      fail("unexpected " + describeNext() + " after the dict");
    return v;
  }

private:
  [[noreturn]] void fail(const std::string &reason) const {
    throw DataError(name_ + ": npy header is not a valid dict literal: " + reason + " at offset " +
                    std::to_string(pos_));
  }

  std::string describeNext() const {
    if (pos_ >= text_.size())
      return "end of header";
    return "character " + detail::quoted(text_.substr(pos_, 1));
  }

  void skipSpace() {
    while (pos_ < text_.size() && std::strchr(" \t\n\r\f\v", text_[pos_]) && text_[pos_] != 0)
      ++pos_;
  }

  bool consume(char c) {
    skipSpace();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  void expect(char c, const char *what) {
    if (!consume(c))
      fail(std::string("expected ") + what + ", found " + describeNext());
  }

  static bool isNameStart(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
  }
  static bool isDigit(char c) { return c >= '0' && c <= '9'; }

  PyValue parseValue(int depth) {
    skipSpace();
    if (depth > kMaxNesting)
      fail("values nested too deeply");
    if (++values_ > kMaxLiteralValues)
      fail("too many values");
    if (pos_ >= text_.size())
      fail("expected a value, found end of header");
    char c = text_[pos_];
    if (c == '{')
      return parseDict(depth);
    if (c == '(' || c == '[')
      return parseSequence(depth);
    if (c == '\'' || c == '"')
      return parseString();
    if (isDigit(c) || c == '-' || c == '+' || c == '.')
      return parseNumber();
    if (isNameStart(c))
      return parseName();
    fail("expected a value, found " + describeNext());
  }

  PyValue parseDict(int depth) {
    PyValue v;
    v.kind = PyValue::Kind::Dict;
    ++pos_; // '{'
    while (!consume('}')) {
      v.items.push_back(parseValue(depth + 1));
      expect(':', "':' after a key");
      v.items.push_back(parseValue(depth + 1));
      if (consume('}'))
        break;
      expect(',', "',' or '}'");
    }
    return v;
  }

  // A tuple, a list, or a parenthesized value such as `(3)`, which Python
  // reads as the integer 3.
  PyValue parseSequence(int depth) {
    bool isTuple = text_[pos_] == '(';
    char close = isTuple ? ')' : ']';
    const char *expected = isTuple ? "',' or ')'" : "',' or ']'";
    ++pos_;
    PyValue v;
    v.kind = isTuple ? PyValue::Kind::Tuple : PyValue::Kind::List;
    if (consume(close))
      return v;
    PyValue first = parseValue(depth + 1);
    if (isTuple && consume(close))
      return first;
    v.items.push_back(std::move(first));
    for (;;) {
      if (consume(close))
        return v;
      expect(',', expected);
      if (consume(close))
        return v;
      v.items.push_back(parseValue(depth + 1));
    }
  }

  PyValue parseString() {
    char quote = text_[pos_++];
    PyValue v;
    v.kind = PyValue::Kind::String;
    for (;;) {
      if (pos_ >= text_.size() || text_[pos_] == '\n')
        fail("unterminated string");
      char c = text_[pos_++];
      if (c == quote)
        return v;
      if (c != '\\') {
        v.text += c;
        continue;
      }
      if (pos_ >= text_.size())
        fail("unterminated string");
      char e = text_[pos_++];
      switch (e) {
      case 'n':
        v.text += '\n';
        break;
      case 't':
        v.text += '\t';
        break;
      case 'r':
        v.text += '\r';
        break;
      case '0':
        v.text += '\0';
        break;
      case '\\':
      case '\'':
      case '"':
        v.text += e;
        break;
      case '\n':
        break;
      case 'x': {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(
            text_.data() + pos_, text_.data() + std::min(pos_ + 2, text_.size()), value, 16);
        if (ec != std::errc() || end != text_.data() + pos_ + 2)
          fail("invalid \\x escape");
        pos_ += 2;
        v.text += static_cast<char>(value);
        break;
      }
      default: // Python keeps unknown escapes as written
        v.text += '\\';
        v.text += e;
      }
    }
  }

  PyValue parseNumber() {
    size_t start = pos_;
    if (text_[pos_] == '-' || text_[pos_] == '+')
      ++pos_;
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      bool exponentSign = (c == '+' || c == '-') && pos_ > start &&
                          (text_[pos_ - 1] == 'e' || text_[pos_ - 1] == 'E');
      if (!(isDigit(c) || isNameStart(c) || c == '.' || exponentSign))
        break;
      ++pos_;
    }
    PyValue v;
    v.text = std::string(text_.substr(start, pos_ - start));
    std::string_view digits = v.text;
    if (!digits.empty() && (digits.back() == 'L' || digits.back() == 'l'))
      digits.remove_suffix(1); // Python 2 longs, written by old numpy
    bool negative = !digits.empty() && digits[0] == '-';
    if (!digits.empty() && (digits[0] == '-' || digits[0] == '+'))
      digits.remove_prefix(1);
    if (!digits.empty() && digits.find_first_not_of("0123456789") == std::string_view::npos) {
      v.kind = PyValue::Kind::Int;
      uint64_t magnitude = 0;
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), magnitude);
      (void)end;
      uint64_t limit = negative ? uint64_t(1) << 63 : (uint64_t(1) << 63) - 1;
      v.fits = ec == std::errc() && magnitude <= limit;
      if (v.fits)
        v.integer =
            negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
      return v;
    }
    double ignored;
    auto [end, ec] =
        std::from_chars(v.text.data() + (v.text[0] == '+'), v.text.data() + v.text.size(), ignored);
    if (ec == std::errc::invalid_argument || end != v.text.data() + v.text.size())
      fail("invalid number " + detail::quoted(v.text));
    v.kind = PyValue::Kind::Float;
    return v;
  }

  PyValue parseName() {
    size_t start = pos_;
    while (pos_ < text_.size() && (isNameStart(text_[pos_]) || isDigit(text_[pos_])))
      ++pos_;
    std::string_view word = text_.substr(start, pos_ - start);
    PyValue v;
    if (word == "True" || word == "False") {
      v.kind = PyValue::Kind::Bool;
      v.boolean = word == "True";
      return v;
    }
    if (word == "None")
      return v;
    pos_ = start;
    fail("unexpected name " + detail::quoted(word));
  }

  std::string_view text_;
  const std::string &name_;
  size_t pos_ = 0;
  size_t values_ = 0;
};

enum class FloatKind { F16, F32, F64 };

struct NpyHeader {
  std::string descr;
  FloatKind kind = FloatKind::F32;
  int itemSize = 4;
  bool bigEndian = false;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
  int64_t elements = 0;
  NpyLayout layout{};
};

std::string shapeRepr(const std::vector<int64_t> &shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ", ";
    out += std::to_string(shape[i]);
  }
  if (shape.size() == 1)
    out += ',';
  return out + ")";
}

const std::string kExpectedKeys = "expected keys 'descr', 'fortran_order' and 'shape'";

void parseDescr(const PyValue &descr, NpyHeader &h, const std::string &name) {
  auto unsupported = [&] {
    throw DataError(name + ": unsupported dtype " + repr(descr) +
                    "; expected '<f4', '<f8' or '<f2' (either byte order)");
  };
  if (descr.kind != PyValue::Kind::String)
    unsupported();
  std::string_view s = descr.text;
  bool nativeBig = std::endian::native == std::endian::big;
  h.bigEndian = nativeBig;
  if (!s.empty() && std::strchr("<>|=", s[0]) && s[0] != 0) {
    if (s[0] == '<')
      h.bigEndian = false;
    else if (s[0] == '>')
      h.bigEndian = true;
    s.remove_prefix(1);
  }
  if (s == "f2")
    h.kind = FloatKind::F16, h.itemSize = 2;
  else if (s == "f4")
    h.kind = FloatKind::F32, h.itemSize = 4;
  else if (s == "f8")
    h.kind = FloatKind::F64, h.itemSize = 8;
  else
    unsupported();
  h.descr = descr.text;
}

NpyHeader interpretHeader(const PyValue &dict, const std::string &name) {
  if (dict.kind != PyValue::Kind::Dict)
    throw DataError(name + ": npy header is not a dict: " + repr(dict));
  const PyValue *descr = nullptr;
  const PyValue *fortranOrder = nullptr;
  const PyValue *shape = nullptr;
  for (size_t i = 0; i < dict.items.size(); i += 2) {
    const PyValue &key = dict.items[i];
    const PyValue **slot = nullptr;
    if (key.kind == PyValue::Kind::String) {
      if (key.text == "descr")
        slot = &descr;
      else if (key.text == "fortran_order")
        slot = &fortranOrder;
      else if (key.text == "shape")
        slot = &shape;
    }
    if (!slot)
      throw DataError(name + ": npy header has unexpected key " + repr(key) + "; " + kExpectedKeys);
    if (*slot)
      throw DataError(name + ": npy header has key " + repr(key) + " twice");
    *slot = &dict.items[i + 1];
  }
  for (auto [value, key] : {std::pair{descr, "'descr'"}, std::pair{fortranOrder, "'fortran_order'"},
                            std::pair{shape, "'shape'"}}) {
    if (!value)
      throw DataError(name + ": npy header has no key " + key + "; " + kExpectedKeys);
  }

  NpyHeader h;
  parseDescr(*descr, h, name);

  if (fortranOrder->kind != PyValue::Kind::Bool)
    throw DataError(name + ": npy header 'fortran_order' must be True or False; got " +
                    repr(*fortranOrder));
  h.fortranOrder = fortranOrder->boolean;

  bool shapeOk = shape->kind == PyValue::Kind::Tuple;
  for (const PyValue &d : shape->items)
    shapeOk =
        shapeOk && d.kind == PyValue::Kind::Int && (d.fits ? d.integer >= 0 : d.text[0] != '-');
  if (!shapeOk)
    throw DataError(name + ": npy header 'shape' must be a tuple of non-negative integers; got " +
                    repr(*shape));
  if (shape->items.size() > kMaxRank)
    throw DataError(name + ": shape has " + std::to_string(shape->items.size()) +
                    " dimensions; at most " + std::to_string(kMaxRank) + " are supported");
  bool fits = true;
  for (const PyValue &d : shape->items) {
    fits = fits && d.fits;
    h.shape.push_back(d.integer);
  }
  std::optional<int64_t> elements = detail::checkedElements(h.shape, h.itemSize);
  if (!fits || !elements)
    throw DataError(name + ": shape " + repr(*shape) + " is too large");
  h.elements = *elements;
  h.layout.dataBytes = static_cast<uint64_t>(h.elements) * h.itemSize;
  return h;
}

// Reads the preamble and header at the start of `bytes`. When `bytes` ends
// before the header does, returns std::nullopt if `complete` is false and
// throws otherwise.
std::optional<NpyHeader> parseNpyHeader(std::string_view bytes, const std::string &name,
                                        bool complete) {
  size_t shown = std::min(bytes.size(), kMagic.size());
  if (bytes.substr(0, shown) != kMagic.substr(0, shown)) {
    std::string hint;
    if (bytes.starts_with("PK"))
      hint = " (it is a zip archive; an .npz file?)";
    throw DataError(name + ": not a NumPy .npy file: it does not start with \\x93NUMPY" + hint);
  }
  auto truncated = [&](uint64_t needed) -> std::optional<NpyHeader> {
    if (!complete)
      return std::nullopt;
    throw DataError(name + ": truncated .npy data (" + std::to_string(bytes.size()) +
                    " bytes); the preamble needs " + std::to_string(needed));
  };
  if (bytes.size() < 8)
    return truncated(10);
  int major = static_cast<unsigned char>(bytes[6]);
  int minor = static_cast<unsigned char>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0)
    throw DataError(name + ": unsupported .npy format version " + std::to_string(major) + "." +
                    std::to_string(minor) + "; expected 1.0, 2.0 or 3.0");
  size_t preamble = major == 1 ? 10 : 12;
  if (bytes.size() < preamble)
    return truncated(preamble);
  uint64_t headerLength =
      major == 1 ? detail::loadLE16(bytes.data() + 8) : detail::loadLE32(bytes.data() + 8);
  if (headerLength > kMaxHeaderBytes)
    throw DataError(name + ": npy header is " + std::to_string(headerLength) + " bytes; at most " +
                    std::to_string(kMaxHeaderBytes) + " are supported");
  if (bytes.size() - preamble < headerLength) {
    if (!complete)
      return std::nullopt;
    throw DataError(name + ": truncated .npy data: the header needs " +
                    std::to_string(headerLength) + " bytes but only " +
                    std::to_string(bytes.size() - preamble) + " follow the preamble");
  }
  PyValue dict = LiteralParser(bytes.substr(preamble, headerLength), name).parse();
  NpyHeader h = interpretHeader(dict, name);
  h.layout.headerBytes = preamble + headerLength;
  return h;
}

template <typename Bits> Bits loadBits(const char *p, bool bigEndian) {
  Bits v = 0;
  for (size_t i = 0; i < sizeof(Bits); ++i) {
    size_t byte = bigEndian ? i : sizeof(Bits) - 1 - i;
    v = static_cast<Bits>((v << 8) | static_cast<unsigned char>(p[byte]));
  }
  return v;
}

void decode(const char *src, const NpyHeader &h, float *out) {
  size_t n = static_cast<size_t>(h.elements);
  if (n == 0) // memcpy must not see the null data() of an empty vector
    return;
  switch (h.kind) {
  case FloatKind::F32:
    if (!h.bigEndian && std::endian::native == std::endian::little) {
      std::memcpy(out, src, n * sizeof(float));
      return;
    }
    for (size_t i = 0; i < n; ++i)
      out[i] = std::bit_cast<float>(loadBits<uint32_t>(src + 4 * i, h.bigEndian));
    return;
  case FloatKind::F16:
    for (size_t i = 0; i < n; ++i)
      out[i] = detail::halfToFloat(loadBits<uint16_t>(src + 2 * i, h.bigEndian));
    return;
  case FloatKind::F64:
    for (size_t i = 0; i < n; ++i)
      out[i] = detail::doubleToFloat(
          std::bit_cast<double>(loadBits<uint64_t>(src + 8 * i, h.bigEndian)));
    return;
  }
}

// Column-major `in` to row-major: the C-order index walks the shape like an
// odometer while the Fortran offset follows it.
std::vector<float> fortranToC(const std::vector<float> &in, const std::vector<int64_t> &shape) {
  std::vector<float> out(in.size());
  size_t rank = shape.size();
  if (in.empty() || rank > kMaxRank)
    return out;
  std::array<int64_t, kMaxRank> stride{}; // Fortran strides
  std::array<int64_t, kMaxRank> index{};
  int64_t s = 1;
  for (size_t k = 0; k < rank; ++k) {
    stride[k] = s;
    s *= shape[k];
  }
  int64_t offset = 0;
  for (float &value : out) {
    value = in[static_cast<size_t>(offset)];
    for (size_t k = rank; k-- > 0;) {
      if (++index[k] < shape[k]) {
        offset += stride[k];
        break;
      }
      offset -= stride[k] * (shape[k] - 1);
      index[k] = 0;
    }
  }
  return out;
}

// Why a tensor cannot be written, or an empty string.
std::string tensorProblem(const Tensor &t) {
  if (t.shape.size() > kMaxRank)
    return "shape has " + std::to_string(t.shape.size()) + " dimensions; at most " +
           std::to_string(kMaxRank) + " are supported";
  std::optional<int64_t> elements = detail::checkedElements(t.shape, sizeof(float));
  if (!elements)
    return "shape " + shapeRepr(t.shape) + " is invalid";
  if (static_cast<uint64_t>(*elements) != t.data.size())
    return "shape " + shapeRepr(t.shape) + " has " + std::to_string(*elements) +
           " elements but the data has " + std::to_string(t.data.size());
  return {};
}

} // namespace

std::optional<NpyLayout> npyLayoutFromPrefix(std::string_view prefix,
                                             const std::string &displayName) {
  std::optional<NpyHeader> h = parseNpyHeader(prefix, displayName, /*complete=*/false);
  if (!h)
    return std::nullopt;
  return h->layout;
}

Tensor readNpyBytes(std::string_view bytes, const std::string &displayName) {
  NpyHeader h = *parseNpyHeader(bytes, displayName, /*complete=*/true);
  uint64_t actual = bytes.size() - h.layout.headerBytes;
  if (actual != h.layout.dataBytes)
    throw DataError(displayName + ": array data is " + std::to_string(actual) +
                    " bytes; expected " + std::to_string(h.layout.dataBytes) + " for shape " +
                    shapeRepr(h.shape) + " and dtype " + detail::quoted(h.descr));
  Tensor t;
  t.shape = h.shape;
  t.data.resize(static_cast<size_t>(h.elements));
  decode(bytes.data() + h.layout.headerBytes, h, t.data.data());
  if (h.fortranOrder && h.shape.size() >= 2)
    t.data = fortranToC(t.data, t.shape);
  return t;
}

Tensor readNpy(const std::string &path) {
  std::string bytes = detail::readFileBytes(path);
  if (bytes.empty())
    throw DataError(path + ": file is empty");
  return readNpyBytes(bytes, path);
}

std::string npyBytes(const Tensor &t) {
  std::string problem = tensorProblem(t);
  if (!problem.empty())
    throw std::invalid_argument("npyBytes: " + problem);
  // The same bytes as numpy.save: keys sorted, room for the first axis to
  // grow to 21 digits, padded with spaces to a multiple of 64, then '\n'.
  std::string header =
      "{'descr': '<f4', 'fortran_order': False, 'shape': " + shapeRepr(t.shape) + ", }";
  if (!t.shape.empty())
    header.append(21 - std::to_string(t.shape[0]).size(), ' ');
  size_t padding = 64 - (kMagic.size() + 4 + header.size() + 1) % 64;
  header.append(padding, ' ');
  header += '\n';

  std::string out(kMagic);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  size_t dataOffset = out.size();
  out.resize(dataOffset + t.data.size() * 4);
  char *dst = out.data() + dataOffset;
  for (float f : t.data) {
    uint32_t bits = std::bit_cast<uint32_t>(f);
    for (int b = 0; b < 4; ++b)
      *dst++ = static_cast<char>(bits >> (8 * b));
  }
  return out;
}

void writeNpy(const std::string &path, const Tensor &t) {
  std::string problem = tensorProblem(t);
  if (!problem.empty())
    throw DataError(path + ": cannot write tensor: " + problem);
  std::string bytes = npyBytes(t);
  detail::OutputFile file{path, bytes};
  detail::writeFilesAtomically({&file, 1});
}

} // namespace slope::runtime
