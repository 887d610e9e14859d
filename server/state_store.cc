#include "server/state_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/clock.h"
#include "google/protobuf/util/json_util.h"

namespace veb::server {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  return absl::InternalError(
      absl::StrCat("file ", path, ": ", what, ": ", std::strerror(errno)));
}

absl::Status WriteAll(int fd, const std::string& data) {
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return absl::InternalError(std::strerror(errno));
    }
    off += static_cast<size_t>(n);
  }
  return absl::OkStatus();
}

absl::StatusOr<AgentConfig> ParseJson(const std::string& text) {
  AgentConfig config;
  google::protobuf::util::JsonParseOptions opts;
  opts.ignore_unknown_fields = false;
  auto s = google::protobuf::util::JsonStringToMessage(text, &config, opts);
  if (!s.ok()) return absl::InvalidArgumentError(std::string(s.message()));
  return config;
}

}  // namespace

absl::StatusOr<StateStore::Loaded> StateStore::Load() {
  absl::MutexLock lock(&mu_);
  Loaded out;
  std::ifstream in(path_, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return out;
    return Errno("open", path_);
  }
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  absl::StatusOr<AgentConfig> config = ParseJson(text);
  std::string reason;
  if (!config.ok()) {
    reason = absl::StrReplaceAll(config.status().message(), {{"\n", " "}});
  } else if (config->version() != kStateVersion) {
    reason = config->version() > kStateVersion
                 ? absl::StrCat("version ", config->version(),
                                " was written by a newer vebd (this one reads version ",
                                kStateVersion, ")")
                 : absl::StrCat("version ", config->version(), " unknown (expected ",
                                kStateVersion, ")");
  } else {
    out.config = std::move(*config);
    return out;
  }
  // Never start without the configuration it holds: the file stays where it
  // is, untouched; a copy is kept aside for whoever repairs it.
  const std::string aside = absl::StrCat(path_, ".bad-", absl::ToUnixSeconds(absl::Now()));
  std::string copied = absl::StrCat("; a copy is at ", aside);
  {
    std::ofstream copy(aside, std::ios::binary | std::ios::trunc);
    copy << text;
    if (!copy.flush()) copied = absl::StrCat("; could not copy it to ", aside);
  }
  return absl::FailedPreconditionError(absl::StrCat(
      "state file ", path_, ": cannot be used (", reason,
      "); vebd does not start without it: restore it, or move it away to start empty",
      copied));
}

absl::Status StateStore::Save(const AgentConfig& config) {
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  opts.add_whitespace = true;
  opts.preserve_proto_field_names = false;
  if (auto s = google::protobuf::util::MessageToJsonString(config, &json, opts); !s.ok()) {
    return absl::InternalError(std::string(s.message()));
  }
  absl::MutexLock lock(&mu_);
  const std::string tmp = path_ + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("create temporary file", tmp);
  absl::Status s = WriteAll(fd, json);
  if (s.ok() && fsync(fd) != 0) s = Errno("fsync", tmp);
  if (close(fd) != 0 && s.ok()) s = Errno("close", tmp);
  if (!s.ok()) {
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("state file ", tmp, ": write: ", s.message()));
  }
  if (rename(tmp.c_str(), path_.c_str()) != 0) {
    unlink(tmp.c_str());
    return Errno("rename", path_);
  }
  const std::string dir = path_.find('/') == std::string::npos
                              ? "."
                              : path_.substr(0, path_.rfind('/') + (path_.rfind('/') == 0));
  int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

absl::StatusOr<AgentConfig> ReadConfigFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Errno("open", path);
  std::stringstream buf;
  buf << in.rdbuf();
  absl::StatusOr<AgentConfig> config = ParseJson(buf.str());
  if (!config.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("config file ", path, ": ", config.status().message()));
  }
  return config;
}

}  // namespace veb::server
