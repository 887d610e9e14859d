// StateStore: atomic save and load round trip, missing file, unusable files
// refused and kept, an agent restored from a saved state, and every
// mutation of the agent durable or refused.
#include "server/state_store.h"

#include <dirent.h>
#include <stdlib.h>

#include <fstream>
#include <functional>
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
      absl::Status s = store.Save(c);
      EXPECT_TRUE(s.ok()) << s;
      return s;
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
  ASSERT_TRUE(agent.Apply(loaded->config, &problems).ok());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "pending: port \"eth2\": add: no such interface");
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

// Each mutation is saved before it is applied: with saving failing, each is
// refused with UNAVAILABLE and changes nothing (in memory or on disk); with
// saving working, the file always equals the agent's export afterwards.
TEST(StateStoreTest, EveryMutationIsDurableOrRefused) {
  const std::string dir = TempDir();
  StateStore store(dir + "/state.json");
  const std::string netns = dir + "/netns-pod1";
  std::ofstream(netns) << "";
  FakePortOpener opener;
  for (const char* n : {"eth1", "eth2", "eth3", "eth4", "eth5"}) opener.AddInterface(n);
  bool fail = false;
  AgentOptions o;
  o.opener = &opener;
  o.persist = [&](const AgentConfig& c) {
    if (fail) return absl::ResourceExhaustedError("file state.json: write: No space left on device");
    return store.Save(c);
  };
  Agent agent(o);
  auto file = [&] {
    auto loaded = store.Load();
    EXPECT_TRUE(loaded.ok()) << loaded.status();
    return loaded.ok() ? loaded->config.DebugString() : std::string();
  };
  auto bridge = [](const std::string& name) {
    v1::CreateBridgeRequest r;
    r.set_name(name);
    return r;
  };
  auto port = [](const std::string& name) {
    v1::AddPortRequest r;
    r.set_bridge("veb0");
    r.set_name(name);
    return r;
  };
  v1::CreateBridgeResponse cbr;
  v1::AddPortResponse apr;
  ASSERT_TRUE(agent.CreateBridge(bridge("veb0"), &cbr).ok());
  ASSERT_TRUE(agent.AddPort(port("eth1"), &apr).ok());
  ASSERT_TRUE(agent.AddPort(port("eth2"), &apr).ok());

  struct Step {
    const char* name;
    std::function<absl::Status()> run;
  };
  const std::vector<Step> steps = {
      {"CreateBridge", [&] { return agent.CreateBridge(bridge("veb1"), &cbr); }},
      {"UpdateBridge",
       [&] {
         v1::UpdateBridgeRequest r;
         r.set_name("veb0");
         r.mutable_settings()->set_max_addresses(500);
         v1::UpdateBridgeResponse resp;
         return agent.UpdateBridge(r, &resp);
       }},
      {"AddPort", [&] { return agent.AddPort(port("eth3"), &apr); }},
      {"UpdatePort",
       [&] {
         v1::UpdatePortRequest r;
         r.set_bridge("veb0");
         r.set_name("eth3");
         r.mutable_settings()->set_discover(false);
         v1::UpdatePortResponse resp;
         return agent.UpdatePort(r, &resp);
       }},
      {"AddSpanPort",
       [&] {
         v1::AddSpanPortRequest r;
         r.set_bridge("veb0");
         r.set_name("eth4");
         v1::AddSpanPortResponse resp;
         return agent.AddSpanPort(r, &resp);
       }},
      {"AddRule",
       [&] {
         v1::AddRuleRequest r;
         r.set_bridge("veb0");
         r.set_port("eth1");
         r.mutable_rule()->set_action(v1::RULE_ACTION_BLOCK);
         r.mutable_rule()->set_direction(v1::RULE_DIRECTION_IN);
         r.mutable_rule()->set_src("02:00:00:00:00:09");
         v1::AddRuleResponse resp;
         return agent.AddRule(r, &resp);
       }},
      {"AddStaticAddress",
       [&] {
         v1::AddStaticAddressRequest r;
         r.set_bridge("veb0");
         r.set_port("eth1");
         r.set_mac("02:00:00:00:00:01");
         v1::AddStaticAddressResponse resp;
         return agent.AddStaticAddress(r, &resp);
       }},
      {"CreateVport (pod)",
       [&] {
         v1::CreateVportRequest r;
         r.set_bridge("veb0");
         r.set_kind(v1::VPORT_KIND_POD);
         r.mutable_pod()->set_netns(netns);
         r.mutable_pod()->mutable_attachment()->set_container_id("c1");
         r.mutable_pod()->mutable_attachment()->set_ifname("eth0");
         v1::CreateVportResponse resp;
         return agent.CreateVport(r, &resp);
       }},
      {"CreateVport (host)",
       [&] {
         v1::CreateVportRequest r;
         r.set_bridge("veb0");
         r.set_kind(v1::VPORT_KIND_HOST);
         r.set_name("gw0");
         r.add_ip_prefixes("10.1.0.1/24");
         v1::CreateVportResponse resp;
         return agent.CreateVport(r, &resp);
       }},
      {"DeleteAddress",
       [&] {
         v1::DeleteAddressRequest r;
         r.set_bridge("veb0");
         r.set_mac("02:00:00:00:00:01");
         v1::DeleteAddressResponse resp;
         return agent.DeleteAddress(r, &resp);
       }},
      {"FlushRules",
       [&] {
         v1::FlushRulesRequest r;
         r.set_bridge("veb0");
         r.set_port("eth1");
         v1::FlushRulesResponse resp;
         return agent.FlushRules(r, &resp);
       }},
      {"DeleteVport",
       [&] {
         v1::DeleteVportRequest r;
         r.set_name("gw0");
         v1::DeleteVportResponse resp;
         return agent.DeleteVport(r, &resp);
       }},
      {"DeleteSpanPort",
       [&] {
         v1::DeleteSpanPortRequest r;
         r.set_bridge("veb0");
         r.set_name("eth4");
         v1::DeleteSpanPortResponse resp;
         return agent.DeleteSpanPort(r, &resp);
       }},
      {"DeletePort",
       [&] {
         v1::DeletePortRequest r;
         r.set_bridge("veb0");
         r.set_name("eth2");
         v1::DeletePortResponse resp;
         return agent.DeletePort(r, &resp);
       }},
      {"AddStaticAddress (another)",
       [&] {
         v1::AddStaticAddressRequest r;
         r.set_bridge("veb0");
         r.set_port("eth3");
         r.set_mac("02:00:00:00:00:02");
         v1::AddStaticAddressResponse resp;
         return agent.AddStaticAddress(r, &resp);
       }},
      {"FlushAddresses (all)",
       [&] {
         v1::FlushAddressesRequest r;
         r.set_bridge("veb0");
         r.set_mode(v1::FLUSH_MODE_ALL);
         v1::FlushAddressesResponse resp;
         return agent.FlushAddresses(r, &resp);
       }},
      {"DeleteBridge",
       [&] {
         v1::DeleteBridgeRequest r;
         r.set_name("veb0");
         r.set_force(true);
         v1::DeleteBridgeResponse resp;
         return agent.DeleteBridge(r, &resp);
       }},
  };
  for (const Step& step : steps) {
    SCOPED_TRACE(step.name);
    const std::string before = agent.ExportConfig().DebugString();
    const std::string on_disk = file();
    const uint64_t failures = agent.save_failures();
    fail = true;
    absl::Status refused = step.run();
    EXPECT_EQ(refused.code(), absl::StatusCode::kUnavailable) << refused;
    EXPECT_THAT(refused.message(), HasSubstr("not saved (file state.json: write: No space"));
    EXPECT_THAT(refused.message(), HasSubstr("nothing changed"));
    EXPECT_TRUE(agent.saves_failing());
    EXPECT_EQ(agent.save_failures(), failures + 1);
    EXPECT_EQ(agent.ExportConfig().DebugString(), before);
    EXPECT_EQ(file(), on_disk);
    fail = false;
    absl::Status done = step.run();
    EXPECT_TRUE(done.ok()) << done;
    EXPECT_FALSE(agent.saves_failing());
    EXPECT_EQ(file(), agent.ExportConfig().DebugString());
    EXPECT_NE(file(), on_disk);
  }
  // Interfaces refused along the way were released: the pod vport's were
  // destroyed, eth2 and eth3 can be added again.
  EXPECT_EQ(agent.ExportConfig().bridges_size(), 1);  // veb1
  ASSERT_TRUE(agent.CreateBridge(bridge("veb0"), &cbr).ok());
  EXPECT_TRUE(agent.AddPort(port("eth2"), &apr).ok());
  EXPECT_TRUE(agent.AddPort(port("eth3"), &apr).ok());
}

// What cannot be attached at restore is pending, never forgotten: kept in
// the state file with its rules and static addresses, shown with its reason,
// attached when its interface appears, removed only by an explicit delete.
TEST(StateStoreTest, UnrestorableObjectsArePendingNotForgotten) {
  const std::string dir = TempDir();
  StateStore store(dir + "/state.json");
  const std::string netns = dir + "/netns-pod1";
  std::ofstream(netns) << "";
  FakePortOpener opener;
  for (const char* n : {"eth1", "eth2", "eth3"}) opener.AddInterface(n);
  AgentOptions o;
  o.opener = &opener;
  o.persist = [&](const AgentConfig& c) { return store.Save(c); };
  std::string pod_vport;
  {
    Agent agent(o);
    v1::CreateBridgeRequest cb;
    cb.set_name("veb0");
    v1::CreateBridgeResponse cbr;
    ASSERT_TRUE(agent.CreateBridge(cb, &cbr).ok());
    for (const char* n : {"eth1", "eth2"}) {
      v1::AddPortRequest ap;
      ap.set_bridge("veb0");
      ap.set_name(n);
      ap.mutable_settings()->set_blocknonip(true);
      v1::AddPortResponse apr;
      ASSERT_TRUE(agent.AddPort(ap, &apr).ok());
    }
    v1::AddSpanPortRequest sp;
    sp.set_bridge("veb0");
    sp.set_name("eth3");
    v1::AddSpanPortResponse spr;
    ASSERT_TRUE(agent.AddSpanPort(sp, &spr).ok());
    v1::AddRuleRequest ar;
    ar.set_bridge("veb0");
    ar.set_port("eth2");
    ar.mutable_rule()->set_action(v1::RULE_ACTION_BLOCK);
    ar.mutable_rule()->set_direction(v1::RULE_DIRECTION_IN);
    ar.mutable_rule()->set_src("02:00:00:00:00:09");
    v1::AddRuleResponse arr;
    ASSERT_TRUE(agent.AddRule(ar, &arr).ok());
    v1::AddStaticAddressRequest st;
    st.set_bridge("veb0");
    st.set_port("eth2");
    st.set_mac("02:00:00:00:00:01");
    v1::AddStaticAddressResponse str;
    ASSERT_TRUE(agent.AddStaticAddress(st, &str).ok());
    v1::CreateVportRequest cv;
    cv.set_bridge("veb0");
    cv.set_kind(v1::VPORT_KIND_POD);
    cv.mutable_pod()->set_netns(netns);
    cv.mutable_pod()->mutable_attachment()->set_container_id("c1");
    cv.mutable_pod()->mutable_attachment()->set_ifname("eth0");
    v1::CreateVportResponse cvr;
    ASSERT_TRUE(agent.CreateVport(cv, &cvr).ok());
    pod_vport = cvr.vport().name();
  }
  // While the agent is down: eth2, the span port eth3 and the pod's veth go.
  for (const std::string& n : {std::string("eth2"), std::string("eth3"), pod_vport}) {
    opener.RemoveInterface(n);
  }
  auto saved = store.Load();
  ASSERT_TRUE(saved.ok());
  Agent agent(o);
  std::vector<std::string> problems;
  ASSERT_TRUE(agent.Apply(saved->config, &problems).ok());
  ASSERT_EQ(problems.size(), 3u);
  EXPECT_THAT(problems[0], HasSubstr("pending: port \"eth2\": add: no such interface"));
  // Nothing forgotten: in memory and in the file, the same configuration.
  EXPECT_EQ(agent.ExportConfig().DebugString(), saved->config.DebugString());
  auto after = store.Load();
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->config.DebugString(), saved->config.DebugString());

  v1::ListPortsRequest lp;
  lp.set_bridge("veb0");
  v1::ListPortsResponse lpr;
  ASSERT_TRUE(agent.ListPorts(lp, &lpr).ok());
  ASSERT_EQ(lpr.ports_size(), 3);  // eth1, eth2 (pending), the pod vport (pending)
  EXPECT_EQ(lpr.ports(0).name(), "eth1");
  EXPECT_FALSE(lpr.ports(0).pending());
  EXPECT_EQ(lpr.ports(1).name(), "eth2");
  EXPECT_TRUE(lpr.ports(1).pending());
  EXPECT_EQ(lpr.ports(1).pending_reason(), "port \"eth2\": add: no such interface");
  EXPECT_TRUE(lpr.ports(1).blocknonip());
  EXPECT_EQ(lpr.ports(1).rule_count(), 1u);
  v1::ListSpanPortsRequest ls;
  ls.set_bridge("veb0");
  v1::ListSpanPortsResponse lsr;
  ASSERT_TRUE(agent.ListSpanPorts(ls, &lsr).ok());
  ASSERT_EQ(lsr.span_ports_size(), 1);
  EXPECT_TRUE(lsr.span_ports(0).pending());
  v1::ListVportsResponse lvr;
  ASSERT_TRUE(agent.ListVports(v1::ListVportsRequest(), &lvr).ok());
  ASSERT_EQ(lvr.vports_size(), 1);
  EXPECT_TRUE(lvr.vports(0).pending());
  EXPECT_EQ(lvr.vports(0).pod().attachment().container_id(), "c1");

  // A pending name is taken.
  v1::AddPortRequest again;
  again.set_bridge("veb0");
  again.set_name("eth2");
  v1::AddPortResponse apr;
  absl::Status taken = agent.AddPort(again, &apr);
  EXPECT_EQ(taken.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(taken.message(), HasSubstr("already a pending port of bridge \"veb0\""));

  // eth2 comes back: attached (the link monitor's report), with its rule and
  // static address; the configuration is unchanged.
  opener.AddInterface("eth2");
  agent.OnLinkChange("eth2", true);
  v1::GetPortRequest gp;
  gp.set_bridge("veb0");
  gp.set_name("eth2");
  v1::GetPortResponse gpr;
  ASSERT_TRUE(agent.GetPort(gp, &gpr).ok());
  EXPECT_FALSE(gpr.port().pending());
  EXPECT_EQ(gpr.port().rule_count(), 1u);
  EXPECT_EQ(gpr.port().address_count(), 1u);  // the static entry
  EXPECT_TRUE(gpr.port().blocknonip());
  EXPECT_EQ(agent.ExportConfig().DebugString(), saved->config.DebugString());

  // The pod's vport goes only when asked (the runtime's CNI DEL).
  v1::DeleteVportRequest dv;
  dv.mutable_attachment()->set_container_id("c1");
  dv.mutable_attachment()->set_ifname("eth0");
  v1::DeleteVportResponse dvr;
  ASSERT_TRUE(agent.DeleteVport(dv, &dvr).ok());
  EXPECT_TRUE(dvr.deleted());
  EXPECT_EQ(agent.ExportConfig().vports_size(), 0);
  auto final_state = store.Load();
  ASSERT_TRUE(final_state.ok());
  EXPECT_EQ(final_state->config.vports_size(), 0);
  EXPECT_EQ(final_state->config.span_ports_size(), 1);  // still pending
  v1::DeleteSpanPortRequest ds;
  ds.set_bridge("veb0");
  ds.set_name("eth3");
  v1::DeleteSpanPortResponse dsr;
  ASSERT_TRUE(agent.DeleteSpanPort(ds, &dsr).ok());
  EXPECT_EQ(agent.ExportConfig().span_ports_size(), 0);
}

}  // namespace
}  // namespace veb::server
