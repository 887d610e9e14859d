#include "cni-plugin/ipam.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

extern char** environ;

namespace veb::cni {
namespace {

std::string FindPlugin(const std::string& path, const std::string& type) {
  for (absl::string_view dir : absl::StrSplit(path, ':', absl::SkipEmpty())) {
    std::string candidate = absl::StrCat(dir, "/", type);
    struct stat st;
    if (stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        access(candidate.c_str(), X_OK) == 0) {
      return candidate;
    }
  }
  return "";
}

}  // namespace

std::optional<Error> ExecPlugin(const Env& env, const std::string& command,
                                const std::string& type, const std::string& stdin_text,
                                std::string* stdout_text) {
  if (type.find('/') != std::string::npos) {
    return Error{kInvalidConfig, absl::StrCat("plugin type ", Quote(type), " may not contain '/'"), ""};
  }
  const std::string binary = FindPlugin(env.path, type);
  if (binary.empty()) {
    return Error{kInvalidConfig,
                 absl::StrCat("plugin ", Quote(type), " not found in CNI_PATH ", Quote(env.path)),
                 ""};
  }
  std::vector<std::string> envs;
  for (char** e = environ; *e != nullptr; ++e) {
    if (strncmp(*e, "CNI_COMMAND=", 12) != 0) envs.emplace_back(*e);
  }
  envs.push_back("CNI_COMMAND=" + command);
  std::vector<char*> envp;
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);

  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    return Error{kIoFailure, absl::StrCat("pipe: ", strerror(errno)), ""};
  }
  const pid_t pid = fork();
  if (pid < 0) return Error{kIoFailure, absl::StrCat("fork: ", strerror(errno)), ""};
  if (pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    char* argv[] = {const_cast<char*>(binary.c_str()), nullptr};
    execve(binary.c_str(), argv, envp.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  // Write stdin and read stdout together so neither side can block the other.
  signal(SIGPIPE, SIG_IGN);
  size_t written = 0;
  std::string output;
  pollfd fds[2] = {{in[1], POLLOUT, 0}, {out[0], POLLIN, 0}};
  bool in_open = true, out_open = true;
  if (stdin_text.empty()) {
    close(in[1]);
    in_open = false;
  }
  while (out_open) {
    fds[0].fd = in_open ? in[1] : -1;
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (in_open && (fds[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
      const ssize_t n = write(in[1], stdin_text.data() + written, stdin_text.size() - written);
      if (n > 0) written += static_cast<size_t>(n);
      if (n < 0 || written == stdin_text.size()) {
        close(in[1]);
        in_open = false;
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      char buf[4096];
      const ssize_t n = read(out[0], buf, sizeof(buf));
      if (n > 0) {
        output.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        out_open = false;
      }
    }
  }
  if (in_open) close(in[1]);
  close(out[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    *stdout_text = std::move(output);
    return std::nullopt;
  }
  Error err{kIoFailure, absl::StrCat(type, ": exited with status ", WEXITSTATUS(status)), output};
  try {
    auto j = nlohmann::json::parse(output);
    if (j.is_object() && j.contains("code")) {
      err.code = j["code"].get<int>();
      err.msg = absl::StrCat(type, ": ", j.value("msg", ""));
      err.details = j.value("details", "");
    }
  } catch (const nlohmann::json::exception&) {
  }
  return err;
}

}  // namespace veb::cni
