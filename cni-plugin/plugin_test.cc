// The plugin's command handling without an agent: VERSION, and every error a
// runtime can provoke before or when the agent is unreachable. Real IPAM
// delegation is exercised with a small executable in a temporary CNI_PATH.
#include "cni-plugin/plugin.h"
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
