// The plugin's command handling without an agent: VERSION, and every error a
// runtime can provoke before or when the agent is unreachable. Real IPAM
// delegation is exercised with a small executable in a temporary CNI_PATH.
#include "cni-plugin/plugin.h"
#include "cni-plugin/agent_client.h"
#include "cni-plugin/ipam.h"

#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace veb::cni {
namespace {

using ::testing::HasSubstr;
using nlohmann::json;

class PluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/veb-cni-test.XXXXXX";
    dir_ = mkdtemp(tmpl);
    // A recording IPAM plugin: appends its command to calls.log, answers a
    // fixed result for ADD.
    const std::string ipam = dir_ + "/fake-ipam";
    std::ofstream(ipam) << "#!/bin/sh\n"
                           "cat >/dev/null\n"
                           "echo \"$CNI_COMMAND\" >> " << dir_ << "/calls.log\n"
                           "[ \"$CNI_COMMAND\" = ADD ] && echo '{\"cniVersion\":\"1.1.0\",\"ips\":[{\"address\":\"10.9.0.2/24\"}]}'\n"
                           "exit 0\n";
    chmod(ipam.c_str(), 0755);
  }
  void TearDown() override { EXPECT_EQ(std::system(("rm -rf " + dir_).c_str()), 0); }

  Env MakeEnv(const std::string& command) {
    return Env{command, "ctr1", "/proc/self/ns/net", "eth0", "", dir_};
  }
  json Conf() {
    return {{"cniVersion", "1.1.0"}, {"name", "n"}, {"type", "veb"}, {"bridge", "veb0"},
            {"socket", dir_ + "/no-agent.sock"}, {"ipam", {{"type", "fake-ipam"}}}};
  }
  std::string Calls() {
    std::ifstream f(dir_ + "/calls.log");
    return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  }
  json RunJson(const Env& env, const std::string& in, int* rc) {
    std::string out;
    *rc = ::veb::cni::Run(env, in, &out);
    return json::parse(out);
  }

  std::string dir_;
};

TEST_F(PluginTest, Version) {
  int rc;
  json j = RunJson(MakeEnv("VERSION"), R"({"cniVersion":"1.0.0"})", &rc);
  EXPECT_EQ(rc, 0);
  EXPECT_EQ(j["cniVersion"], "1.0.0");
  EXPECT_EQ(j["supportedVersions"], json({"0.4.0", "1.0.0", "1.1.0"}));
  j = RunJson(MakeEnv("VERSION"), "", &rc);
  EXPECT_EQ(j["cniVersion"], "1.1.0");
}

TEST_F(PluginTest, ErrorsAreCniJsonWithCodes) {
  struct Case {
    std::string command;
    std::string in;
    int code;
    const char* text;
  };
  json no_bridge = Conf();
  no_bridge.erase("bridge");
  json old = Conf();
  old["cniVersion"] = "0.3.1";
  json gc_old = Conf();
  gc_old["cniVersion"] = "1.0.0";
  const Case cases[] = {
      {"ADD", "{not json", kDecodeFailure, "not valid JSON"},
      {"ADD", no_bridge.dump(), kInvalidConfig, "\"bridge\" is required"},
      {"ADD", old.dump(), kIncompatibleVersion, "0.3.1"},
      {"FROB", Conf().dump(), kInvalidEnvironment, "FROB"},
      {"GC", gc_old.dump(), kIncompatibleVersion, "GC needs cniVersion 1.1.0"},
      {"ADD", Conf().dump(), kTryAgainLater, "not reachable"},
      {"STATUS", Conf().dump(), kPluginNotAvailable, "not serving"},
  };
  for (const Case& tc : cases) {
    int rc;
    json j = RunJson(MakeEnv(tc.command), tc.in, &rc);
    EXPECT_EQ(rc, 1) << tc.command << " " << tc.in;
    EXPECT_EQ(j["code"], tc.code) << j.dump();
    EXPECT_THAT(j["msg"].get<std::string>(), HasSubstr(tc.text)) << j.dump();
    EXPECT_TRUE(j.contains("cniVersion"));
  }
}

// Any stdin ends in a CNI error JSON with the expected code, never an
// exception (the plugin used to abort on invalid UTF-8: the parser's message
// quoted the bad byte and printing it threw).
TEST_F(PluginTest, HostileStdinIsACniErrorForEveryCommand) {
  struct Case {
    std::string in;
    int code;
    const char* text;
  };
  std::string deep_objects;
  for (int i = 0; i < 50000; ++i) deep_objects += "{\"a\":";
  deep_objects += "1" + std::string(50000, '}');
  auto with_mtu = [&](json v) {
    json j = Conf();
    j["mtu"] = v;
    return j.dump();
  };
  const std::vector<Case> cases = {
      {"{\"cniVersion\":\"1.1.0\",\"bridge\":\"\xff\xfe\"}", kDecodeFailure, "not valid UTF-8"},
      {"\xff", kDecodeFailure, "not valid UTF-8: invalid byte 0xff at offset 0"},
      {std::string(50000, '[') + std::string(50000, ']'), kDecodeFailure, "deeper than the limit of 64"},
      {deep_objects, kDecodeFailure, "deeper than the limit of 64"},
      {std::string(2 << 20, ' '), kDecodeFailure, "2097152 bytes, more than the limit of 1048576"},
      {std::string(100, '"') + "\xc3", kDecodeFailure, "not valid UTF-8"},
      {with_mtu("abc"), kInvalidConfig, "mtu \"abc\" is not an integer"},
      {with_mtu(-1), kInvalidConfig, "mtu -1 out of range 68..65535"},
      {with_mtu(70000), kInvalidConfig, "mtu 70000 out of range"},
      {with_mtu(1500.5), kInvalidConfig, "mtu 1500.5 is not an integer"},
  };
  for (const char* command : {"ADD", "DEL", "CHECK", "GC", "STATUS"}) {
    for (const Case& tc : cases) {
      int rc = 0;
      std::string out;
      ASSERT_NO_THROW(rc = ::veb::cni::Run(MakeEnv(command), tc.in, &out)) << command;
      EXPECT_EQ(rc, 1) << command;
      json j;
      ASSERT_NO_THROW(j = json::parse(out)) << command << ": " << out.substr(0, 200);
      EXPECT_EQ(j["code"], tc.code) << command << " " << out.substr(0, 300);
      EXPECT_THAT(j["msg"].get<std::string>(), HasSubstr(tc.text)) << command;
    }
  }
  EXPECT_EQ(Calls(), "");  // nothing was delegated
  // VERSION ignores a configuration it cannot read.
  for (const Case& tc : cases) {
    int rc = 1;
    std::string out;
    ASSERT_NO_THROW(rc = ::veb::cni::Run(MakeEnv("VERSION"), tc.in, &out));
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(json::parse(out)["cniVersion"], "1.1.0");
  }
}

TEST_F(PluginTest, EnvironmentIsQuotedAsAPrefix) {
  Env env = MakeEnv(std::string(100000, 'X'));
  int rc;
  json j = RunJson(env, Conf().dump(), &rc);
  EXPECT_EQ(j["code"], kInvalidEnvironment);
  EXPECT_EQ(j["msg"], "CNI_COMMAND \"" + std::string(kMaxQuoted, 'X') + "\xe2\x80\xa6\" is not supported");
  env = MakeEnv("ADD");
  env.command = "\xff\xfe";  // printed, not thrown
  j = RunJson(env, Conf().dump(), &rc);
  EXPECT_EQ(j["code"], kInvalidEnvironment);
  // A long CNI_PATH in the delegation error.
  env = MakeEnv("ADD");
  env.path = std::string(100000, 'p');
  std::string out;
  auto e = ExecPlugin(env, "ADD", "no-such-ipam", Conf().dump(), &out);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->msg, "plugin \"no-such-ipam\" not found in CNI_PATH \"" +
                        std::string(kMaxQuoted, 'p') + "\xe2\x80\xa6\"");
}

// The agent's messages name their object; the plugin adds its own words only
// to messages that do not (transport errors), never a second prefix.
TEST(AgentClientTest, NoDoubledErrorPrefixes) {
  AgentClient agent("/run/veb/test.sock");
  struct Case {
    grpc::Status status;
    int code;
    std::string msg;
  };
  const Case cases[] = {
      {{grpc::StatusCode::NOT_FOUND, "bridge \"veb0\": get: not found"}, kAgentError,
       "bridge \"veb0\": get: not found"},
      {{grpc::StatusCode::INVALID_ARGUMENT, "vport \"vp1\": create: mtu 20 out of range"},
       kInvalidConfig, "vport \"vp1\": create: mtu 20 out of range"},
      {{grpc::StatusCode::ALREADY_EXISTS, "vport: create: attachment (\"c\", \"eth0\") already exists"},
       kAgentError, "vport: create: attachment (\"c\", \"eth0\") already exists"},
      {{grpc::StatusCode::FAILED_PRECONDITION, "span port \"eth3\": add: busy"}, kInvalidConfig,
       "span port \"eth3\": add: busy"},
      {{grpc::StatusCode::UNAVAILABLE, "bridge \"veb0\": create: state file not saved"},
       kTryAgainLater, "veb agent at \"/run/veb/test.sock\": bridge \"veb0\": create: state file not saved"},
      {{grpc::StatusCode::UNAVAILABLE, "failed to connect to all addresses"}, kTryAgainLater,
       "veb agent at \"/run/veb/test.sock\" not reachable: create pod vport: failed to connect to all addresses"},
      {{grpc::StatusCode::INTERNAL, "portable failure"}, kAgentError,
       "create pod vport: portable failure"},
  };
  for (const Case& tc : cases) {
    Error e = agent.ToCniError(tc.status, "create pod vport");
    EXPECT_EQ(e.code, tc.code) << tc.status.error_message();
    EXPECT_EQ(e.msg, tc.msg);
  }
}

TEST_F(PluginTest, MissingNetnsIsInvalidEnvironment) {
  Env env = MakeEnv("ADD");
  env.netns.clear();
  int rc;
  json j = RunJson(env, Conf().dump(), &rc);
  EXPECT_EQ(j["code"], kInvalidEnvironment);
  EXPECT_THAT(j["msg"].get<std::string>(), HasSubstr("CNI_NETNS"));
}

TEST_F(PluginTest, AddWithAgentDownAllocatesNoAddress) {
  int rc;
  RunJson(MakeEnv("ADD"), Conf().dump(), &rc);
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(Calls(), "");  // IPAM never ran
}

TEST_F(PluginTest, DelAlwaysCallsIpamAndRetriesWhileAgentIsDown) {
  int rc;
  json j = RunJson(MakeEnv("DEL"), Conf().dump(), &rc);
  EXPECT_EQ(Calls(), "DEL\n");
  EXPECT_EQ(rc, 1);
  EXPECT_EQ(j["code"], kTryAgainLater);
}

TEST_F(PluginTest, DelegationFindsPluginsInCniPathOnly) {
  std::string out;
  auto e = ExecPlugin(MakeEnv("ADD"), "ADD", "no-such-ipam", Conf().dump(), &out);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, kInvalidConfig);
  EXPECT_THAT(e->msg, HasSubstr("\"no-such-ipam\" not found in CNI_PATH"));
  EXPECT_EQ(ExecPlugin(MakeEnv("ADD"), "ADD", "../fake-ipam", "{}", &out)->code, kInvalidConfig);
  ASSERT_FALSE(ExecPlugin(MakeEnv("ADD"), "ADD", "fake-ipam", Conf().dump(), &out).has_value());
  EXPECT_EQ(json::parse(out)["ips"][0]["address"], "10.9.0.2/24");
  EXPECT_EQ(Calls(), "ADD\n");
}

TEST_F(PluginTest, DelegateErrorIsPassedOn) {
  const std::string failing = dir_ + "/failing-ipam";
  std::ofstream(failing) << "#!/bin/sh\ncat >/dev/null\n"
                            "echo '{\"cniVersion\":\"1.1.0\",\"code\":11,\"msg\":\"no addresses left\"}'\n"
                            "exit 1\n";
  chmod(failing.c_str(), 0755);
  std::string out;
  auto e = ExecPlugin(MakeEnv("ADD"), "ADD", "failing-ipam", Conf().dump(), &out);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->code, 11);
  EXPECT_EQ(e->msg, "failing-ipam: no addresses left");
}

}  // namespace
}  // namespace veb::cni
