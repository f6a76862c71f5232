-- phone-presence.lua: the bridge contact's presence shows the phone.
--
-- With a bridge contact ([plugins.xmpp] bridge_jid), your roster shows the
-- phone at a glance through that contact's presence:
--   available "Ready for calls"    -- registered (or no registrar: listening)
--   away      "On the phone"       -- during a call
--   xa        "Not registered: …"  -- registration failed, with the reason
-- Without a bridge contact this rule does nothing (it says so once).
--
-- Configuration, [scripts.phone-presence] in tandem.toml:
--   enabled = true
--   ready   = "Ready for calls"
--   busy    = "On the phone"
--
-- Events:   host.ready, sip.registration, sip.call.answered, sip.call.ended
-- Commands: sip.status, xmpp.set_bridge_presence

local cfg = tandem.settings { ready = "Ready for calls", busy = "On the phone" }

local state = tandem.state
state.calls = state.calls or {}
-- "ready" or "failed" (nil: not known yet), and the failure's reason.
state.registration = state.registration

local function calls_up()
  return next(state.calls) ~= nil
end

-- The presence that says all of the above, most pressing first.
local function wanted()
  if calls_up() then return { show = "away", status = cfg.busy } end
  if state.registration == "failed" then
    return { show = "xa", status = "Not registered: " .. (state.reason or "the registrar did not accept it") }
  end
  if state.registration == "ready" then return { status = cfg.ready } end
  return nil
end

local function show()
  if state.no_bridge then return end
  local presence = wanted()
  if not presence then return end
  local ok, err = tandem.try_call("xmpp.set_bridge_presence", presence)
  if ok then return end
  if err and (err.kind == "rejected" or err.kind == "unknown_command") then
    state.no_bridge = true
    tandem.log.info("no bridge contact ([plugins.xmpp] bridge_jid): the phone's presence is not shown")
  else
    tandem.log.warn("could not show the phone's state: " .. tostring(err and err.message or err))
  end
end

tandem.on("host.ready", function()
  local status = tandem.try_call("sip.status", {})
  if type(status) == "table" and (status.registration == "none" or status.registration == "registered") then
    state.registration = "ready"
  end
  show()
end)

tandem.on("sip.registration", function(ev)
  if ev.state == "registered" then
    state.registration, state.reason = "ready", nil
  elseif ev.state == "failed" then
    state.registration, state.reason = "failed", ev.reason
  else
    return
  end
  show()
end)

tandem.on("sip.call.answered", function(ev)
  state.calls[ev.call or "?"] = true
  show()
end)

tandem.on("sip.call.ended", function(ev)
  state.calls[ev.call or "?"] = nil
  show()
end)
