// Persistence of the agent's configuration (DESIGN 6): one JSON file holding
// an AgentConfig (server/agent_config.proto), rewritten after every
// successful mutation. Writes are atomic: the new content goes to
// "<path>.tmp", is fsync'ed, renamed over <path>, and the directory is
// fsync'ed, so a crash (kill -9) at any moment leaves either the old or the
// new file, never a torn one.
//
// Load(): a missing file is an empty configuration; a file that cannot be
// parsed is renamed aside to "<path>.corrupt-<unix seconds>" (never deleted)
// and reported through the returned `problem`, and the agent starts empty.
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

class StateStore {
 public:
  explicit StateStore(std::string path) : path_(std::move(path)) {}

  struct Loaded {
    AgentConfig config;           // empty when missing or corrupt
    std::optional<std::string> problem;  // set when the file was set aside
  };
  // Errors only for I/O failures other than "missing" (e.g. EACCES); a
  // corrupt file is not an error (see `problem`).
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
