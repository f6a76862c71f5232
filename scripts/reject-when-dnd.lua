-- reject-when-dnd.lua: refuse incoming calls while you are on Do Not Disturb.
--
-- While any of your own XMPP clients (Gajim, Dino, Conversations, ...)
-- shows Do Not Disturb, an incoming call is rejected with 486 Busy Here,
-- and you get a short note about it. Presence set by Tandem itself during a
-- call does not count: only what your clients say.
--
-- Off unless switched on. Configuration, [scripts.reject-when-dnd]:
--   enabled = true       -- switch the rule on
--   code    = 486        -- SIP status to reject with (486 Busy Here, 603 Decline)
--   notify  = true       -- tell you about each rejected call
--
-- Events:   xmpp.own_presence, sip.call.incoming
-- Commands: sip.reject, xmpp.notify_user

local cfg = tandem.settings { code = 486, notify = true }
local code = cfg.code
if math.type(code) ~= "integer" or code < 400 or code > 699 then
  error("[scripts.reject-when-dnd] code must be a SIP status from 400 to 699, not " .. tostring(code))
end

-- The presence of each of your other resources, by full JID.
tandem.state.own = tandem.state.own or {}

tandem.on("xmpp.own_presence", function(ev)
  tandem.state.own[ev.jid] = ev.presence -- nil when that client went offline
end)

local function dnd_client()
  for jid, presence in pairs(tandem.state.own) do
    if presence and presence.show == "dnd" then return jid end
  end
  return nil
end

tandem.on("sip.call.incoming", function(ev)
  local client = dnd_client()
  if not client then return end
  tandem.log.info("rejecting call " .. ev.call .. " from " .. tostring(ev.peer) .. ": " .. client .. " is on Do Not Disturb")
  local ok, err = tandem.try_call("sip.reject", { call = ev.call, code = code })
  if not ok then
    tandem.log.warn("could not reject call " .. ev.call .. ": " .. tostring(err))
    return
  end
  if cfg.notify then
    tandem.try_call("xmpp.notify_user", {
      text = "Rejected a call from " .. tostring(ev.peer) .. " (you are on Do Not Disturb)",
    })
  end
end)

return { enabled = false }
