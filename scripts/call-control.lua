-- call-control.lua: answer, reject, place and hang up calls from your own
-- XMPP client.
--
-- Serves four ad-hoc commands (XEP-0050) on your account's sidecar
-- resource (and the bridge contact's). Gajim 1.7 reaches them through
-- Accounts > Discover Services at `<your JID or the bridge's>/tandem`,
-- then Commands > Command: its "Execute Command..." on a contact asks the
-- bare JID, which the server answers. The same commands are typed in the
-- chat (`answer`, `reject`, `call ...`, `hangup`). Only your own account
-- can list or run them (the XMPP plugin refuses everyone else with
-- `forbidden`).
--
--   Answer      answer the ringing call
--   Reject      reject the ringing call (with `code`)
--   Call        asks for a SIP URI, user@host, or a contact's JID and calls
--               it; for a JID, the SIP address the contact publishes
--               (XEP-0152 reachability, kept by the XMPP plugin), else a
--               sip: number in their vCard
--   Hang up     end the current call
--
-- Configuration, [scripts.call-control] in tandem.toml:
--   enabled = true       -- false: the commands answer that the rule is off
--   code    = 486        -- SIP status for Reject (486 Busy Here, 603 Decline)
--
-- Commands provided: calls.answer, calls.reject, calls.call, calls.hangup
-- Commands used:     xmpp.register_adhoc, xmpp.reach_of, sip.answer, sip.reject,
--                    sip.call, sip.hangup, sip.calls

local cfg = tandem.settings { code = 486 }
local code = cfg.code
if math.type(code) ~= "integer" or code < 400 or code > 699 then
  error("[scripts.call-control] code must be a SIP status from 400 to 699, not " .. tostring(code))
end

-- The ringing or current call's peer, for a note that says who, named as
-- the call notes name it ("Bob <sip:bob@example.org>").
tandem.state.peers = tandem.state.peers or {}
tandem.on("sip.call.incoming", function(ev)
  tandem.state.peers[ev.call] = tandem.party(ev.peer, ev.display_name)
end)
tandem.on("sip.call.answered", function(ev)
  tandem.state.peers[ev.call] = tandem.state.peers[ev.call] or ev.peer
end)
tandem.on("sip.call.ended", function(ev) tandem.state.peers[ev.call] = nil end)

-- What a SIP status means to the person who chose it.
local MEANING = { [486] = "busy", [480] = "not available", [603] = "declined" }

local function only_call()
  local id, peer = next(tandem.state.peers)
  if id and next(tandem.state.peers, id) == nil then return peer end
  return nil
end

-- Runs a SIP command and turns its outcome into the note you read.
local function run(command, args, done)
  local ok, err = tandem.try_call(command, args)
  if not ok then
    return nil, tostring(err.message or err)
  end
  return { text = done(ok) }
end

tandem.provide("calls.answer", function()
  local peer = only_call()
  return run("sip.answer", {}, function()
    return "Answered" .. (peer and (" " .. peer) or "") .. "."
  end)
end)

tandem.provide("calls.reject", function()
  local peer = only_call()
  return run("sip.reject", { code = code }, function()
    local why = MEANING[code] or ("SIP " .. code)
    return "Rejected the call" .. (peer and (" from " .. peer) or "") .. " (" .. why .. ")."
  end)
end)

-- How long the only call now has been up, in seconds; nil when there is
-- no such call (several, none, or one still ringing).
local function up_for()
  local list = tandem.try_call("sip.calls", {})
  local now = type(list) == "table" and list.now
  if type(now) ~= "table" or #now ~= 1 then return nil end
  local lasted = now[1].duration
  if math.type(lasted) == nil or lasted <= 0 then return nil end
  return lasted
end

tandem.provide("calls.hangup", function()
  local peer = only_call()
  local lasted = up_for()
  return run("sip.hangup", {}, function()
    return "Hung up" .. (peer and (" the call with " .. peer) or "")
      .. (lasted and (" after " .. tandem.duration(lasted)) or "") .. "."
  end)
end)

-- The SIP address a contact publishes (XEP-0152), when `to` is a JID
-- whose owner published one. A JID has no ":" (no scheme, no port), so
-- anything with one is a SIP URI or host:port and is called as it is.
local function reach_of(to)
  if to:find(":", 1, true) then return nil end
  local known = tandem.try_call("xmpp.reach_of", { jid = to })
  for _, address in ipairs(known and known.addresses or {}) do
    if address.uri:match("^sips?:") then return address.uri end
  end
  return nil
end

tandem.provide("calls.call", function(args)
  local to = args.fields and args.fields.uri
  if type(to) ~= "string" or to:match("^%s*$") then
    return nil, "Call whom? Give a SIP URI such as sip:bob@example.org, or a contact's JID"
  end
  to = to:match("^%s*(.-)%s*$")
  local reach = reach_of(to)
  -- `invite`: the XEP-0482 invite this call answers (call-invites.lua).
  return run("sip.call", { to = reach or to, invite = args.invite }, function(answer)
    local where = reach and (to .. " at " .. reach) or to
    return "Calling " .. where .. "."
  end)
end)

local COMMANDS = {
  { node = "answer", name = "Answer call", handler = "calls.answer" },
  { node = "reject", name = "Reject call", handler = "calls.reject" },
  { node = "call", name = "Call", handler = "calls.call",
    fields = { { var = "uri", label = "SIP URI, user@host or a contact's JID" } } },
  { node = "hangup", name = "Hang up", handler = "calls.hangup" },
}

tandem.adhoc(COMMANDS)
