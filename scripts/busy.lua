-- busy.lua: one call at a time, whichever side it is on.
--
-- While you are on a call in your XMPP client (Conversations, Dino, Gajim:
-- XEP-0353 calls, which Tandem sees as Carbons), an incoming SIP call is
-- refused with 486 Busy Here, or, if you prefer, left to ring while a
-- "call waiting" note tells you who it is. While a SIP call is up, a call
-- proposed to you in XMPP is declined as busy (a XEP-0353 reject with the
-- reason busy), which also stops your own clients ringing; the caller's
-- client can show the text below.
--
-- Off unless switched on. Configuration, [scripts.busy] in tandem.toml:
--   enabled        = true
--   sip_while_xmpp = "busy"          -- "busy": 486 Busy Here; "notify": a
--                                    -- call-waiting note only; "ignore"
--   xmpp_while_sip = "busy"          -- "busy": decline the XMPP call; "ignore"
--   text           = "On the phone"  -- what the XMPP caller may be shown
--   notify         = true            -- a note for each call refused
--
-- Events:   sip.call.incoming, sip.call.answered, sip.call.ended,
--           xmpp.call.proposed, xmpp.call.started, xmpp.call.ended, rule.switched
-- Commands: sip.reject, sip.status, xmpp.decline_call, xmpp.notify_user

local cfg = tandem.settings {
  sip_while_xmpp = "busy", xmpp_while_sip = "busy", text = "On the phone", notify = true,
}
local SIP_MODES = { busy = true, notify = true, ignore = true }
local XMPP_MODES = { busy = true, ignore = true }
if not SIP_MODES[cfg.sip_while_xmpp] then
  error("[scripts.busy] sip_while_xmpp must be busy, notify or ignore, not " .. tostring(cfg.sip_while_xmpp))
end
if not XMPP_MODES[cfg.xmpp_while_sip] then
  error("[scripts.busy] xmpp_while_sip must be busy or ignore, not " .. tostring(cfg.xmpp_while_sip))
end

-- Calls up on each side, kept across reloads: SIP by call id, XMPP by
-- Jingle session id, each with whom.
local state = tandem.state
state.sip = state.sip or {}
state.xmpp = state.xmpp or {}

local function first(calls)
  for _, peer in pairs(calls) do return peer end
  return nil
end

local function note(text)
  if cfg.notify then tandem.notify(text) end
end

tandem.on("sip.call.answered", function(ev) state.sip[ev.call or "?"] = ev.peer or "?" end)
tandem.on("sip.call.ended", function(ev) state.sip[ev.call or "?"] = nil end)
tandem.on("xmpp.call.started", function(ev) state.xmpp[ev.session or "?"] = ev.peer or "?" end)
tandem.on("xmpp.call.ended", function(ev) state.xmpp[ev.session or "?"] = nil end)

tandem.on("sip.call.incoming", function(ev)
  local with = first(state.xmpp)
  if not with or cfg.sip_while_xmpp == "ignore" then return end
  local caller = tandem.party(ev.peer or "an unknown caller", ev.display_name)
  if cfg.sip_while_xmpp == "notify" then
    tandem.notify("Call waiting: " .. caller .. " is calling your phone while you talk with " .. with .. ".")
    return
  end
  local ok, err = tandem.try_call("sip.reject", { call = ev.call, code = 486 })
  if not ok then
    tandem.log.warn("could not refuse call " .. tostring(ev.call) .. ": " .. tostring(err.message or err))
    return
  end
  note("Refused a call from " .. caller .. " (busy: you are on a call with " .. with .. ").")
end)

tandem.on("xmpp.call.proposed", function(ev)
  if ev.direction ~= "incoming" or cfg.xmpp_while_sip ~= "busy" then return end
  local with = first(state.sip)
  if not with then return end
  local ok, err = tandem.try_call("xmpp.decline_call", { session = ev.session, reason = "busy", text = cfg.text })
  if not ok then
    tandem.log.warn("could not decline the XMPP call from " .. tostring(ev.peer) .. ": " .. tostring(err.message or err))
    return
  end
  note("Declined an XMPP call from " .. tostring(ev.peer) .. " (busy: you are on a call with " .. with .. ").")
end)

-- Switched off: forget. Switched on: start from the SIP calls up now (the
-- XMPP ones are learnt as they start).
tandem.on("rule.switched", function(ev)
  state.sip, state.xmpp = {}, {}
  if not ev.enabled then return end
  local sip = tandem.try_call("sip.status", {})
  for _, call in ipairs(sip and sip.calls or {}) do
    if call.state == "up" or call.state == "held" then state.sip[call.call] = call.peer end
  end
end)

return { enabled = false }
