-- status-commands.lua: see how Tandem is doing, the recent calls, and
-- switch rules (each showing whether it is on), from your own XMPP client.
--
-- Serves ad-hoc commands (XEP-0050) on your account's sidecar
-- resource; in Gajim or Dino: the sidecar's contact menu, "Execute
-- command". Only your own account can list or run them (the XMPP plugin
-- refuses everyone else with `forbidden`).
--
--   Status                  the phone (registration, calls now, the last
--                           5 calls: in or out, with whom, how long or
--                           missed, when), the XMPP calls in progress in
--                           your own clients (XEP-0353), Tandem's version and uptime, its plugins
--                           (running or failed), its rules (on or off) and
--                           the events dropped for slow subscribers
--   Recent calls            the calls now and the last 20 (in, out or
--                           missed, with whom, when, how long)
--   Rules                   a switch per rule, showing whether it is on
--                           (not sip-chat and this rule, which serve it)
--   Show 'On the phone' to contacts
--                           the switch of `presence_rule` alone
--   File transfers          files coming in or going out: who, what, how
--                           far, and the id to cancel one by
--   Cancel a file transfer  stops one (or turns an offer down), by its id
--                           (these two are listed only when the
--                           file-transfer plugin runs)
--
-- These were built into the XMPP plugin; they are a rule so that the
-- plugin knows no rule's name and nothing of the host's status.
--
-- Configuration, [scripts.status-commands] in tandem.toml:
--   enabled       = true            -- false: the commands answer that the rule is off
--   presence_rule = "on-the-phone"  -- the rule the second switch is for
--
-- Commands provided: status.show, status.calls, status.rules, status.rules_form,
--                    status.presence_form, status.transfers, status.cancel_transfer
-- Events:            xmpp.call.started, xmpp.call.ended (XMPP calls now; the
--                    recent calls are the SIP plugin's, sip.calls)
-- Commands used:     xmpp.register_adhoc, host.status, host.set_rule, sip.status, sip.calls,
--                    file_transfer.list, file_transfer.cancel

local cfg = tandem.settings { presence_rule = "on-the-phone" }
local presence_rule = cfg.presence_rule
if type(presence_rule) ~= "string" or presence_rule == "" then
  error("[scripts.status-commands] presence_rule must be a rule's name")
end

-- The shipped rules as a person knows them: what each one does while it
-- is on. A rule not listed is shown by its file name.
local PLAIN = {
  ["on-the-phone"] = "Show 'On the phone' to contacts",
  ["notify-calls"] = "Tell me about calls",
  ["call-control"] = "Answer, reject and place calls from my client",
  ["auto-answer"] = "Answer trusted callers by itself",
  ["busy"] = "One call at a time (busy for a second caller)",
  ["reject-when-dnd"] = "Refuse calls while I am on Do Not Disturb",
  ["call-invites"] = "Call invites with my contacts",
  ["accept-files"] = "Ask me about files sent to me",
  ["phone-presence"] = "Show the phone on the phone contact",
  ["preauth-links"] = "Trade XMPP addresses with SIP peers",
  ["publish-reach"] = "Tell contacts where to call me",
  ["share-xmpp-address"] = "Tell SIP peers my XMPP address",
  ["sip-chat"] = "SIP messages and commands in my chat",
  ["status-commands"] = "These commands",
}
-- Never switched from here: they serve the switch itself (the chat words
-- and these commands); `tandem ctl rules` still can.
local KEEP_ON = { ["sip-chat"] = true, ["status-commands"] = true }

local function plain(name)
  return PLAIN[name] or name
end

-- A list of `host.status` items as "name (state), name (state)".
local function list(items, key, state, words)
  local parts = {}
  for _, item in ipairs(type(items) == "table" and items or {}) do
    local name = item[key]
    name = type(name) == "string" and (words or tostring)(name) or "?"
    parts[#parts + 1] = name .. " (" .. state(item) .. ")"
  end
  return table.concat(parts, ", ")
end

-- `host.status` in a few lines for a chat window.
local function status_text(status)
  local dropped = 0
  for _, subscriber in ipairs(type(status.subscribers) == "table" and status.subscribers or {}) do
    local d = subscriber.dropped
    if math.type(d) == "integer" and d >= 0 then dropped = dropped + d end
  end
  local uptime = status.uptime_s
  if type(uptime) ~= "number" then uptime = 0 end
  local text = string.format(
    "Tandem %s, up %s\nPlugins: %s\nRules: %s",
    type(status.version) == "string" and status.version or "?",
    tandem.duration(uptime),
    list(status.plugins, "id", function(p) return p.failed == true and "failed" or "running" end),
    list(status.rules, "name", function(r) return r.enabled == true and "on" or "off" end, plain)
  )
  -- A counter that means something only when it is not zero.
  if dropped > 0 then
    text = text .. "\n" .. string.format(
      "Tandem was too busy to pass on %d event%s to a rule or plugin (the log says which).",
      dropped, dropped == 1 and "" or "s")
  end
  return text
end

-- What each part of Tandem is, for "… is not running" (no internal names
-- reach the user; the log keeps the command's own name).
local PARTS = {
  host = "Tandem",
  sip = "the phone (the SIP plugin)",
  xmpp = "the XMPP connection",
  file_transfer = "file transfer (the file-transfer plugin)",
}

-- Runs a command; its answer, or nil and why it failed in plain words.
local function call(command, args)
  local answer, err = tandem.try_call(command, args)
  if answer then return answer end
  local message = tostring(type(err) == "table" and err.message or err)
  tandem.log.info(command .. " failed: " .. message)
  local kind = type(err) == "table" and err.kind or nil
  local part = PARTS[command:match("^([%w_]+)%.") or ""] or "that part of Tandem"
  if kind == "unknown_command" then return nil, part .. " is not running here" end
  if kind == "timeout" or kind == "plugin_failed" then
    return nil, part .. " did not answer (" .. message .. ")"
  end
  return nil, message
end

-- A call now in words: "in a call with Bob <sip:bob@…> (3 min 5 s)".
local function call_now(c)
  local peer = tandem.party(type(c.peer) == "string" and c.peer or "?", c.display_name)
  if c.state == "ringing" then return "ringing: " .. peer end
  if c.state == "calling" then return "calling " .. peer end
  return "in a call with " .. peer .. " (" .. tandem.duration(c.duration)
    .. (c.state == "held" and ", on hold" or "") .. ")"
end

local function calls_now_text(calls)
  local parts = {}
  for _, c in ipairs(type(calls) == "table" and calls or {}) do parts[#parts + 1] = call_now(c) end
  return "Calls: " .. (#parts > 0 and table.concat(parts, "; ") or "none")
end

-- The phone in a line or two: registration (or where it listens) and each
-- call, from `sip.status`; nothing when the SIP plugin is not there.
local function phone_text()
  local sip = tandem.try_call("sip.status", {})
  if type(sip) ~= "table" or type(sip.registration) ~= "string" then return nil end
  local reg = sip.registration
  local line
  if reg == "none" then
    local where = type(sip.listening) == "table" and sip.listening[1] or nil
    line = "Phone: no registrar" .. (where and ("; calls reach you at " .. tostring(where)) or "")
  else
    line = "Phone: " .. tostring(reg)
  end
  if type(sip.nat) == "string" then line = line .. "; " .. sip.nat end
  return line .. "\n" .. calls_now_text(sip.calls)
end

-- When a call began, for a person: "at 11:18" today, else "on 14 Nov at 22:13".
local function when(started)
  if type(started) ~= "number" or started <= 0 then return "at an unknown time" end
  if os.date("%Y-%m-%d", started) == os.date("%Y-%m-%d") then
    return "at " .. os.date("%H:%M", started)
  end
  return "on " .. os.date("%d %b at %H:%M", started):gsub("^0", "")
end

-- One past call from `sip.calls` in words: "from Bob <sip:…>, 42 s, at 11:18".
local function past(c)
  local incoming = c.direction ~= "outgoing"
  local who = (incoming and "from " or "to ") .. tandem.party(tostring(c.peer), c.display_name)
  local what
  if type(c.duration) == "number" and c.duration > 0 then
    what = tandem.duration(c.duration)
  elseif incoming and (c.reason == "missed" or c.reason == "cancelled") then
    what = "missed"
  elseif c.reason == "rejected" then
    what = "rejected" .. (c.code and (" (" .. tostring(c.code) .. ")") or "")
  else
    what = "not answered" .. (c.code and (" (" .. tostring(c.code) .. ")") or "")
  end
  return who .. ", " .. what .. ", " .. when(c.started)
end

-- The last `most` calls that ended (the SIP plugin keeps 20), newest first.
local function recent_text(recent, most)
  if type(recent) ~= "table" or #recent == 0 then return "Recent calls: none yet" end
  local lines = { "Recent calls, newest first:" }
  for i = 1, math.min(#recent, most) do lines[#lines + 1] = "  " .. past(recent[i]) end
  return table.concat(lines, "\n")
end

-- XMPP calls in progress in the user's own clients (XEP-0353, as the
-- XMPP plugin follows them), by Jingle session: { peer, dir, device }.
-- The plugin keeps 32 at most and ends each one; so many are kept here.
local XMPP_CALLS = 32
tandem.state.xmpp_calls = tandem.state.xmpp_calls or {}
tandem.state.xmpp_order = tandem.state.xmpp_order or {}

tandem.on("xmpp.call.started", function(ev)
  local session = type(ev.session) == "string" and ev.session or "?"
  local calls, order = tandem.state.xmpp_calls, tandem.state.xmpp_order
  if not calls[session] then
    if #order >= XMPP_CALLS then return end
    order[#order + 1] = session
  end
  calls[session] = {
    peer = type(ev.peer) == "string" and ev.peer or "?",
    dir = ev.direction,
    device = type(ev.device) == "string" and ev.device or nil,
  }
end)

tandem.on("xmpp.call.ended", function(ev)
  local session = type(ev.session) == "string" and ev.session or "?"
  if not tandem.state.xmpp_calls[session] then return end
  tandem.state.xmpp_calls[session] = nil
  local order = tandem.state.xmpp_order
  for i = #order, 1, -1 do
    if order[i] == session then table.remove(order, i) end
  end
end)

-- "XMPP calls: with bob@example.org (incoming, on alice@example.org/phone)",
-- oldest first; nil when there is none.
local function xmpp_calls_text()
  local parts = {}
  for _, session in ipairs(tandem.state.xmpp_order) do
    local c = tandem.state.xmpp_calls[session]
    if c then
      local how = c.dir == "outgoing" and "you called" or "incoming"
      if c.device then how = how .. ", on " .. c.device end
      parts[#parts + 1] = "with " .. c.peer .. " (" .. how .. ")"
    end
  end
  if #parts == 0 then return nil end
  return "XMPP calls: " .. table.concat(parts, "; ")
end

tandem.provide("status.show", function()
  local status, err = call("host.status", {})
  if not status then return nil, err end
  local text = status_text(status)
  local xmpp = xmpp_calls_text()
  if xmpp then text = xmpp .. "\n" .. text end
  local phone = phone_text()
  if phone then
    local list = tandem.try_call("sip.calls", {})
    text = phone .. "\n" .. recent_text(type(list) == "table" and list.recent, 5) .. "\n" .. text
  end
  return { text = text }
end)

-- The calls now and the last 20 that ended, from the SIP plugin's list
-- (the same one `tandem ctl calls` prints).
tandem.provide("status.calls", function()
  local list, err = tandem.try_call("sip.calls", {})
  if not list and err.kind == "unknown_command" then
    return nil, "there is no phone: the SIP plugin is not running"
  elseif not list then
    return nil, "the phone did not answer (" .. tostring(err.message) .. ")"
  end
  return { text = calls_now_text(list.now) .. "\n" .. recent_text(list.recent, 20) }
end)

-- The rules that may be switched from here, in host.status order:
-- {name, on}; or nil and why.
local function switchable()
  local status, err = call("host.status", {})
  if not status then return nil, err end
  local rules = {}
  for _, rule in ipairs(type(status.rules) == "table" and status.rules or {}) do
    if type(rule.name) == "string" and not KEEP_ON[rule.name] then
      rules[#rules + 1] = { name = rule.name, on = rule.enabled == true }
    end
  end
  return rules
end

-- A submitted switch: XEP-0004 booleans are 1/true or 0/false.
local function truth(value)
  if value == "1" or value == "true" then return true end
  if value == "0" or value == "false" then return false end
  return nil
end

-- Each rule's state and how to switch it, for the chat word `rules`.
local function rules_text(rules)
  if #rules == 0 then return "No rules can be switched here." end
  local lines = { "Rules:" }
  for _, r in ipairs(rules) do
    local now, other = r.on and "on" or "off", r.on and "off" or "on"
    lines[#lines + 1] = "  " .. plain(r.name) .. ": " .. now .. " (say rules " .. other .. " "
      .. r.name .. " to turn it " .. other .. ")"
  end
  return table.concat(lines, "\n")
end

-- Sets the rules `wanted` ({name = true|false}) that differ from `rules`;
-- the changes in words, or nil and why.
local function switch(rules, wanted)
  local changed = {}
  for _, r in ipairs(rules) do
    local want = wanted[r.name]
    if want ~= nil and want ~= r.on then
      local _, failed = call("host.set_rule", { name = r.name, enabled = want })
      if failed then return nil, failed end
      r.on = want
      changed[#changed + 1] = plain(r.name) .. ": now " .. (want and "on" or "off") .. "."
    end
  end
  if #changed == 0 then return "Nothing changed." end
  return table.concat(changed, "\n")
end

-- The form: a switch per rule, showing its state now.
local function form(rules)
  local fields = {}
  for _, r in ipairs(rules) do
    fields[#fields + 1] = { var = r.name, label = plain(r.name), type = "boolean", value = r.on and "1" or "0" }
  end
  return { fields = fields }
end

tandem.provide("status.rules_form", function()
  local rules, err = switchable()
  if not rules then return nil, err end
  return form(rules)
end)

-- "Rules" (a form of switches), and the chat word: `rules` alone lists
-- them with their state; `rules on NAME` / `rules off NAME` switches one.
tandem.provide("status.rules", function(args)
  local rules, err = switchable()
  if not rules then return nil, err end
  local wanted = {}
  if type(args.rule) == "string" then
    local known = false
    for _, r in ipairs(rules) do known = known or r.name == args.rule end
    if not known then return nil, "there is no rule " .. args.rule .. " to switch here" end
    wanted[args.rule] = args.on == true
  elseif type(args.fields) == "table" and next(args.fields) then
    for name, value in pairs(args.fields) do wanted[name] = truth(value) end
  else
    return { text = rules_text(rules) }
  end
  local said, failed = switch(rules, wanted)
  if not said then return nil, failed end
  return { text = said }
end)

-- "Show 'On the phone' to contacts": the presence rule's own switch.
tandem.provide("status.presence_form", function()
  local rules, err = switchable()
  if not rules then return nil, err end
  for _, r in ipairs(rules) do
    if r.name == presence_rule then return form({ r }) end
  end
  return nil, "the rule " .. presence_rule .. " is not loaded"
end)

-- "2.1 MB", "512 bytes": sizes for a person.
local function size_text(n)
  if type(n) ~= "number" then return "?" end
  if n < 1000 then return string.format("%d bytes", n) end
  for _, unit in ipairs({ "kB", "MB", "GB" }) do
    n = n / 1000
    if n < 1000 or unit == "GB" then return string.format("%.1f %s", n, unit) end
  end
end

-- The file-transfer plugin's list, a line each: "k3x9a holiday.jpg from
-- sip:bob@x: 1.2 MB of 2.1 MB (57 %), 350 kB/s, downloading"; a file
-- being offered to several peers is a line per peer still to answer.
tandem.provide("status.transfers", function()
  local list, err = call("file_transfer.list", {})
  if not list then return nil, err end
  local transfers = type(list.transfers) == "table" and list.transfers or {}
  if #transfers == 0 then return { text = "No file transfers." } end
  local lines = { "File transfers (cancel ID stops one):" }
  for _, t in ipairs(transfers) do
    local way = t.direction == "out" and " to " or " from "
    local done = size_text(t.size)
    if t.state == "downloading" or t.state == "uploading" then
      done = size_text(t.received) .. " of " .. done
      if type(t.size) == "number" and t.size > 0 then
        done = done .. string.format(" (%d %%)", math.floor(t.received * 100 / t.size))
      end
      if math.type(t.rate) == "integer" and t.rate > 0 then done = done .. ", " .. size_text(t.rate) .. "/s" end
    end
    lines[#lines + 1] = "  " .. tostring(t.id) .. " " .. tostring(t.name) .. way .. tostring(t.peer)
      .. ": " .. done .. ", " .. tostring(t.state)
  end
  return { text = table.concat(lines, "\n") }
end)

tandem.provide("status.cancel_transfer", function(args)
  local id = args.id or (args.fields and args.fields.id)
  if type(id) ~= "string" or id:match("^%s*$") then
    return nil, "Cancel which transfer? Give its id (see File transfers)"
  end
  local t, err = call("file_transfer.cancel", { id = tandem.trim(id) })
  if not t then return nil, err end
  local way = t.direction == "out" and " to " or " from "
  return { text = "Stopped " .. tostring(t.name) .. way .. tostring(t.peer) .. "." }
end)

local COMMANDS = {
  { node = "status", name = "Status", handler = "status.show" },
  { node = "calls", name = "Recent calls", handler = "status.calls" },
  { node = "rules", name = "Rules", handler = "status.rules", form = "status.rules_form" },
  { node = "presence-rules", name = plain(presence_rule), handler = "status.rules", form = "status.presence_form" },
  -- Listed only with the file-transfer plugin running.
  { node = "transfers", name = "File transfers", handler = "status.transfers", plugin = "file-transfer" },
  { node = "cancel-transfer", name = "Cancel a file transfer", handler = "status.cancel_transfer",
    fields = { { var = "id", label = "The transfer's id (from File transfers)" } }, plugin = "file-transfer" },
}

tandem.adhoc(COMMANDS)
