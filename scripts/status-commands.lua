-- status-commands.lua: see how Tandem is doing, and switch the presence
-- rule, from your own XMPP client.
--
-- Serves two ad-hoc commands (XEP-0050) on your account's sidecar
-- resource; in Gajim or Dino: the sidecar's contact menu, "Execute
-- command". Only your own account can list or run them (the XMPP plugin
-- refuses everyone else with `forbidden`).
--
--   Status                  the phone (registration, calls now, the last
--                           20 calls: in or out, with whom, how long or
--                           missed, when), the XMPP calls in progress in
--                           your own clients (XEP-0353), Tandem's version and uptime, its plugins
--                           (running or failed), its rules (on or off) and
--                           the events dropped for slow subscribers
--   Presence rules on/off   switches `presence_rule` on or off
--   File transfers          files coming in or going out: who, what, how
--                           far, and the id to cancel one by
--   Cancel a file transfer  stops one (or turns an offer down), by its id
--
-- These were built into the XMPP plugin; they are a rule so that the
-- plugin knows no rule's name and nothing of the host's status.
--
-- Configuration, [scripts.status-commands] in tandem.toml:
--   enabled       = true            -- false: the commands answer that the rule is off
--   presence_rule = "on-the-phone"  -- the rule "Presence rules on/off" switches
--
-- Commands provided: status.show, status.presence_rules, status.transfers,
--                    status.cancel_transfer
-- Events:            sip.call.incoming, sip.call.ended (for recent calls),
--                    xmpp.call.started, xmpp.call.ended (XMPP calls now)
-- Commands used:     xmpp.register_adhoc, host.status, host.set_rule, sip.status,
--                    file_transfer.list, file_transfer.cancel

local cfg = tandem.settings { presence_rule = "on-the-phone" }
local presence_rule = cfg.presence_rule
if type(presence_rule) ~= "string" or presence_rule == "" then
  error("[scripts.status-commands] presence_rule must be a rule's name")
end

-- A list of `host.status` items as "name (state), name (state)".
local function list(items, key, state)
  local parts = {}
  for _, item in ipairs(type(items) == "table" and items or {}) do
    local name = item[key]
    parts[#parts + 1] = (type(name) == "string" and name or "?") .. " (" .. state(item) .. ")"
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
  return string.format(
    "Tandem %s, up %s\nPlugins: %s\nRules: %s\nDropped events: %d",
    type(status.version) == "string" and status.version or "?",
    tandem.duration(uptime),
    list(status.plugins, "id", function(p) return p.failed == true and "failed" or "running" end),
    list(status.rules, "name", function(r) return r.enabled == true and "on" or "off" end),
    dropped
  )
end

-- Runs a command; its answer, or nil and why it failed.
local function call(command, args)
  local answer, err = tandem.try_call(command, args)
  if not answer then
    return nil, command .. ": " .. tostring(err.message or err)
  end
  return answer
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
  local calls = {}
  for _, c in ipairs(type(sip.calls) == "table" and sip.calls or {}) do
    local peer = type(c.peer) == "string" and c.peer or "?"
    if c.state == "ringing" then
      calls[#calls + 1] = "ringing: " .. peer
    elseif c.state == "calling" then
      calls[#calls + 1] = "calling " .. peer
    else
      calls[#calls + 1] = "in a call with " .. peer .. " (" .. tandem.duration(c.duration)
        .. (c.state == "held" and ", on hold" or "") .. ")"
    end
  end
  if #calls > 0 then
    line = line .. "\nCalls: " .. table.concat(calls, "; ")
  else
    line = line .. "\nCalls: none"
  end
  return line
end

-- The last calls, newest last: {dir, peer, reason, duration, code, at}.
local RECENT = 20
tandem.state.recent = tandem.state.recent or {}
-- Call ids that came in, each with the caller's display name ("" without
-- one), so the list names people as the call notes do ("Bob <sip:…>").
tandem.state.incoming = tandem.state.incoming or {}

tandem.on("sip.call.incoming", function(ev)
  tandem.state.incoming[ev.call or "?"] = type(ev.display_name) == "string" and ev.display_name or ""
end)

tandem.on("sip.call.ended", function(ev)
  local call = ev.call or "?"
  local recent = tandem.state.recent
  local name = tandem.state.incoming[call]
  local peer = type(ev.peer) == "string" and ev.peer or "?"
  recent[#recent + 1] = {
    dir = name and "in" or "out",
    peer = tandem.party(peer, name),
    reason = ev.reason, duration = ev.duration, code = ev.code, at = os.time(),
  }
  tandem.state.incoming[call] = nil
  while #recent > RECENT do table.remove(recent, 1) end
end)

-- "just now", or how long ago, for a person.
local function ago(at)
  local d = os.time() - (type(at) == "number" and at or os.time())
  if d < 60 then return "just now" end
  return tandem.duration(d) .. " ago"
end

-- One past call in words: "from Bob, 42 s, 5 min 3 s ago".
local function past(c)
  local who = (c.dir == "in" and "from " or "to ") .. c.peer
  local talked = type(c.duration) == "number" and c.duration > 0
  local what
  if talked then
    what = tandem.duration(c.duration)
  elseif c.dir == "in" and (c.reason == "missed" or c.reason == "cancelled") then
    what = "missed"
  elseif c.reason == "rejected" then
    what = "rejected" .. (c.code and (" (" .. tostring(c.code) .. ")") or "")
  else
    what = "not answered" .. (c.code and (" (" .. tostring(c.code) .. ")") or "")
  end
  return who .. ", " .. what .. ", " .. ago(c.at)
end

local function recent_text()
  local recent = tandem.state.recent
  if #recent == 0 then return "Recent calls: none yet" end
  local lines = { "Recent calls, newest first:" }
  for i = #recent, 1, -1 do lines[#lines + 1] = "  " .. past(recent[i]) end
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
  if phone then text = phone .. "\n" .. recent_text() .. "\n" .. text end
  return { text = text }
end)

tandem.provide("status.presence_rules", function()
  local status, err = call("host.status", {})
  if not status then return nil, err end
  local on
  for _, rule in ipairs(type(status.rules) == "table" and status.rules or {}) do
    if rule.name == presence_rule then on = rule.enabled == true end
  end
  if on == nil then
    return nil, "the rule " .. presence_rule .. " is not loaded"
  end
  local _, failed = call("host.set_rule", { name = presence_rule, enabled = not on })
  if failed then return nil, failed end
  return { text = "Presence rules are now " .. (on and "off" or "on") .. "." }
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
-- sip:bob@x: 1.2 MB of 2.1 MB (57 %), downloading".
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
  { node = "presence-rules", name = "Presence rules on/off", handler = "status.presence_rules" },
  { node = "transfers", name = "File transfers", handler = "status.transfers" },
  { node = "cancel-transfer", name = "Cancel a file transfer", handler = "status.cancel_transfer",
    fields = { { var = "id", label = "The transfer's id (from File transfers)" } } },
}

tandem.adhoc(COMMANDS)
