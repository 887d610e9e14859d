#include "dataplane/rule.h"

#include "absl/strings/str_cat.h"

namespace veb {

bool Rule::operator==(const Rule& o) const {
  return action == o.action && directions == o.directions && src == o.src &&
         dst == o.dst && vid == o.vid && arp == o.arp && arp_op == o.arp_op &&
         arp_sha == o.arp_sha && arp_spa == o.arp_spa && arp_tha == o.arp_tha &&
         arp_tpa == o.arp_tpa;
}

absl::Status ValidateRule(const Rule& rule) {
  if (rule.directions < kRuleIn || rule.directions > kRuleInOut) {
    return absl::InvalidArgumentError("direction must be in, out or in/out");
  }
  if (rule.vid && *rule.vid > kVidMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("vid ", *rule.vid, " out of range 0..4095"));
  }
  const bool arp_fields = rule.arp_op != 0 || rule.arp_sha || rule.arp_spa ||
                          rule.arp_tha || rule.arp_tpa;
  if (rule.arp == ArpKind::kNone && arp_fields) {
    return absl::InvalidArgumentError(
        "arp fields (op, sha, spa, tha, tpa) need an arp or rarp match");
  }
  if (rule.arp == ArpKind::kArp && rule.arp_op != 0 &&
      rule.arp_op != kArpOpRequest && rule.arp_op != kArpOpReply) {
    return absl::InvalidArgumentError(
        absl::StrCat("arp opcode ", rule.arp_op, " is not request (1) or reply (2)"));
  }
  if (rule.arp == ArpKind::kRarp && rule.arp_op != 0 &&
      rule.arp_op != kRarpOpRequest && rule.arp_op != kRarpOpReply) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rarp opcode ", rule.arp_op, " is not request (3) or reply (4)"));
  }
  return absl::OkStatus();
}

bool RuleMatches(const Rule& rule, const ParsedFrame& frame,
                 const uint8_t* data, uint32_t len) {
  if (rule.src && *rule.src != frame.src) return false;
  if (rule.dst && *rule.dst != frame.dst) return false;
  if (rule.vid && *rule.vid != frame.vid) return false;
  if (rule.arp == ArpKind::kNone) return true;
  ArpFields arp;
  if (!ParseArp(data, len, frame, &arp)) return false;
  if (rule.arp == ArpKind::kArp) {
    if (arp.op != kArpOpRequest && arp.op != kArpOpReply) return false;
  } else {
    if (arp.op != kRarpOpRequest && arp.op != kRarpOpReply) return false;
  }
  if (rule.arp_op != 0 && rule.arp_op != arp.op) return false;
  if (rule.arp_sha && *rule.arp_sha != arp.sha) return false;
  if (rule.arp_spa && *rule.arp_spa != arp.spa) return false;
  if (rule.arp_tha && *rule.arp_tha != arp.tha) return false;
  if (rule.arp_tpa && *rule.arp_tpa != arp.tpa) return false;
  return true;
}

bool RulesBlock(const std::vector<Rule>& rules, const ParsedFrame& frame,
                const uint8_t* data, uint32_t len) {
  for (const Rule& rule : rules) {
    if (RuleMatches(rule, frame, data, len)) {
      return rule.action == RuleAction::kBlock;
    }
  }
  return false;
}

}  // namespace veb
