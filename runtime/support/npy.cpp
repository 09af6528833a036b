#include "runtime/support/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"

namespace bloom {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;

// Returns the value text after "'key':" in a header dict, up to the next
// top-level ',' or '}' (shape tuples contain commas, so parentheses nest).
absl::string_view DictValue(absl::string_view header, absl::string_view key) {
  std::string quoted = absl::StrCat("'", key, "'");
  size_t at = header.find(quoted);
  if (at == absl::string_view::npos) return {};
  size_t colon = header.find(':', at + quoted.size());
  if (colon == absl::string_view::npos) return {};
  size_t begin = colon + 1, end = begin;
  int depth = 0;
  for (; end < header.size(); ++end) {
    char c = header[end];
    if (c == '(') ++depth;
    if (c == ')') --depth;
    if (depth == 0 && (c == ',' || c == '}')) break;
  }
  return absl::StripAsciiWhitespace(header.substr(begin, end - begin));
}

}  // namespace

absl::Status WriteNpyFloat32(const std::string& path,
                             absl::Span<const int64_t> shape,
                             absl::Span<const float> data) {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  if (count != static_cast<int64_t>(data.size())) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": shape holds ", count, " elements but ", data.size(), " given"));
  }
  std::string shape_text = absl::StrJoin(shape, ", ");
  if (shape.size() == 1) shape_text += ",";
  std::string header = absl::StrCat("{'descr': '<f4', 'fortran_order': False, 'shape': (",
                                    shape_text, "), }");
  // Pad with spaces so magic + version + length + header + '\n' is a
  // multiple of 64, as the format asks.
  size_t unpadded = kMagicSize + 2 + 2 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header.push_back('\n');

  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::NotFoundError(absl::StrCat(path, ": cannot open for writing"));
  const uint16_t header_len = static_cast<uint16_t>(header.size());
  out.write(kMagic, kMagicSize);
  out.put(1);
  out.put(0);
  out.put(static_cast<char>(header_len & 0xff));
  out.put(static_cast<char>(header_len >> 8));
  out.write(header.data(), header.size());
  out.write(reinterpret_cast<const char*>(data.data()), data.size() * sizeof(float));
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat(path, ": write failed"));
  return absl::OkStatus();
}

absl::StatusOr<NpyArray> ReadNpyFloat32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a float32 .npy file: ", why));
  };
  if (bytes.size() < 10 || bytes.compare(0, kMagicSize, kMagic, kMagicSize) != 0) {
    return fail("bad magic");
  }
  const uint8_t major = static_cast<uint8_t>(bytes[6]);
  size_t header_len, header_begin;
  if (major == 1) {
    header_len = static_cast<uint8_t>(bytes[8]) | (static_cast<uint8_t>(bytes[9]) << 8);
    header_begin = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return fail("truncated header");
    header_len = 0;
    for (int i = 0; i < 4; ++i) header_len |= size_t{static_cast<uint8_t>(bytes[8 + i])} << (8 * i);
    header_begin = 12;
  } else {
    return fail(absl::StrCat("unsupported version ", major));
  }
  if (header_begin + header_len > bytes.size()) return fail("header past end of file");
  absl::string_view header(bytes.data() + header_begin, header_len);
  if (DictValue(header, "descr") != "'<f4'") return fail("dtype is not '<f4'");
  if (DictValue(header, "fortran_order") != "False") return fail("Fortran order");
  absl::string_view shape_text = DictValue(header, "shape");
  if (!absl::ConsumePrefix(&shape_text, "(") || !absl::ConsumeSuffix(&shape_text, ")")) {
    return fail("malformed shape");
  }
  NpyArray array;
  int64_t count = 1;
  for (absl::string_view part : absl::StrSplit(shape_text, ',', absl::SkipWhitespace())) {
    int64_t dim;
    if (!absl::SimpleAtoi(absl::StripAsciiWhitespace(part), &dim) || dim < 0 ||
        (dim > 0 && count > std::numeric_limits<int64_t>::max() / dim)) {
      return fail("malformed shape");
    }
    array.shape.push_back(dim);
    count *= dim;
  }
  const size_t data_begin = header_begin + header_len;
  if ((bytes.size() - data_begin) != static_cast<size_t>(count) * sizeof(float)) {
    return fail(absl::StrCat("data holds ", bytes.size() - data_begin, " bytes, shape needs ",
                             count * sizeof(float)));
  }
  array.data.resize(count);
  std::memcpy(array.data.data(), bytes.data() + data_begin, count * sizeof(float));
  return array;
}

}  // namespace bloom
