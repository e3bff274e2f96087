#include "runtime/Safetensors.h"

#include "runtime/DataFile.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cstring>
#include <limits>
#include <set>

namespace slope::runtime {

namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100'000'000; // as in the reference implementation
constexpr size_t kMaxRank = 64;

enum class DType { F32, F16, BF16, F64 };

struct Entry {
  std::string key;
  std::optional<std::string> dtype;
  std::vector<uint64_t> shape;
  std::vector<uint64_t> offsets;
  // Filled by validate():
  DType type = DType::F32;
  int itemSize = 4;
  Tensor tensor;
};

std::string listRepr(const std::vector<uint64_t> &values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i)
    out += (i ? ", " : "") + std::to_string(values[i]);
  return out + "]";
}

// Builds the entries from the JSON header as it is parsed, without building
// the JSON document: memory stays proportional to the tensors described, and
// "__metadata__" and unknown fields are skipped whatever they contain.
class HeaderParser {
public:
  explicit HeaderParser(const std::string &name) : name_(name) {}

  std::vector<Entry> parse(std::string_view text) {
    json::sax_parse(text.begin(), text.end(), this);
    return std::move(entries_);
  }

  // The nlohmann::json SAX interface.
  bool null() { return scalar("null"); }
  bool boolean(bool value) { return scalar(value ? "true" : "false"); }
  bool number_integer(json::number_integer_t value) {
    if (value >= 0)
      return number_unsigned(static_cast<json::number_unsigned_t>(value));
    return scalar(std::to_string(value));
  }
  bool number_unsigned(json::number_unsigned_t value) {
    if (skipping())
      return true;
    if (state_ != State::Shape && state_ != State::Offsets)
      return scalar(std::to_string(value));
    std::vector<uint64_t> &list = state_ == State::Shape ? current().shape : current().offsets;
    if (state_ == State::Shape && list.size() == kMaxRank)
      fail(entryName() + ": shape has more than " + std::to_string(kMaxRank) +
           " dimensions; at most " + std::to_string(kMaxRank) + " are supported");
    if (state_ == State::Offsets && list.size() == 2)
      fail(entryName() + ": 'data_offsets' must be an array of two non-negative integers; got "
                         "more than two");
    list.push_back(value);
    return true;
  }
  bool number_float(json::number_float_t, const json::string_t &text) { return scalar(text); }
  bool string(json::string_t &value) {
    if (skipping())
      return true;
    if (state_ == State::Entry && field_ == "dtype") {
      current().dtype = value;
      return true;
    }
    return scalar(detail::quoted(value));
  }
  bool binary(json::binary_t &) { return scalar("binary data"); }

  bool start_object(std::size_t) {
    if (enterSkipped())
      return true;
    switch (state_) {
    case State::Start:
      state_ = State::Top;
      return true;
    case State::Top:
      entries_.push_back(Entry{});
      current().key = field_;
      state_ = State::Entry;
      fields_.clear();
      return true;
    case State::Entry:
    case State::Shape:
    case State::Offsets:
    case State::Done:
      return scalar("an object");
    }
    return true;
  }

  bool key(json::string_t &value) {
    if (skipDepth_ > 0)
      return true;
    if (state_ == State::Top && !keys_.insert(value).second)
      fail(name_ + ": duplicate key " + detail::quoted(value) + " in the JSON header");
    if (state_ == State::Entry && !fields_.insert(value).second)
      fail(entryName() + " has field " + detail::quoted(value) + " twice");
    field_ = value;
    if (state_ == State::Top && field_ == "__metadata__")
      skipNext_ = true;
    if (state_ == State::Entry && field_ != "dtype" && field_ != "shape" &&
        field_ != "data_offsets")
      skipNext_ = true;
    return true;
  }

  bool end_object() {
    if (leaveSkipped())
      return true;
    if (state_ == State::Entry) {
      Entry &e = current();
      for (const char *field : {"dtype", "shape", "data_offsets"}) {
        if (!fields_.count(field))
          fail(entryName() + " has no '" + field + "' field");
      }
      if (!e.dtype)
        fail(entryName() + ": 'dtype' must be a string");
      state_ = State::Top;
      return true;
    }
    state_ = State::Done;
    return true;
  }

  bool start_array(std::size_t) {
    if (enterSkipped())
      return true;
    if (state_ == State::Entry && field_ == "shape") {
      state_ = State::Shape;
      return true;
    }
    if (state_ == State::Entry && field_ == "data_offsets") {
      state_ = State::Offsets;
      return true;
    }
    return scalar("an array");
  }

  bool end_array() {
    if (leaveSkipped())
      return true;
    if (state_ == State::Offsets && current().offsets.size() != 2)
      fail(entryName() + ": 'data_offsets' must be an array of two non-negative integers; got " +
           listRepr(current().offsets));
    state_ = State::Entry;
    return true;
  }

  bool parse_error(std::size_t, const std::string &, const nlohmann::detail::exception &e) {
    // Drop the "[json.exception.parse_error.101] " prefix.
    std::string message = e.what();
    if (size_t close = message.find("] ");
        message.starts_with("[json.") && close != std::string::npos)
      message = message.substr(close + 2);
    if (message.size() > 300)
      message = message.substr(0, 300) + "...";
    fail(name_ + ": invalid JSON header: " + detail::printable(message));
  }

private:
  enum class State { Start, Top, Entry, Shape, Offsets, Done };

  [[noreturn]] void fail(const std::string &message) const { throw DataError(message); }

  Entry &current() { return entries_.back(); }
  std::string entryName() const {
    return name_ + ": tensor " + detail::quoted(entries_.back().key);
  }
  bool skipping() {
    if (skipDepth_ > 0)
      return true;
    if (skipNext_) { // a scalar that is skipped entirely
      skipNext_ = false;
      return true;
    }
    return false;
  }
  bool enterSkipped() {
    if (skipDepth_ > 0 || skipNext_) {
      skipNext_ = false;
      ++skipDepth_;
      return true;
    }
    return false;
  }
  bool leaveSkipped() {
    if (skipDepth_ == 0)
      return false;
    --skipDepth_;
    return true;
  }

  // A value that is not what the current position needs; `shown` describes it.
  bool scalar(const std::string &shown) {
    if (skipping())
      return true;
    switch (state_) {
    case State::Start:
      fail(name_ + ": JSON header is not an object; got " + shown);
    case State::Top:
      fail(name_ + ": tensor " + detail::quoted(field_) + " is not a JSON object; got " + shown);
    case State::Entry:
      if (field_ == "dtype")
        fail(entryName() + ": 'dtype' must be a string; got " + shown);
      fail(entryName() + ": '" + field_ + "' must be an array of " +
           (field_ == "shape" ? "non-negative integers" : "two non-negative integers") + "; got " +
           shown);
    case State::Shape:
      fail(entryName() + ": 'shape' must be an array of non-negative integers; found " + shown);
    case State::Offsets:
      fail(entryName() + ": 'data_offsets' must be an array of two non-negative integers; found " +
           shown);
    case State::Done:
      break;
    }
    return true;
  }

  const std::string &name_;
  State state_ = State::Start;
  std::vector<Entry> entries_;
  std::set<std::string> keys_;
  std::set<std::string> fields_;
  std::string field_;
  bool skipNext_ = false;
  int skipDepth_ = 0;
};

std::string dtypeShown(const std::string &dtype) {
  bool plain = !dtype.empty() && dtype.size() <= 16 &&
               dtype.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789_") == std::string::npos;
  return plain ? dtype : detail::quoted(dtype);
}

void validate(Entry &e, uint64_t dataSize, const std::string &name) {
  std::string where = name + ": tensor " + detail::quoted(e.key);
  const std::string &dtype = *e.dtype;
  if (dtype == "F32")
    e.type = DType::F32, e.itemSize = 4;
  else if (dtype == "F16")
    e.type = DType::F16, e.itemSize = 2;
  else if (dtype == "BF16")
    e.type = DType::BF16, e.itemSize = 2;
  else if (dtype == "F64")
    e.type = DType::F64, e.itemSize = 8;
  else
    throw DataError(where + " has dtype " + dtypeShown(dtype) + "; expected F32, F16, BF16 or F64");

  std::vector<int64_t> dims;
  bool fits = true;
  for (uint64_t d : e.shape) {
    fits = fits && d <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    dims.push_back(static_cast<int64_t>(d));
  }
  std::optional<int64_t> elements = detail::checkedElements(dims, e.itemSize);
  if (!fits || !elements)
    throw DataError(where + ": shape " + listRepr(e.shape) + " is too large");

  uint64_t begin = e.offsets[0];
  uint64_t end = e.offsets[1];
  std::string offsets = "data_offsets " + listRepr(e.offsets);
  if (begin > end)
    throw DataError(where + ": " + offsets + " have begin > end");
  if (end > dataSize)
    throw DataError(where + ": " + offsets + " run past the end of the data (" +
                    std::to_string(dataSize) + " bytes)");
  uint64_t expected = static_cast<uint64_t>(*elements) * e.itemSize;
  if (end - begin != expected)
    throw DataError(where + ": " + offsets + " hold " + std::to_string(end - begin) +
                    " bytes; expected " + std::to_string(expected) + " for shape " +
                    listRepr(e.shape) + " of " + dtype);
  e.tensor.shape = std::move(dims);
}

void decode(Entry &e, const char *src) {
  size_t n = static_cast<size_t>(e.tensor.elements());
  std::vector<float> &out = e.tensor.data;
  out.resize(n);
  if (n == 0) // memcpy must not see the null data() of an empty vector
    return;
  switch (e.type) {
  case DType::F32:
    if (std::endian::native == std::endian::little) {
      std::memcpy(out.data(), src, n * sizeof(float));
      return;
    }
    for (size_t i = 0; i < n; ++i)
      out[i] = std::bit_cast<float>(detail::loadLE32(src + 4 * i));
    return;
  case DType::F16:
    for (size_t i = 0; i < n; ++i)
      out[i] = detail::halfToFloat(detail::loadLE16(src + 2 * i));
    return;
  case DType::BF16:
    for (size_t i = 0; i < n; ++i)
      out[i] = detail::bfloat16ToFloat(detail::loadLE16(src + 2 * i));
    return;
  case DType::F64:
    for (size_t i = 0; i < n; ++i)
      out[i] = detail::doubleToFloat(std::bit_cast<double>(detail::loadLE64(src + 8 * i)));
    return;
  }
}

} // namespace

std::vector<std::pair<std::string, Tensor>> readSafetensorsBytes(std::string_view bytes,
                                                                 const std::string &name) {
  if (bytes.size() < 8)
    throw DataError(name + ": file is truncated (" + std::to_string(bytes.size()) +
                    " bytes); a safetensors file starts with an 8-byte header length");
  uint64_t headerLength = detail::loadLE64(bytes.data());
  if (headerLength > bytes.size() - 8)
    throw DataError(name + ": header length is " + std::to_string(headerLength) +
                    " bytes but only " + std::to_string(bytes.size() - 8) +
                    " bytes follow (file truncated?)");
  if (headerLength > kMaxHeaderBytes)
    throw DataError(name + ": header length is " + std::to_string(headerLength) +
                    " bytes; at most " + std::to_string(kMaxHeaderBytes) + " are supported");

  std::vector<Entry> entries = HeaderParser(name).parse(bytes.substr(8, headerLength));
  std::string_view data = bytes.substr(8 + headerLength);
  for (Entry &e : entries)
    validate(e, data.size(), name);

  std::sort(entries.begin(), entries.end(), [](const Entry &a, const Entry &b) {
    return std::tie(a.offsets[0], a.offsets[1], a.key) <
           std::tie(b.offsets[0], b.offsets[1], b.key);
  });
  // Tensors may leave gaps between them but never share bytes.
  const Entry *previous = nullptr; // the last one with data
  for (const Entry &e : entries) {
    if (e.offsets[0] == e.offsets[1])
      continue;
    if (previous && e.offsets[0] < previous->offsets[1])
      throw DataError(name + ": tensor " + detail::quoted(e.key) + ": data_offsets " +
                      listRepr(e.offsets) + " overlap tensor " + detail::quoted(previous->key) +
                      " at " + listRepr(previous->offsets));
    previous = &e;
  }

  std::vector<std::pair<std::string, Tensor>> tensors;
  for (Entry &e : entries) {
    decode(e, data.data() + e.offsets[0]);
    tensors.emplace_back(std::move(e.key), std::move(e.tensor));
  }
  return tensors;
}

std::vector<std::pair<std::string, Tensor>> readSafetensors(const std::string &path) {
  std::string bytes = detail::readFileBytes(path);
  if (bytes.empty())
    throw DataError(path + ": file is empty");
  return readSafetensorsBytes(bytes, path);
}

} // namespace slope::runtime
