// Per-port L2 rules (S5): an ordered list per direction; the first matching rule
// decides, no match passes. Like veb's ifbrlreq, plus an optional VID match.
// Thread-safety: Rule values are immutable once published in a snapshot.
#ifndef VEB_DATAPLANE_RULE_H_
#define VEB_DATAPLANE_RULE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "dataplane/frame.h"
#include "dataplane/mac_address.h"

namespace veb {

enum class RuleAction : uint8_t { kBlock, kPass };
enum RuleDirection : uint8_t { kRuleIn = 1, kRuleOut = 2, kRuleInOut = 3 };
enum class ArpKind : uint8_t { kNone, kArp, kRarp };

inline constexpr uint16_t kArpOpRequest = 1;
inline constexpr uint16_t kArpOpReply = 2;
inline constexpr uint16_t kRarpOpRequest = 3;
inline constexpr uint16_t kRarpOpReply = 4;

// Bounded state: a port holds at most this many rules.
inline constexpr size_t kMaxRulesPerPort = 1024;

struct Rule {
  RuleAction action = RuleAction::kBlock;
  uint8_t directions = kRuleIn;   // kRuleIn, kRuleOut or kRuleInOut
  std::optional<Mac> src;
  std::optional<Mac> dst;
  std::optional<uint16_t> vid;    // 0..4095: the frame's VLAN (S3)
  ArpKind arp = ArpKind::kNone;   // ARP: opcodes 1/2; RARP: opcodes 3/4
  uint16_t arp_op = 0;            // 0 = any opcode of the kind
  std::optional<Mac> arp_sha;
  std::optional<uint32_t> arp_spa;  // IPv4, host order
  std::optional<Mac> arp_tha;
  std::optional<uint32_t> arp_tpa;

  bool operator==(const Rule& o) const;
};

// Checks a rule's own consistency; the message names the offending field.
absl::Status ValidateRule(const Rule& rule);

// True if `rule` matches the frame (direction is the caller's business).
bool RuleMatches(const Rule& rule, const ParsedFrame& frame,
                 const uint8_t* data, uint32_t len);

// First-match evaluation of one direction's list: true = block.
bool RulesBlock(const std::vector<Rule>& rules, const ParsedFrame& frame,
                const uint8_t* data, uint32_t len);

}  // namespace veb

#endif  // VEB_DATAPLANE_RULE_H_
