#include "runtime/Weights.h"

#include "runtime/DataFile.h"
#include "runtime/Npz.h"
#include "runtime/Safetensors.h"

namespace slope::runtime {

namespace {

// The reference implementation refuses larger safetensors headers.
constexpr uint64_t kMaxSafetensorsHeader = 100'000'000;

bool looksLikeSafetensors(std::string_view bytes) {
  if (bytes.size() < 8)
    return false;
  if (bytes.size() > 8 && bytes[8] == '{')
    return true;
  return detail::loadLE64(bytes.data()) <= kMaxSafetensorsHeader;
}

} // namespace

std::vector<std::pair<std::string, Tensor>> loadWeights(const std::string &path) {
  std::string bytes = detail::readFileBytes(path);
  if (bytes.empty())
    throw DataError(path + ": file is empty");
  std::string_view view = bytes;
  if (view.starts_with("PK\x03\x04") || view.starts_with("PK\x05\x06"))
    return readNpzBytes(view, path);
  if (view.starts_with("\x93NUMPY"))
    throw DataError(path + ": is a single .npy array; expected a safetensors or .npz weights file");
  if (looksLikeSafetensors(view))
    return readSafetensorsBytes(view, path);
  throw DataError(path +
                  ": unknown weights format; expected safetensors or NumPy .npz (the file "
                  "starts with " +
                  detail::hexPrefix(view, 8) + ")");
}

} // namespace slope::runtime
