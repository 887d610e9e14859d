// StateStore: atomic save and load round trip, missing file, corrupt file
// set aside (never deleted), and an agent restored from a saved state.
#include "server/state_store.h"

#include <dirent.h>
#include <stdlib.h>

#include <fstream>
#include <sstream>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/agent.h"
#include "server/fake_port_opener.h"

namespace veb::server {
namespace {

using ::testing::HasSubstr;

std::string TempDir() {
  const char* base = getenv("TEST_TMPDIR");
  std::string tmpl = std::string(base ? base : "/tmp") + "/state.XXXXXX";
  return mkdtemp(tmpl.data());
}

std::vector<std::string> Files(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] != '.') out.push_back(e->d_name);
  }
  closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

TEST(StateStoreTest, MissingFileIsEmpty) {
  StateStore store(TempDir() + "/state.json");
  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->config.bridges_size(), 0);
}

TEST(StateStoreTest, SaveLoadRoundTripLeavesNoTemporary) {
  const std::string dir = TempDir();
  StateStore store(dir + "/state.json");
  AgentConfig c;
  c.set_version(1);
  c.add_bridges()->set_name("veb0");
  ASSERT_TRUE(store.Save(c).ok());
  c.add_bridges()->set_name("veb1");
  ASSERT_TRUE(store.Save(c).ok());
  EXPECT_EQ(Files(dir), std::vector<std::string>{"state.json"});
  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->config.DebugString(), c.DebugString());
}

// Torn, garbage, a field from a newer version, a newer or missing version:
// never an empty configuration; the file stays as it was and a copy is made.
TEST(StateStoreTest, UnusableFileIsRefusedKeptAndCopied) {
  const struct {
    const char* content;
    const char* reason;
  } cases[] = {
      {"{\"version\": 1, \"bridges\": [{\"name\": ", "cannot be used ("},
      {"\x89PNG garbage \xff\xfe", "cannot be used ("},
      {"{\"version\": 1, \"bridges\": [{\"name\": \"veb0\"}], \"tunnels\": []}",
       "tunnels"},
      {"{\"version\": 2, \"bridges\": [{\"name\": \"veb0\"}]}",
       "version 2 was written by a newer vebd (this one reads version 1)"},
      {"{\"bridges\": [{\"name\": \"veb0\"}]}", "version 0 unknown (expected 1)"},
  };
  for (const auto& c : cases) {
    const std::string dir = TempDir();
    std::ofstream(dir + "/state.json") << c.content;
    StateStore store(dir + "/state.json");
    auto loaded = store.Load();
    ASSERT_FALSE(loaded.ok()) << c.content;
    EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(loaded.status().message(), HasSubstr(c.reason)) << c.content;
    EXPECT_THAT(loaded.status().message(), HasSubstr("does not start without it"));
    const std::vector<std::string> files = Files(dir);
    ASSERT_EQ(files.size(), 2u) << c.content;
    EXPECT_THAT(files[0], "state.json");
    EXPECT_THAT(files[1], HasSubstr("state.json.bad-"));
    for (const std::string& f : files) {
      std::ifstream kept(dir + "/" + f);
      std::stringstream content;
      content << kept.rdbuf();
      EXPECT_EQ(content.str(), c.content) << f;  // untouched, and the copy equal
    }
  }
}

TEST(StateStoreTest, AgentPersistsEveryMutationAndRestores) {
  const std::string path = TempDir() + "/state.json";
  StateStore store(path);
  FakePortOpener opener;
  opener.AddInterface("eth1");
  opener.AddInterface("eth2");
  int saves = 0;
  {
    AgentOptions o;
    o.opener = &opener;
    o.persist = [&](const AgentConfig& c) {
      ++saves;
      ASSERT_TRUE(store.Save(c).ok());
    };
    Agent agent(o);
    v1::CreateBridgeRequest cb;
    cb.set_name("veb0");
    cb.mutable_settings()->set_address_timeout_seconds(30);
    v1::CreateBridgeResponse cbr;
    ASSERT_TRUE(agent.CreateBridge(cb, &cbr).ok());
    v1::AddPortRequest ap;
    ap.set_bridge("veb0");
    ap.set_name("eth1");
    ap.mutable_settings()->mutable_pvid()->set_vid(7);
    v1::AddPortResponse apr;
    ASSERT_TRUE(agent.AddPort(ap, &apr).ok());
    ap.set_name("eth2");
    ASSERT_TRUE(agent.AddPort(ap, &apr).ok());
    v1::AddStaticAddressRequest st;
    st.set_bridge("veb0");
    st.set_port("eth1");
    st.set_mac("02:00:00:00:00:01");
    v1::AddStaticAddressResponse str;
    ASSERT_TRUE(agent.AddStaticAddress(st, &str).ok());
    ap.set_name("eth9");  // fails: no save
    EXPECT_FALSE(agent.AddPort(ap, &apr).ok());
    EXPECT_EQ(saves, 4);
  }
  // Restart: eth2 has disappeared meanwhile.
  opener.RemoveInterface("eth2");
  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok());
  AgentOptions o;
  o.opener = &opener;
  Agent agent(o);
  std::vector<std::string> problems;
  agent.Apply(loaded->config, &problems);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "port \"eth2\": add: no such interface");
  v1::GetPortRequest gp;
  gp.set_bridge("veb0");
  gp.set_name("eth1");
  v1::GetPortResponse gpr;
  ASSERT_TRUE(agent.GetPort(gp, &gpr).ok());
  EXPECT_EQ(gpr.port().pvid().vid(), 7u);
  v1::GetBridgeRequest gb;
  gb.set_name("veb0");
  v1::GetBridgeResponse gbr;
  ASSERT_TRUE(agent.GetBridge(gb, &gbr).ok());
  EXPECT_EQ(gbr.bridge().address_timeout_seconds(), 30u);
  EXPECT_EQ(gbr.bridge().static_address_count(), 1u);
}

}  // namespace
}  // namespace veb::server
