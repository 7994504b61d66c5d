#!/usr/bin/env python3
"""The hook teams write today, kept minimal: read the event, deny two obvious things,
allow the rest. A real one does more; this is the cheapest honest Python hook."""

import json
import sys

event = json.load(sys.stdin)
tool_input = event.get("tool_input", {})
target = tool_input.get("file_path", "") + " " + tool_input.get("command", "")
if ".env" in target or "git push" in target:
    decision, reason = "deny", "blocked by the team's hook"
else:
    decision, reason = "allow", "allowed by the team's hook"
print(json.dumps({
    "hookSpecificOutput": {
        "hookEventName": "PreToolUse",
        "permissionDecision": decision,
        "permissionDecisionReason": reason,
    }
}))
