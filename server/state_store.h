// Persistence of the agent's configuration (docs/design.md §6): one JSON file holding
// an AgentConfig (server/agent_config.proto), rewritten after every
// successful mutation. Writes are atomic: the new content goes to
// "<path>.tmp", is fsync'ed, renamed over <path>, and the directory is
// fsync'ed, so a crash (kill -9) at any moment leaves either the old or the
// new file, never a torn one.
//
// Load(): a missing file is an empty configuration. A file that cannot be
// used (not JSON, truncated, a field this vebd does not know, a version other
// than kStateVersion) is an error: vebd refuses to start rather than start
// empty and lose it. The file stays untouched; a copy goes to
// "<path>.bad-<unix seconds>".
//
// Upgrades and downgrades (docs/design.md §6): a vebd reads state files of
// its own version; a newer vebd migrates older versions when it reads them
// and writes its own; an older vebd refuses a newer file (unknown fields or
// a higher version) and leaves it as it is, so going back means restoring
// the file the older version wrote.
//
// Thread-safety: Save() and Load() lock mu_; one StateStore per file.
#ifndef VEB_SERVER_STATE_STORE_H_
#define VEB_SERVER_STATE_STORE_H_

#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "server/agent_config.pb.h"

namespace veb::server {

// The state file format written by this vebd (AgentConfig.version).
inline constexpr uint32_t kStateVersion = 1;

class StateStore {
 public:
  explicit StateStore(std::string path) : path_(std::move(path)) {}

  struct Loaded {
    AgentConfig config;  // empty when missing
  };
  // FAILED_PRECONDITION for a file that cannot be used (see above), other
  // errors for I/O failures other than "missing" (e.g. EACCES).
  absl::StatusOr<Loaded> Load();
  absl::Status Save(const AgentConfig& config);

  const std::string& path() const { return path_; }

 private:
  const std::string path_;
  absl::Mutex mu_;
};

// Reads a JSON AgentConfig (the --config startup file).
absl::StatusOr<AgentConfig> ReadConfigFile(const std::string& path);

}  // namespace veb::server

#endif  // VEB_SERVER_STATE_STORE_H_
